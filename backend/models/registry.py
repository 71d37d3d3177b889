"""The model registry: every model the project trains, serves and tests, in one table.

As timm ties each model's pretrained config to its registry, one entry here says what a model is
for, what ships and how it trains and runs, and everything else asks: predict and the service
(which task a mode runs, with which inference wrapper), the trainers (which training module,
teacher forcing), the benchmarks (which weights ship), the CLI help, and the tests (one contract
suite runs over every entry).

A model file only builds networks: ``build(**overrides) -> nn.Module`` merges the overrides into
its explicit default config (`resolve_config`). `create_model` stamps the result with
``model.config``, a JSON-able dict that includes the registry name, so weights saved with it
(safetensors metadata, see `weights`) rebuild their own model: ``create_model(config)``.

Nothing here imports torch: the CLI builds its help from this table, and a model's module loads
only when the model is built.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ModelNotAvailable, UserError


@dataclass(frozen=True)
class Task:
    """What a family of models does and the code around it. A new kind of model (a material, a
    whole person) is a new task; a new model for an existing task is one `ModelSpec` below."""

    name: str  # the task's one word in code: it names its engine, trainer and inference modules
    mode: str  # the `predict --mode` that runs it, and its key in the weights folder's index.json
    # Photos per input: (1, 1) models take one image (B, 3, H, W); the others a set
    # (B, K, 3, H, W) and its mask (B, 1, H, W), K in the range (None: no upper limit).
    images: tuple[int, int | None]
    outputs: tuple[str, ...]  # what every model of the task returns from forward()
    estimator: str  # "module:Class" running a shipped model on photos: Class(path=None, device=...)
    # module with config_from_args(args, **common), train(config), export(ckpt, target)
    trainer: str

    def load_estimator(self) -> type:
        module, _, name = self.estimator.partition(":")
        return getattr(importlib.import_module(module), name)

    def load_trainer(self):
        return importlib.import_module(self.trainer)


MULTILIGHT = Task(
    "multilight", mode="multi", images=(1, None),
    outputs=("normal", "light_dir", "light_int", "logits"),
    estimator="photonormals.inference.multilight:MultiLightModel",
    trainer="photonormals.training.multilight",
)
PORTRAIT = Task(
    "portrait", mode="single", images=(1, 1),
    outputs=("normal", "shading", "log_shading", "mask_logits"),
    estimator="photonormals.inference.portrait:PortraitModel",
    trainer="photonormals.training.portrait",
)
MATERIAL = Task(
    "material", mode="material", images=(1, 1),
    outputs=("normal", "log_shading", "roughness"),
    estimator="photonormals.inference.material:MaterialModel",
    trainer="photonormals.training.material",
)
TASKS = (MULTILIGHT, PORTRAIT, MATERIAL)
# A helper runs inside another task's inference and is no predict mode of its own: it is not
# listed as a mode (health, --mode) nor trained through `photonormals train`; its own module
# trains it (``python -m`` the trainer). Its weights are keyed by its name in index.json.
LIGHT_SIDE = Task(
    "light_side", mode="light_side", images=(1, 1), outputs=("logits",),
    estimator="photonormals.inference.light_side:LightSideDetector",
    trainer="photonormals.training.light_side",
)
HELPER_TASKS = (LIGHT_SIDE,)


@dataclass(frozen=True)
class ModelSpec:
    """One registered model: its task, its builder, its shipped file, how it trains and runs."""

    name: str
    task: Task
    build: str  # "module:function" in this package, called with the config overrides
    weights: str | None = None  # its file in the weights folder; None: it does not ship
    flip_tta: bool = False  # run averaged with its mirror image, so its maps are mirror-equivariant
    teacher_forced: bool = False  # trained with the true (jittered) lights fed to its normal stage


_REGISTRY = {spec.name: spec for spec in (
    # SDPS-Net (Chen et al. 2019) at its published size, and with separable blocks. The two
    # stages learn apart: the normal stage on the true lights, jittered as the light stage's
    # errors will be, while the light stage learns to classify them.
    ModelSpec("sdps", MULTILIGHT, "sdps:sdps", "sdps.safetensors", teacher_forced=True),
    ModelSpec("sdps_lite", MULTILIGHT, "sdps_lite:sdps_lite", "sdps_lite.safetensors",
              teacher_forced=True),
    # One network with a shared encoder, trained end to end through its own light estimate.
    ModelSpec("fused", MULTILIGHT, "fused:fused", "fused.safetensors"),
    ModelSpec("fused_fast", MULTILIGHT, "fused:fused_fast", "fused_fast.safetensors"),
    # Flip averaging costs one more pass (~90 ms for a 512² photo on a 2-core CPU) and buys
    # ~0.5° on the face normals and ~0.013 mask IoU on held-out faces (docs/portrait).
    ModelSpec("portrait", PORTRAIT, "portrait:portrait", "portrait.safetensors", flip_tta=True),
    ModelSpec("portrait_lite", PORTRAIT, "portrait_lite:portrait_lite", "portrait_lite.safetensors",
              flip_tta=True),
    # A compact U-Net trained on the procedural material engine (synthetic/material).
    ModelSpec("material", MATERIAL, "material:material", "material.safetensors"),
    ModelSpec("material_fast", MATERIAL, "material:material_fast"),
    # Which side a material photo's light comes from (`--light-from auto`): an 84k-parameter
    # CNN scoring the photo's four quarter turns.
    ModelSpec("light_side", LIGHT_SIDE, "light_side:light_side", "light_side.safetensors"),
)}


def list_models(task: Task | None = None) -> list[str]:
    """Registered model names, of one task or all, in table order (a task's reference first)."""
    return [name for name, spec in _REGISTRY.items() if task is None or spec.task == task]


def model_spec(name: str) -> ModelSpec:
    if name not in _REGISTRY:
        raise UserError(f"unknown model {name!r}; available: {', '.join(list_models())}")
    return _REGISTRY[name]


def task_named(name: str) -> Task:
    for task in TASKS + HELPER_TASKS:
        if task.name == name:
            return task
    raise ModelNotAvailable(f"model not available: no model for {name!r}")


def resolve_config(name: str, defaults: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict:
    """Defaults updated by overrides; unknown keys are a UserError naming the valid ones."""
    unknown = sorted(set(overrides) - set(defaults))
    if unknown:
        raise UserError(
            f"model {name!r} has no option(s) {', '.join(unknown)}; valid: {', '.join(defaults)}"
        )
    return {**defaults, **overrides}


def create_model(name: str | Mapping[str, Any], **overrides: Any):
    """Build a registered model by name, or rebuild one from a saved ``model.config`` dict."""
    if isinstance(name, Mapping):
        config = dict(name)
        if "name" not in config:
            raise UserError("a model config needs a 'name' entry")
        name = config.pop("name")
        overrides = {**config, **overrides}
    spec = model_spec(name)
    module, _, builder = spec.build.partition(":")
    model = getattr(importlib.import_module(f"{__package__}.{module}"), builder)(**overrides)
    model.config = {"name": spec.name, **getattr(model, "config", {})}
    return model


def model_config(name: str | Mapping[str, Any], **overrides: Any) -> dict:
    """The full config ``create_model`` would use, without allocating weights (meta device)."""
    import torch

    with torch.device("meta"):
        return create_model(name, **overrides).config
