"""Train a multi-light model (sdps, sdps_lite, fused) on the synthetic photometric-stereo engine.

Resumable by design: a session can stop at any moment, so the loop checkpoints on a timer and
on exit, and the learning-rate schedule is a pure function of the step. The same code runs on a
2-core CPU (small batches, minutes) and on a GPU (large batches); both use bf16 autocast
where the hardware has it.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ..device import pick_device, training_autocast, training_precision
from ..models.weights import save_weights
from ..synthetic.ps_batches import PhotometricBatches
from .checkpoint import checkpoint_model, save_checkpoint, start_run
from .losses import light_losses, normal_loss

# Two-stage models learn NENet on the true lights (jittered, as LCNet's errors will be) while
# LCNet learns to classify them; the fused model must learn through its own light estimate.
TEACHER_FORCED = {"sdps": True, "sdps_lite": True, "fused": False}


@dataclass
class TrainConfig:
    model: str
    steps: int = 20000
    minutes: float | None = None  # stop (and checkpoint) after this much wall time
    batch: int = 8
    images: tuple[int, int] = (2, 32)  # images per sample, drawn per batch
    crop: int = 64
    max_zoom: float = 1.0  # > 1: half the crops magnified up to this (see PhotometricBatches.geometry)
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
    run_dir: str = str(Path.home() / ".cache" / "photonormals" / "runs")  # outlives the work tree
    init: str | None = None  # warm start from shipped weights when there is no checkpoint
    checkpoint_minutes: float = 5.0
    log_every: int = 20
    overrides: dict = field(default_factory=dict)


def learning_rate(config: TrainConfig, step: int, time_fraction: float = 0.0, first_step: int = 0) -> float:
    """Warm-up, then cosine decay to 2 %. Progress is the larger of the step and the wall-time
    fractions, so a run capped by --minutes still anneals fully before its deadline. Every run
    warms up from its own first step: a warm start or resume begins with fresh or stale moments."""
    if step - first_step < config.warmup:
        return config.lr * (step - first_step + 1) / config.warmup
    progress = min(1.0, max(time_fraction, (step - config.warmup) / max(1, config.steps - config.warmup)))
    return config.lr * (0.02 + 0.98 * 0.5 * (1.0 + math.cos(math.pi * progress)))


def train(config: TrainConfig, batches: PhotometricBatches | None = None) -> dict:
    device = pick_device(config.device)
    torch.manual_seed(config.seed)
    model, optimizer, step, checkpoint = start_run(
        config.model, config.run_dir, config.model, config.overrides, config.lr, device, config.init
    )
    run = checkpoint.parent
    if batches is None:
        batches = PhotometricBatches.from_cache(
            config.bank_size, config.bank_resolution, config.seed, config.faces, device=device
        )
    teacher = TEACHER_FORCED.get(config.model, False)
    generator = torch.Generator(device=device).manual_seed(config.seed * 1_000_003 + step)
    precision = training_precision(device, config.precision)
    extra = {"train_config": asdict(config), "precision": precision}

    start = last_save = time.monotonic()
    first_step = step
    history = []
    model.train()
    while step < config.steps:
        count = int(torch.randint(config.images[0], config.images[1] + 1, (1,), generator=generator, device=device))
        sample = batches.sample(config.batch, count, config.crop, generator, config.max_zoom)
        lights = None
        if teacher:
            lights = (_jitter(sample["light_dirs"], config.light_jitter_deg, generator), sample["light_ints"])
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
            losses["azimuth"] + losses["elevation"] + losses["intensity"] + 10.0 * losses["direction"]
        )
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        step += 1

        if step % config.log_every == 0 or step == config.steps:
            record = {"step": step, "images": count, "lr": lr,
                      "elapsed_s": round(time.monotonic() - start, 1),
                      **{k: round(v.item(), 5) for k, v in losses.items()}}
            history.append(record)
            print(json.dumps(record), flush=True)
            with open(run / "log.jsonl", "a") as log:
                log.write(json.dumps(record) + "\n")
        out_of_time = config.minutes is not None and time.monotonic() - start > config.minutes * 60
        if out_of_time or time.monotonic() - last_save > config.checkpoint_minutes * 60:
            save_checkpoint(checkpoint, model, optimizer, step, extra)
            last_save = time.monotonic()
        if out_of_time:
            break
    save_checkpoint(checkpoint, model, optimizer, step, extra)
    return {"step": step, "checkpoint": str(checkpoint), "history": history, "model": model}


def export(checkpoint: Path, target: Path, **metadata) -> None:
    """Shipped weights: the model tensors of a checkpoint, without the optimizer state."""
    model, step, extra = checkpoint_model(checkpoint)
    save_weights(target, model, steps=step, train_config=extra.get("train_config"), **metadata)


def _jitter(dirs: torch.Tensor, degrees: float, generator: torch.Generator) -> torch.Tensor:
    if degrees <= 0:
        return dirs
    noise = torch.randn(dirs.shape, generator=generator, device=dirs.device) * math.radians(degrees) / math.sqrt(2)
    jittered = dirs + noise - (noise * dirs).sum(-1, keepdim=True) * dirs
    return torch.nn.functional.normalize(jittered, dim=-1)
