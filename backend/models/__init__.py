"""Learned models: one file per family, built by name from the registry (`registry.py`).

    from photonormals.models import create_model, list_models
    model = create_model("fused_fast")          # any of list_models()
    rebuilt = create_model(model.config)       # the config names its model

What a model takes and returns is its task's contract (`registry.Task`): multi-light models map
a set of images (B, K, 3, H, W) and its mask to normals and per-image lights; portrait models map
one photo (B, 3, H, W) to normals, shading and a mask; material models map one photo of a
surface (B, 3, H, W) to its normals, shading and roughness. Importing this package does not import
torch; building a model does.
"""

from .registry import (
    HELPER_TASKS,
    LIGHT_SIDE,
    MATERIAL,
    MULTILIGHT,
    PORTRAIT,
    TASKS,
    ModelSpec,
    Task,
    create_model,
    list_models,
    model_config,
    model_spec,
    task_named,
)

__all__ = [
    "HELPER_TASKS",
    "LIGHT_SIDE",
    "MATERIAL",
    "MULTILIGHT",
    "PORTRAIT",
    "TASKS",
    "ModelSpec",
    "Task",
    "create_model",
    "list_models",
    "model_config",
    "model_spec",
    "task_named",
]
