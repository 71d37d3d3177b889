"""Train a model of the registry's portrait task on the portrait engine.

Same design as the multi-light trainer (`training.multilight`): resumable at any moment
(checkpoint on a timer and on exit, learning rate a pure function of step and wall-time
fraction), one code path for a 2-core CPU and a GPU (bf16 autocast where the hardware has it).
Any object with ``sample(batch, generator) -> dict`` of (B, C, H, W) tensors ("image",
"normal", "shading", "mask", optionally "face") can feed it, so the loop is testable without
the engine.

Losses (weights in the config): the angle between predicted and true normals inside the person
mask, with face pixels counted 1 + `face_weight` times (the face is what is relit and scored;
hair and clothes are rough guesses that would otherwise take the capacity), or 1 - cos; a
scale-invariant log-shading loss inside the mask (Eigen et al.'s, with the scale term only
half removed, so the absolute level that keeps albedo in [0, 1] is still learned); mask BCE
plus a Dice term (BCE alone under-weights thin parts such as hair and ears).
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..device import pick_device, training_autocast, training_precision
from ..errors import UserError
from ..evaluation.portrait import portrait_metrics
from ..models.portrait import normalise_portrait_exposure
from ..models.weights import read_metadata, save_weights
from ..relight.envmap import bundled_hdris, load_hdri
from ..synthetic.flips import mirror_where
from ..synthetic.portrait.bank import cached_bank
from ..synthetic.portrait.batches import PortraitBatches
from ..synthetic.portrait.validation import validation_set
from ..synthetic.random import uniform
from . import RUNS_DIR
from .checkpoint import checkpoint_model, save_checkpoint, start_run
from .losses import angular_normal_loss, normal_loss
from .progress import RunLog
from .schedule import learning_rate

DEFAULT_SIZE = 256  # a new run's crop size when none is given
SHADING_EPS = 1e-3  # in exposure-normalised units: keeps log(shading) finite in black shadows


@dataclass
class PortraitTrainConfig:
    model: str = "portrait_lite"
    steps: int = 20000
    minutes: float | None = None  # stop (and checkpoint) after this much wall time
    batch: int = 8
    # training crop = inference working size; None: the resumed run's, else DEFAULT_SIZE
    size: int | None = None
    lr: float = 1e-3
    warmup: int = 100
    normal_weight: float = 1.0
    normal_loss: str = "angular"  # "angular" (radians) or "cosine" (1 - cos, the first runs' loss)
    # angular loss: extra weight on the face region (0: the person mask alike)
    face_weight: float = 2.0
    shading_weight: float = 1.0
    shading_scale_invariance: float = 0.5  # 1: fully scale-free, 0: plain log-MSE
    mask_weight: float = 0.5  # BCE
    dice_weight: float = 0.5
    flip_prob: float = 0.5  # horizontal flips, with normal x negated
    device: str = "auto"
    precision: str = "auto"  # forward pass in bf16 or fp32; auto: bf16 where the hardware has it
    seed: int = 0
    # rasterised heads; 800 left a 1.6 deg gap between training and held-out heads
    bank_size: int = 4000
    bank_resolution: int = 256
    # the share of batches cut from whole upper bodies (`PortraitBatches` windows of a
    # body-framed bank) instead of face-framed heads: the whole-frame pass of inference sees
    # torsos, arms and hands, which face-framed samples do not show; 0 for the runs before
    body_share: float = 0.0
    body_bank_size: int = 600
    faces: str | None = None
    run_dir: str = str(RUNS_DIR)
    name: str | None = None  # run folder name; the model name by default
    init: str | None = None  # warm start from weights when there is no checkpoint
    checkpoint_minutes: float = 5.0
    log_every: int = 20
    val_every: int = 500  # validation metrics to log.jsonl every this many steps (0: never)
    val_count: int = 64
    overrides: dict = field(default_factory=dict)


def config_from_args(args, **common) -> PortraitTrainConfig:
    """The run `photonormals train` asks for (``common``: the options every trainer takes)."""
    return PortraitTrainConfig(
        size=args.size, normal_loss=args.normal_loss, face_weight=args.face_weight,
        **({"body_share": args.body_share} if args.body_share is not None else {}), **common
    )


def portrait_losses(out: dict, truth: dict, config: PortraitTrainConfig) -> dict:
    """out: the network's outputs; truth: normalised targets ("normal", "shading", "mask")."""
    mask = truth["mask"]
    if config.normal_loss == "cosine":
        losses = {"normal": normal_loss(out["normal"], truth["normal"], mask)}
    elif config.normal_loss == "angular":
        weight = mask * (1.0 + config.face_weight * truth["face"]) if "face" in truth else mask
        losses = {"normal": angular_normal_loss(out["normal"], truth["normal"], weight)}
    else:
        raise UserError(f"normal_loss must be 'angular' or 'cosine', not {config.normal_loss!r}")

    diff = (out["log_shading"] - torch.log(truth["shading"].clamp_min(0) + SHADING_EPS)) * mask
    count = (mask.sum(dim=(1, 2, 3)) * diff.shape[1]).clamp_min(1.0)
    mean = diff.sum(dim=(1, 2, 3)) / count
    mean_sq = (diff * diff).sum(dim=(1, 2, 3)) / count
    losses["shading"] = (mean_sq - config.shading_scale_invariance * mean * mean).mean()

    logits = out["mask_logits"]
    losses["mask_bce"] = F.binary_cross_entropy_with_logits(logits, mask)
    prob = torch.sigmoid(logits)
    overlap = (prob * mask).sum(dim=(1, 2, 3))
    losses["mask_dice"] = (
        1 - (2 * overlap + 1) / (prob.sum(dim=(1, 2, 3)) + mask.sum(dim=(1, 2, 3)) + 1)
    ).mean()
    return losses


