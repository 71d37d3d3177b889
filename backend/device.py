"""Which torch device a learned model runs on."""

from __future__ import annotations

DEVICES = ("auto", "cpu", "cuda")


def pick_device(name: str = "auto"):
    import torch

    from .errors import UserError

    if name not in DEVICES and not str(name).startswith("cuda:"):
        raise UserError(f"unknown device {name!r}; use one of {', '.join(DEVICES)}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(name).startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {name} asked for, but torch sees no CUDA GPU")
    return torch.device(name)
