"""Training checkpoints: a model's weights plus the optimizer's state and the step counter.

A checkpoint is a safetensors file like shipped weights (see `models.weights`), with the
optimizer's moments beside the model's tensors, so training resumes where it stopped (a session
may end at any time; the next one picks up the file).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..errors import UserError
from ..models import create_model
from ..models.weights import load_model, load_tensors, read_metadata, save_safetensors


def save_checkpoint(path, model, optimizer, step: int, extra: dict | None = None) -> None:
    tensors = {
        f"model.{k}": v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()
    }
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
    save_safetensors(path, tensors, meta)


def load_checkpoint(path, model, optimizer) -> tuple[int, dict]:
    """Restore model and optimizer in place; returns (step, extra)."""
    meta = read_metadata(path)
    if meta.get("config", {}).get("name") != model.config.get("name"):
        raise UserError(
            f"{Path(path).name} is a checkpoint of {meta.get('config', {}).get('name')!r}, "
            f"not {model.config['name']!r}"
        )
    model.load_state_dict(load_tensors(path, "model."))
    state: dict[int, dict] = {}
    for key, value in load_tensors(path, "optim.").items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    return int(meta["step"]), meta.get("extra", {})


def checkpoint_model(path) -> tuple[torch.nn.Module, int, dict]:
    """(model, step, extra) of a checkpoint, without its optimizer: what export ships."""
    meta = read_metadata(path)
    model = create_model(meta["config"])
    model.load_state_dict(load_tensors(path, "model."))
    return model, int(meta["step"]), meta.get("extra", {})


def start_run(name: str, run_dir, model_name: str, overrides: dict, lr: float, device,
              init: str | None = None, steps: int | None = None):
    """(model, AdamW optimizer, step, checkpoint path) for a training run: resumed from
    ``run_dir/name/last.safetensors`` when it exists, else fresh or warm-started from ``init``
    (whose step count it carries on; ``steps``, the run's last step, is checked against it)."""
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
        if steps is not None and step >= steps // 2:
            # The schedule counts from step 0 (so a resumed run stays on its curve): a warm
            # start near --steps begins at the cosine's tail, a learning rate near its floor.
            print(f"warning: --steps {steps} is the step this run ends at and {init} starts it "
                  f"at {step}: the learning rate starts past the schedule's middle; for a full "
                  f"schedule pass --steps {step} + the steps to train, or a large --steps with "
                  "--minutes")
    return model, optimizer, step, checkpoint
