"""Train a model of the registry's material task on the procedural material engine.

The design of the other trainers (`training.portrait`): resumable at any moment (checkpoint on a
timer and on exit; the learning rate a pure function of the step and the wall-time fraction),
every run recorded in the weights' history, one code path for a 2-core CPU and a GPU (bf16
autocast where the hardware has it; raise --batch on a GPU). Any object with
``sample(batch, generator) -> dict`` of the engine's maps can feed it, so the loop is testable
without the engine.

Losses (weights in the config): the angle between predicted and true normals (the metric
itself) and the squared error of their x, y (see `slope_weight`); the log-shading's squared
error with half of its mean removed (tiles of one photo share one exposure level, so the level
matters, but an albedo twice as bright under half the light is a fair answer); roughness L1.
The exposure level of each sample is jittered by up to 1.4x either way, as a tile of a large
photo is normalised by the whole photo's level, not its own.

Why the first shipped run learnt nothing (3,319 steps, normals = the flat guess to 0.03 deg):
the engine lit every sample from any side alike, and one photo of a bump lit from the left is
a dent lit from the right, so the angle's best answer was flat; its zero-initialised last layer
also passed no gradient to the body. On 2,048 fixed crops the same net learnt under one fixed
lamp and not under random light. Runs now train with light mostly from the image's upper side
(`light_up`), the slope loss and a live last layer (`head_std`), and beat flat within 500 steps
on light from above; on light from every side alike they cannot (see docs/material).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from ..device import pick_device, training_autocast, training_precision
from ..evaluation.material import angular_error_deg, flat_error_deg
from ..models.material import exposure_level
from ..models.weights import save_weights
from ..relight.envmap import bundled_hdris, load_hdri
from ..synthetic.material.batches import MaterialBatches
from ..synthetic.material.geometry import FAMILIES
from ..synthetic.material.lighting import LUMA
from ..synthetic.material.validation import validation_set
from . import RUNS_DIR
from .checkpoint import checkpoint_model, save_checkpoint, start_run
from .losses import angular_normal_loss
from .portrait import earlier_runs, hardware  # the run history and machine, as there
from .progress import RunLog
from .schedule import learning_rate

DEFAULT_SIZE = 128  # a new run's crop size when none is given
SHADING_EPS = 1e-3  # in exposure-normalised units: keeps log(shading) finite in black shadows
LEVEL_JITTER = 1.4


@dataclass
class MaterialTrainConfig:
    model: str = "material"
    steps: int = 20000
    minutes: float | None = None  # stop (and checkpoint) after this much wall time
    batch: int = 8
    size: int | None = None  # training crop size; None: DEFAULT_SIZE
    lr: float = 2e-3
    warmup: int = 100
    normal_weight: float = 1.0
    # The shading and roughness losses' gradients agree across a batch (a level, a constant)
    # while the normals' point every way: at 0.5 each they held the normal loss flat for 1,000
    # steps (the shared features served them alone); at 0.1 the normals learn.
    shading_weight: float = 0.1
    shading_scale_invariance: float = 0.5  # 1: fully scale-free, 0: plain log-MSE
    roughness_weight: float = 0.1
    # Squared error of the normals' x, y (slopes, up to z): where the light leaves the relief's
    # sign in doubt, the angle (an L1 in disguise, median-seeking over mostly flat pixels)
    # answers flat; the squared error keeps a pull proportional to the slope it misses.
    slope_weight: float = 10.0
    # Share of samples lit from the image's upper side (`lighting.light_surface`): with every
    # light direction alike a bump lit from the left is a dent lit from the right, and the
    # network learnt nothing; with light mostly from above (as most surface photos are) it does.
    light_up: float = 0.9
    head_std: float = 1e-3  # a fresh network's last layer (a zero one passes back no gradient)
    device: str = "auto"
    precision: str = "auto"
    seed: int = 0
    run_dir: str = str(RUNS_DIR)
    name: str | None = None  # run folder name; the model name by default
    init: str | None = None  # warm start from weights when there is no checkpoint
    checkpoint_minutes: float = 5.0
    log_every: int = 20
    val_every: int = 500  # validation metrics to log.jsonl every this many steps (0: never)
    val_count: int = 4  # per family
    val_size: int = 128
    overrides: dict = field(default_factory=dict)


def config_from_args(args, **common) -> MaterialTrainConfig:
    """The run `photonormals train` asks for (``common``: the options every trainer takes; the
    material engine keeps no geometry bank and draws no faces, so it ignores those two)."""
    common = {k: v for k, v in common.items() if k not in ("faces", "bank_size")}
    return MaterialTrainConfig(size=args.size, **common)


def material_losses(out: dict, truth: dict, config: MaterialTrainConfig) -> dict:
    """out: the network's outputs; truth: "normal", "log_shading", "roughness" targets."""
    ones = torch.ones_like(truth["roughness"])
    losses = {"normal": angular_normal_loss(out["normal"], truth["normal"], ones)}
    diff = (out["log_shading"] - truth["log_shading"]).flatten(1)
    mean = diff.mean(1)
    losses["shading"] = ((diff * diff).mean(1) - config.shading_scale_invariance * mean**2).mean()
    losses["roughness"] = (out["roughness"] - truth["roughness"]).abs().mean()
    losses["slope"] = ((out["normal"][:, :2] - truth["normal"][:, :2]) ** 2).mean()
    return losses


