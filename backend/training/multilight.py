"""Train a model of the registry's multilight task on the multi-light engine.

Resumable by design: a session can stop at any moment, so the loop checkpoints on a timer and
on exit, and the learning-rate schedule is a pure function of the step. The same code runs on a
2-core CPU (small batches, minutes) and on a GPU (large batches); both use bf16 autocast
where the hardware has it.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ..device import pick_device, training_autocast, training_precision
from ..errors import UserError
from ..models.registry import model_spec
from ..models.weights import save_weights
from ..synthetic.multilight.batches import MultiLightBatches
from . import RUNS_DIR
from .checkpoint import checkpoint_model, save_checkpoint, start_run
from .losses import light_losses, normal_loss
from .progress import RunLog
from .schedule import learning_rate


@dataclass
class MultiLightTrainConfig:
    model: str
    steps: int = 20000
    minutes: float | None = None  # stop (and checkpoint) after this much wall time
    batch: int = 8
    images: tuple[int, int] = (2, 32)  # images per sample, drawn per batch
    crop: int = 64
    # > 1: half the crops magnified up to this (see MultiLightBatches.geometry)
    max_zoom: float = 1.0
    # the share of samples lit by one rig, a cone near the view (synthetic/multilight/lights.py);
    # the runs before it (fused_fast's first 10,258 steps) had none
    light_rigs: float = 0.5
    intensity_range: tuple[float, float] = (0.2, 2.0)  # per light and channel, uniform
    stratified_intensities: bool = False  # or spread over the range (see sample_light_intensities)
    # the share of samples saved as linear 8-bit codes and read as sRGB (synthetic/multilight/
    # camera.py), as photometric-stereo data sets are; the runs up to 28,320 steps had none
    linear_codes: float = 0.0
    lr: float = 1e-3
    warmup: int = 50
    light_jitter_deg: float = 3.0
    normal_weight: float = 1.0
    light_weight: float = 0.5
    device: str = "auto"
    precision: str = "auto"  # forward pass in bf16 or fp32; auto: bf16 where the hardware has it
    seed: int = 0
    bank_size: int = 1200
    bank_resolution: int = 128
    faces: str | None = None
    run_dir: str = str(RUNS_DIR)
    init: str | None = None  # warm start from shipped weights when there is no checkpoint
    checkpoint_minutes: float = 5.0
    log_every: int = 20
    overrides: dict = field(default_factory=dict)


def config_from_args(args, **common) -> MultiLightTrainConfig:
    """The run `photonormals train` asks for (``common``: the options every trainer takes)."""
    return MultiLightTrainConfig(
        images=parse_image_range(args.images), crop=args.crop,
        **({"max_zoom": args.zoom} if args.zoom else {}),
        **({"light_rigs": args.light_rigs} if args.light_rigs is not None else {}),
        **({"intensity_range": parse_range(args.intensity_range)} if args.intensity_range
           else {}),
        stratified_intensities=args.stratified_intensities,
        **({"linear_codes": args.linear_codes} if args.linear_codes is not None else {}),
        overrides={"light_size": args.light_size} if args.light_size else {}, **common,
    )


def parse_image_range(text: str) -> tuple[int, int]:
    """--images: "K" or "KMIN-KMAX" images per sample."""
    return _parse_range(text, int, "--images takes K or KMIN-KMAX",
                        lambda low, high: 1 <= low <= high,
                        "--images range must satisfy 1 <= KMIN <= KMAX")


def parse_range(text: str) -> tuple[float, float]:
    """--intensity-range: "LOW-HIGH", 0 < LOW <= HIGH."""
    return _parse_range(text, float, "--intensity-range takes LOW-HIGH",
                        lambda low, high: 0 < low <= high,
                        "--intensity-range must satisfy 0 < LOW <= HIGH")


def _parse_range(text: str, kind, form: str, valid, rule: str) -> tuple:
    """"A" or "A-B" as (A, A) or (A, B) of ``kind``; UserErrors saying ``form`` when it does
    not parse and ``rule`` when ``valid(low, high)`` does not hold."""
    low, _, high = text.partition("-")
    try:
        bounds = (kind(low), kind(high or low))
    except ValueError:
        raise UserError(f"{form}, got {text!r}") from None
    if not valid(*bounds):
        raise UserError(f"{rule}, got {text!r}")
    return bounds


def train(config: MultiLightTrainConfig, batches: MultiLightBatches | None = None) -> dict:
    device = pick_device(config.device)
    torch.manual_seed(config.seed)
    model, optimizer, step, checkpoint = start_run(
        config.model, config.run_dir, config.model, config.overrides, config.lr, device,
        config.init, config.steps,
    )
    run = checkpoint.parent
    if batches is None:
        batches = MultiLightBatches.from_cache(
            config.bank_size, config.bank_resolution, config.seed, config.faces, device=device
        )
    teacher = model_spec(config.model).teacher_forced
    generator = torch.Generator(device=device).manual_seed(config.seed * 1_000_003 + step)
    precision = training_precision(device, config.precision)
    extra = {"train_config": asdict(config), "precision": precision}

    start = last_save = time.monotonic()
    first_step = step
    log = RunLog(run, step, config.steps, config.minutes)
    model.train()
    while step < config.steps:
        count = int(
            torch.randint(
                config.images[0], config.images[1] + 1, (1,), generator=generator, device=device
            )
        )
        sample = batches.sample(config.batch, count, config.crop, generator, config.max_zoom,
                                config.light_rigs, config.intensity_range,
                                config.stratified_intensities, config.linear_codes)
        lights = None
        if teacher:
            lights = (
                _jitter(sample["light_dirs"], config.light_jitter_deg, generator),
                sample["light_ints"],
            )
        elapsed = time.monotonic() - start
        time_fraction = elapsed / (config.minutes * 60) if config.minutes else 0.0
        lr = learning_rate(config, step, time_fraction, first_step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        with training_autocast(device, precision):
            out = model(sample["images"], sample["mask"], lights=lights)
        losses = light_losses(
            {k: v.float() for k, v in out["logits"].items()}, out["light_dir"].float(),
            sample["light_dirs"], sample["light_ints"],
        )
        losses["normal"] = normal_loss(out["normal"].float(), sample["normals"], sample["mask"])
        total = config.normal_weight * losses["normal"] + config.light_weight * (
            losses["azimuth"]
            + losses["elevation"]
            + losses["intensity"]
            + 10.0 * losses["direction"]
        )
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        step += 1
        log.advance()

        out_of_time = config.minutes is not None and time.monotonic() - start > config.minutes * 60
        if step % config.log_every == 0 or step == config.steps or out_of_time:
            record = {"step": step, "images": count, "lr": lr,
                      "elapsed_s": round(time.monotonic() - start, 1),
                      **{k: round(v.item(), 5) for k, v in losses.items()}}
            log.record(record)
        if out_of_time or time.monotonic() - last_save > config.checkpoint_minutes * 60:
            save_checkpoint(checkpoint, model, optimizer, step, extra)
            last_save = time.monotonic()
        if out_of_time:
            break
    save_checkpoint(checkpoint, model, optimizer, step, extra)
    log.close()
    return {"step": step, "checkpoint": str(checkpoint), "history": log.history, "model": model}


def export(checkpoint: Path, target: Path, **metadata) -> None:
    """Shipped weights: the model tensors of a checkpoint, without the optimizer state."""
    model, step, extra = checkpoint_model(checkpoint)
    save_weights(target, model, steps=step, train_config=extra.get("train_config"), **metadata)


def _jitter(dirs: torch.Tensor, degrees: float, generator: torch.Generator) -> torch.Tensor:
    if degrees <= 0:
        return dirs
    noise = (
        torch.randn(dirs.shape, generator=generator, device=dirs.device)
        * math.radians(degrees)
        / math.sqrt(2)
    )
    jittered = dirs + noise - (noise * dirs).sum(-1, keepdim=True) * dirs
    return torch.nn.functional.normalize(jittered, dim=-1)
