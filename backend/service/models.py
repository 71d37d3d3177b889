"""Warm models: loaded once per (task, device) and kept for the life of the server.

On CUDA the network runs under autocast (bf16 by default): the pipeline around it still sees
float32 tensors, so nothing downstream changes.
"""

from __future__ import annotations

import threading

from ..device import SERVING_PRECISIONS
from ..errors import ModelNotAvailable, UserError
from ..models.registry import MULTILIGHT, TASKS, task_named
from ..models.weights import shipped_weights


class ModelCache:
    def __init__(self, precision: str = "auto", runtime: str = "auto", threads: int | None = None):
        if precision not in SERVING_PRECISIONS:
            raise UserError(
                f"unknown precision {precision!r}; use one of {', '.join(SERVING_PRECISIONS)}"
            )
        self.precision = precision
        self.runtime, self.threads = runtime, threads
        self._models: dict[tuple[str, str], object] = {}
        self._lock = threading.Lock()

    def get(self, task: str, device: str):
        """The model for a task on a device; the signature predict() expects of load_model."""
        key = (task, str(device))
        with self._lock:
            if key not in self._models:
                self._models[key] = self._load(task, str(device))
            return self._models[key]

    def loaded(self) -> list[str]:
        """"mode@device" per warm model (the health endpoint's names)."""
        return [f"{task_named(task).mode}@{device}" for task, device in self._models]

    def _load(self, task: str, device: str):
        import torch

        from ..predict import load_model_for  # the pipeline's own loader: new tasks come with it

        estimator = load_model_for(task, device, self.runtime, self.threads)
        dtype = self._autocast_dtype(torch.device(device))
        if dtype is not None and task == MULTILIGHT.name:
            estimator.model = _Autocast(estimator.model, dtype)
        return estimator

    def _autocast_dtype(self, device):
        import torch

        if device.type != "cuda" or self.precision == "fp32":
            return None
        return torch.float16 if self.precision == "fp16" else torch.bfloat16


class _Autocast:
    """Runs a multi-light model's two stages under autocast; hands float32 results back."""

    def __init__(self, model, dtype):
        self._model = model
        self._dtype = dtype
        self.config = model.config

    def estimate_lights(self, images, mask=None):
        import torch

        with torch.autocast("cuda", dtype=self._dtype):
            dirs, ints = self._model.estimate_lights(images, mask)
        return dirs.float(), ints.float()

    def estimate_normals(self, images, mask, dirs, ints):
        import torch

        with torch.autocast("cuda", dtype=self._dtype):
            normals = self._model.estimate_normals(images, mask, dirs, ints)
        return torch.nn.functional.normalize(normals.float(), dim=1)


def available_models() -> dict:
    """Per mode: whether the server can run it, and with which weights (nothing is loaded)."""
    models = {"calibrated": {"available": True, "weights": None}}
    for task in TASKS:
        try:
            models[task.mode] = {"available": True, "weights": shipped_weights(task).name}
        except ModelNotAvailable:
            models[task.mode] = {"available": False, "weights": None}
    return models
