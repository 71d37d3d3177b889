"""Shipped weights: where they live, and safetensors files that rebuild their own model.

A weight file holds a model's tensors and, in its metadata, the model config (JSON, with the
registry name), so `load_model` rebuilds the exact architecture; nothing loads pickles and
nothing is downloaded. Training checkpoints (optimizer state, resume) build on these files in
`training/checkpoint.py`; inference needs only this module.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..errors import ModelNotAvailable, UserError
from .registry import Task, create_model

# An installed copy finds the repository's weights/ beside the package source; a deployment
# can point PHOTONORMALS_WEIGHTS at any folder holding the same files.
DEFAULT_DIR = Path(__file__).resolve().parents[2] / "weights"
# The deployment's choice of model per mode: {"multi": "fused_fast.safetensors", "single": ...}.
INDEX = "index.json"


def weights_dir() -> Path:
    return Path(os.environ.get("PHOTONORMALS_WEIGHTS", DEFAULT_DIR))


def shipped_weights(task: Task) -> Path:
    """The weight file the weights folder's index names for the task's mode; ModelNotAvailable
    when it names none or the file is missing."""
    folder = weights_dir()
    index = folder / INDEX
    names = json.loads(index.read_text()) if index.is_file() else {}
    if task.mode not in names or not (folder / names[task.mode]).is_file():
        raise ModelNotAvailable(
            f"model not available: no shipped weights for {task.mode} mode in {folder}"
        )
    return folder / names[task.mode]


def save_weights(path: str | os.PathLike, model: torch.nn.Module, **metadata) -> None:
    """The model's tensors (float32) and its config, plus any JSON-able ``metadata``."""
    tensors = {
        k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()
    }
    meta = {"config": json.dumps(model.config), **{k: json.dumps(v) for k, v in metadata.items()}}
    save_safetensors(path, tensors, meta)


def read_metadata(path: str | os.PathLike) -> dict:
    with safe_open(str(path), framework="pt") as f:
        return {k: json.loads(v) for k, v in (f.metadata() or {}).items()}


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> torch.nn.Module:
    """Rebuild a model from a weight file (config in its metadata) and load its tensors."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such weight file")
    meta = read_metadata(path)
    if "config" not in meta:
        raise UserError(f"{path.name}: no model config in the weight file's metadata")
    model = create_model(meta["config"])
    missing, unexpected = model.load_state_dict(load_tensors(path), strict=False)
    if missing or unexpected:
        raise UserError(
            f"{path.name}: weights do not fit the model ({len(missing)} missing, "
            f"{len(unexpected)} unexpected)"
        )
    return model.to(device).eval()


def load_tensors(path: str | os.PathLike, prefix: str = "") -> dict[str, torch.Tensor]:
    """The file's tensors whose names start with ``prefix``, the prefix removed."""
    with safe_open(str(path), framework="pt") as f:
        keys = [k for k in f.keys() if k.startswith(prefix)]  # noqa: SIM118 (no __iter__)
        return {k[len(prefix) :]: f.get_tensor(k) for k in keys}


def save_safetensors(path: str | os.PathLike, tensors: dict, metadata: dict[str, str]) -> None:
    """Write atomically (temp file + rename): an interrupted save never leaves a broken file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    os.replace(tmp, path)