def total_loss(losses: dict, config: PortraitTrainConfig) -> torch.Tensor:
    return (config.normal_weight * losses["normal"] + config.shading_weight * losses["shading"]
            + config.mask_weight * losses["mask_bce"] + config.dice_weight * losses["mask_dice"])


def prepare(sample: dict) -> tuple[torch.Tensor, dict]:
    """Exposure-normalised input and targets in the same units (the inference rule)."""
    image, level = normalise_portrait_exposure(sample["image"])
    truth = {k: v for k, v in sample.items() if k != "image"}
    truth["shading"] = sample["shading"] / level.view(-1, 1, 1, 1)
    return image, truth


def trained_size(config: PortraitTrainConfig) -> int | None:
    """The crop size the run to be resumed (or the weights to warm-start from) trained at."""
    checkpoint = Path(config.run_dir) / (config.name or config.model) / "last.safetensors"
    if checkpoint.is_file():
        return read_metadata(checkpoint).get("extra", {}).get("train_config", {}).get("size")
    return read_metadata(config.init).get("input_size") if config.init else None


def earlier_runs(checkpoint: Path, init: str | None) -> list[dict]:
    """The runs behind the weights this run starts from: the resumed checkpoint's, else the
    warm-start weights'. Runs from before the history was kept are not listed."""
    if checkpoint.is_file():
        return read_metadata(checkpoint).get("extra", {}).get("runs", [])
    return read_metadata(init).get("runs", []) if init else []


def train(config: PortraitTrainConfig, batches=None, validation: dict | None = None) -> dict:
    # The training size is the shipped working size: resuming at another one would silently
    # change both the scale the network has learnt and the size inference crops to.
    size = trained_size(config)
    if config.size is None:
        config = replace(config, size=size or DEFAULT_SIZE)
    elif size and size != config.size:
        raise UserError(
            f"{config.name or config.model} was trained at {size} px, not {config.size}: pass "
            f"--size {size} to continue it, or a new --run-dir to start another run"
        )
    device = pick_device(config.device)
    torch.manual_seed(config.seed)
    model, optimizer, step, checkpoint = start_run(
        config.name or config.model,
        config.run_dir,
        config.model,
        config.overrides,
        config.lr,
        device,
        config.init,
        config.steps,
    )
    run = checkpoint.parent
    if batches is None:
        batches, validation = engine_data(config, device)
    generator = torch.Generator(device=device).manual_seed(config.seed * 1_000_003 + step)
    precision = training_precision(device, config.precision)
    extra = {"train_config": asdict(config), "hardware": hardware(device), "precision": precision}
    # Each resume restarts the schedule, so the card needs every run, not just the last one's
    # config.
    this_run = {"from_step": step, "to_step": step, "lr": config.lr, "minutes": config.minutes,
                "precision": precision, "bank_size": config.bank_size, "bank_seed": config.seed}
    extra["runs"] = earlier_runs(checkpoint, config.init) + [this_run]

    start = last_save = time.monotonic()
    first_step = step
    log, metrics = RunLog(run, step, config.steps, config.minutes), {}
    model.train()
    while step < config.steps:
        sample = batches.sample(config.batch, generator)
        which = torch.rand(config.batch, generator=generator, device=device) < config.flip_prob
        image, truth = prepare(mirror_where(sample, which.to(sample["image"].device)))
        elapsed = time.monotonic() - start
        lr = learning_rate(
            config, step, elapsed / (config.minutes * 60) if config.minutes else 0.0, first_step
        )
        for group in optimizer.param_groups:
            group["lr"] = lr
        with training_autocast(device, precision):
            out = model(image)
        # losses in float32: bf16 acos and log are coarse
        out = {k: v.float() for k, v in out.items()}
        losses = portrait_losses(out, truth, config)
        total = total_loss(losses, config)
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        step += 1
        log.advance()
        this_run["to_step"] = step

        record = None
        if step % config.log_every == 0 or step == config.steps:
            record = {
                "step": step,
                "lr": lr,
                "elapsed_s": round(time.monotonic() - start, 1),
                "total": round(total.item(), 5),
                **{k: round(v.item(), 5) for k, v in losses.items()},
            }
        if (
            validation is not None
            and config.val_every
            and (step % config.val_every == 0 or step == config.steps)
        ):
            metrics = validate(model, validation, device)
            model.train()
            record = {
                **(record or {"step": step}),
                **{f"val_{k}": round(v, 5) for k, v in metrics.items()},
            }
            extra["metrics"] = {"step": step, **metrics}
        if record:
            log.record(record)
        out_of_time = config.minutes is not None and time.monotonic() - start > config.minutes * 60
        if out_of_time or time.monotonic() - last_save > config.checkpoint_minutes * 60:
            save_checkpoint(checkpoint, model, optimizer, step, extra)
            last_save = time.monotonic()
        if out_of_time:
            break
    save_checkpoint(checkpoint, model, optimizer, step, extra)
    log.close()
    return {
        "step": step,
        "checkpoint": str(checkpoint),
        "history": log.history,
        "model": model,
        "metrics": metrics,
    }


