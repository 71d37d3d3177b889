"""Checkpoints and shipped weights as safetensors: tensors plus JSON metadata, never pickles.

A shipped weight file holds the model's tensors and, in its metadata, the model config, so
`load_model` can rebuild the exact architecture. A training checkpoint adds the optimizer's
moments and the step counter, so training resumes where it stopped (a session may end at any
time; the next one picks up the file).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..errors import UserError


def save_weights(path: str | os.PathLike, model: torch.nn.Module, **metadata) -> None:
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    meta = {"config": json.dumps(model.config), **{k: json.dumps(v) for k, v in metadata.items()}}
    _save_atomic(path, tensors, meta)


def read_metadata(path: str | os.PathLike) -> dict:
    with safe_open(str(path), framework="pt") as f:
        return {k: json.loads(v) for k, v in (f.metadata() or {}).items()}


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> torch.nn.Module:
    """Rebuild a model from a weight file (config in its metadata) and load its tensors."""
    from ..models import create_model

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such weight file")
    meta = read_metadata(path)
    if "config" not in meta:
        raise UserError(f"{path.name}: no model config in the weight file's metadata")
    model = create_model(meta["config"])
    tensors = _load_tensors(path, prefix="")
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    if missing or unexpected:
        raise UserError(f"{path.name}: weights do not fit the model ({len(missing)} missing, {len(unexpected)} unexpected)")
    return model.to(device).eval()


def save_checkpoint(path, model, optimizer, step: int, extra: dict | None = None) -> None:
    tensors = {f"model.{k}": v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    opt_state = optimizer.state_dict()
    for index, state in opt_state["state"].items():
        for key, value in state.items():
            if torch.is_tensor(value):
                tensors[f"optim.{index}.{key}"] = value.detach().to("cpu").contiguous()
    meta = {
        "config": json.dumps(model.config),
        "step": json.dumps(step),
        "param_groups": json.dumps(opt_state["param_groups"]),
        "extra": json.dumps(extra or {}),
    }
    _save_atomic(path, tensors, meta)


def load_checkpoint(path, model, optimizer) -> tuple[int, dict]:
    """Restore model and optimizer in place; returns (step, extra)."""
    meta = read_metadata(path)
    if meta.get("config", {}).get("name") != model.config.get("name"):
        raise UserError(f"{Path(path).name} is a checkpoint of {meta.get('config', {}).get('name')!r}, not {model.config['name']!r}")
    model.load_state_dict(_load_tensors(path, "model."))
    state: dict[int, dict] = {}
    for key, value in _load_tensors(path, "optim.").items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    return int(meta["step"]), meta.get("extra", {})


def _load_tensors(path, prefix: str) -> dict[str, torch.Tensor]:
    with safe_open(str(path), framework="pt") as f:
        return {k[len(prefix):]: f.get_tensor(k) for k in f.keys() if k.startswith(prefix)}  # noqa: SIM118 (safe_open has no __iter__)


def _save_atomic(path, tensors, meta) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)


def start_run(name: str, run_dir, model_name: str, overrides: dict, lr: float, device,
              init: str | None = None):
    """(model, AdamW optimizer, step, checkpoint path) for a training run: resumed from
    ``run_dir/name/last.safetensors`` when it exists, else fresh or warm-started from ``init``
    (whose step count it carries on)."""
    from ..models import create_model

    run = Path(run_dir) / name
    run.mkdir(parents=True, exist_ok=True)
    checkpoint = run / "last.safetensors"
    model = create_model(model_name, **overrides).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    step = 0
    if checkpoint.is_file():
        step, _ = load_checkpoint(checkpoint, model, optimizer)
        print(f"resumed {model_name} at step {step} from {checkpoint}")
    elif init:
        model.load_state_dict(load_model(init).state_dict())
        # Count the steps the shipped weights already had, so the model card stays true.
        step = int(read_metadata(init).get("steps", 0))
        print(f"initialised {model_name} from {init} (step {step})")
    return model, optimizer, step, checkpoint