def total_loss(losses: dict, config: MaterialTrainConfig) -> torch.Tensor:
    return (config.normal_weight * losses["normal"] + config.shading_weight * losses["shading"]
            + config.roughness_weight * losses["roughness"]
            + config.slope_weight * losses["slope"])


def prepare(sample: dict, generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict]:
    """Exposure-normalised input (level jittered when a generator is given) and the targets in
    the same units."""
    image = sample["image"]
    level = exposure_level(image)
    if generator is not None:
        jitter = torch.rand(level.shape, generator=generator, device=generator.device)
        level = level * torch.exp((2 * jitter - 1) * math.log(LEVEL_JITTER)).to(level.device)
    shading = sample["shading"]
    if shading.shape[1] == 3:
        shading = (shading * shading.new_tensor(LUMA).view(1, 3, 1, 1)).sum(1, keepdim=True)
    truth = {
        "normal": sample["normal"],
        "log_shading": torch.log(shading / level.view(-1, 1, 1, 1) + SHADING_EPS),
        "roughness": sample["roughness"],
    }
    return image / level.view(-1, 1, 1, 1), truth


def train(config: MaterialTrainConfig, batches=None, validation: dict | None = None) -> dict:
    # The network is fully convolutional and infers at any size, so unlike a portrait run a
    # resumed run may change its crop size.
    if config.size is None:
        config = replace(config, size=DEFAULT_SIZE)
    device = pick_device(config.device)
    torch.manual_seed(config.seed)
    overrides = {**config.overrides, "head_std": config.head_std} if config.head_std else (
        config.overrides)
    model, optimizer, step, checkpoint = start_run(
        config.name or config.model, config.run_dir, config.model, overrides, config.lr,
        device, config.init, config.steps,
    )
    run = checkpoint.parent
    if batches is None:
        batches, validation = engine_data(config, device)
    generator = torch.Generator(device=device).manual_seed(config.seed * 1_000_003 + step)
    precision = training_precision(device, config.precision)
    extra = {"train_config": asdict(config), "hardware": hardware(device), "precision": precision}
    this_run = {"from_step": step, "to_step": step, "lr": config.lr, "minutes": config.minutes,
                "precision": precision, "size": config.size, "batch": config.batch,
                "seed": config.seed}
    extra["runs"] = earlier_runs(checkpoint, config.init) + [this_run]

    start = last_save = time.monotonic()
    first_step = step
    log, metrics = RunLog(run, step, config.steps, config.minutes), {}
    model.train()
    while step < config.steps:
        sample = batches.sample(config.batch, generator)
        image, truth = prepare(sample, generator)
        elapsed = time.monotonic() - start
        lr = learning_rate(
            config, step, elapsed / (config.minutes * 60) if config.minutes else 0.0, first_step
        )
        for group in optimizer.param_groups:
            group["lr"] = lr
        with training_autocast(device, precision):
            out = model(image)
        out = {k: v.float() for k, v in out.items()}  # losses in float32: bf16 atan2 is coarse
        losses = material_losses(out, truth, config)
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
            record = {"step": step, "lr": lr, "elapsed_s": round(time.monotonic() - start, 1),
                      "total": round(total.item(), 5),
                      **{k: round(v.item(), 5) for k, v in losses.items()}}
        out_of_time = config.minutes is not None and time.monotonic() - start > config.minutes * 60
        # validated at the end of a capped run too: the card quotes the last metrics
        if (validation is not None and config.val_every
                and (step % config.val_every == 0 or step == config.steps or out_of_time)):
            metrics = validate(model, validation, device)
            model.train()
            record = {**(record or {"step": step}),
                      **{f"val_{k}": round(v, 4) for k, v in metrics.items()
                         if not isinstance(v, dict)}}
            extra["metrics"] = {"step": step, **metrics}
        if record:
            log.record(record)
        if out_of_time or time.monotonic() - last_save > config.checkpoint_minutes * 60:
            save_checkpoint(checkpoint, model, optimizer, step, extra)
            last_save = time.monotonic()
        if out_of_time:
            break
    save_checkpoint(checkpoint, model, optimizer, step, extra)
    log.close()
    return {"step": step, "checkpoint": str(checkpoint), "history": log.history, "model": model,
            "metrics": metrics}