@torch.inference_mode()
def validate(model: torch.nn.Module, validation: dict, device, batch: int = 16) -> dict:
    """Portrait metrics of the model (eval mode) on a validation dict of (N, ...) arrays."""
    model.eval()
    data = {k: _channels_first(np.asarray(v)) for k, v in validation.items()}
    predicted = {"normal": [], "shading": [], "mask": []}
    for i in range(0, len(data["image"]), batch):
        sample = {k: torch.from_numpy(v[i : i + batch]).float().to(device) for k, v in data.items()}
        image, level = normalise_portrait_exposure(sample["image"])
        out = model(image)
        predicted["normal"].append(out["normal"].cpu().numpy())
        predicted["shading"].append((out["shading"] * level.view(-1, 1, 1, 1)).cpu().numpy())
        predicted["mask"].append((out["mask_logits"] > 0).cpu().numpy())
    return portrait_metrics({k: np.concatenate(v) for k, v in predicted.items()}, data)


def _channels_first(a: np.ndarray) -> np.ndarray:
    """(N, H, W) -> (N, 1, H, W); (N, H, W, C) -> (N, C, H, W); (N, C, H, W) unchanged."""
    if a.ndim == 3:
        return a[:, None]
    if a.ndim == 4 and a.shape[1] not in (1, 3) and a.shape[-1] in (1, 3):
        return np.moveaxis(a, -1, 1)
    return a


def engine_data(config: PortraitTrainConfig, device):
    """The synthetic portrait engine's batches and validation set, lit by the bundled HDRIs."""
    envs = [load_hdri(path) for path in bundled_hdris().values()]
    faces = {"faces_path": config.faces} if config.faces else {}  # else the engine's default file
    bank = cached_bank(config.bank_size, config.bank_resolution, config.seed, **faces)
    batches = PortraitBatches(bank, envs, size=config.size, device=str(device))
    if config.body_share > 0:
        bodies = cached_bank(config.body_bank_size, config.bank_resolution, config.seed,
                             framing="body", **faces)
        batches = MixedBatches(batches, PortraitBatches(bodies, envs, size=config.size,
                                                        device=str(device), window=True),
                               config.body_share)
    validation = None
    if config.val_every:
        validation = validation_set(
            count=config.val_count,
            size=config.size,
            envs=envs,
            **({"faces": config.faces} if config.faces else {}),
        )
    return batches, validation


class MixedBatches:
    """Face-framed batches, and with probability ``share`` a batch of body windows instead."""

    def __init__(self, faces: PortraitBatches, bodies: PortraitBatches, share: float):
        self.faces, self.bodies, self.share = faces, bodies, share

    def sample(self, batch: int, generator: torch.Generator) -> dict:
        bodies = float(uniform((1,), generator)) < self.share
        return (self.bodies if bodies else self.faces).sample(batch, generator)


def hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = platform.processor() or platform.machine()
    return f"{cpu} CPU, {torch.get_num_threads()} threads of {os.cpu_count()}"


def export(checkpoint: Path, target: Path, **metadata) -> None:
    """Shipped weights: the checkpoint's model tensors, its config, the training size (the
    inference working resolution), steps, data, hardware, the last run's precision (runs before
    it was recorded were fp32), the run history and the last validation metrics."""
    model, step, extra = checkpoint_model(checkpoint)
    train_config = extra.get("train_config") or {}
    save_weights(
        target,
        model,
        steps=step,
        train_config=train_config,
        input_size=train_config.get("size"),
        data=metadata.pop("data", "synthetic portrait engine (photonormals.synthetic.portrait)"),
        hardware=extra.get("hardware"),
        precision=extra.get("precision", "fp32"),
        metrics=extra.get("metrics", {}),
        runs=metadata.pop("runs", extra.get("runs", [])),
        **metadata,
    )
