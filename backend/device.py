"""Which torch device a learned model runs on, and in which precision it trains and serves."""

from __future__ import annotations

from contextlib import nullcontext

DEVICES = ("auto", "cpu", "cuda")
TRAINING_PRECISIONS = ("auto", "fp32", "bf16")  # fp16 would need loss scaling
SERVING_PRECISIONS = ("auto", "fp32", "bf16", "fp16")  # the network under CUDA autocast
# where a network's forward runs (inference/runtime.py)
RUNTIMES = ("auto", "torch", "onnx", "openvino")


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


def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bf16 in hardware (AMX or AVX512-BF16). Without it oneDNN
    emulates bf16, and autocast only costs time."""
    import torch

    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")  # private, so probed softly
    return any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)


def training_precision(device, precision: str = "auto") -> str:
    """"bf16" or "fp32" for a training run. auto: bf16 on a GPU, and on a CPU with bf16 hardware
    (an AMX Xeon runs the portrait nets' training steps 1.4x (lite) to 3.5x (portrait) faster
    under bf16 autocast); fp32 elsewhere. The weights and optimizer stay float32 either way."""
    from .errors import UserError

    if precision not in TRAINING_PRECISIONS:
        raise UserError(
            f"unknown precision {precision!r}; use one of {', '.join(TRAINING_PRECISIONS)}"
        )
    if precision != "auto":
        return precision
    return "bf16" if device.type == "cuda" or (device.type == "cpu" and cpu_has_bf16()) else "fp32"


def training_autocast(device, precision: str):
    """The autocast context a training step's forward pass runs in."""
    import torch

    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()