@torch.inference_mode()
def validate(model: torch.nn.Module, validation: dict, device, batch: int = 8) -> dict:
    """Mean normal error of the model (eval mode) and of the flat guess, overall and per family,
    and roughness MAE, on a validation dict of (N, ...) arrays (the engine's keys)."""
    model.eval()
    errors, flats, rough = [], [], []
    for i in range(0, len(validation["image"]), batch):
        sample = {k: torch.from_numpy(np.asarray(v[i : i + batch], np.float32)).to(device)
                  for k, v in validation.items() if k != "family"}
        image, truth = prepare(sample)
        out = model(image)
        normal = out["normal"].float().cpu().numpy()
        true = truth["normal"].cpu().numpy()
        true = true / np.linalg.norm(true, axis=1, keepdims=True).clip(1e-8)
        errors.append(angular_error_deg(normal, true).mean((1, 2)))
        flats.append(flat_error_deg(true).mean((1, 2)))
        rough.append((out["roughness"].float() - truth["roughness"]).abs().mean((1, 2, 3)).cpu())
    errors, flats = np.concatenate(errors), np.concatenate(flats)
    family = np.asarray(validation["family"])
    per_family = {FAMILIES[f]: [round(float(errors[family == f].mean()), 2),
                                round(float(flats[family == f].mean()), 2)]
                  for f in np.unique(family)}
    return {"normal_deg": float(errors.mean()), "flat_deg": float(flats.mean()),
            "roughness_mae": float(torch.cat(rough).mean()), "per_family": per_family}


def engine_data(config: MaterialTrainConfig, device):
    """The material engine's batches and validation set, lit by the bundled HDRIs."""
    envs = [load_hdri(path) for path in bundled_hdris().values()]
    batches = MaterialBatches(envs, size=config.size, device=str(device),
                              light_up=config.light_up)
    validation = None
    if config.val_every:
        # scored on the light the run trains on: the all-directions set is the benchmark's too
        validation = validation_set(config.val_count, config.val_size, envs=envs,
                                    light_up=config.light_up)
    return batches, validation


def export(checkpoint: Path, target: Path, **metadata) -> None:
    """Shipped weights: the checkpoint's tensors and config, steps, data, hardware, precision,
    the run history and the last validation metrics."""
    model, step, extra = checkpoint_model(checkpoint)
    train_config = extra.get("train_config") or {}
    save_weights(
        target, model, steps=step, train_config=train_config,
        input_size=train_config.get("size"),
        data=metadata.pop("data", "procedural material engine (photonormals.synthetic.material)"),
        hardware=extra.get("hardware"), precision=extra.get("precision", "fp32"),
        metrics=extra.get("metrics", {}), runs=metadata.pop("runs", extra.get("runs", [])),
        **metadata,
    )

