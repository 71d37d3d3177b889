"""Randomness for the engines: every draw goes through the caller's ``torch.Generator`` and
lands on its device, so a seed reproduces a batch on a CPU and on a GPU alike."""

from __future__ import annotations

import torch


def uniform(shape, generator: torch.Generator) -> torch.Tensor:
    """Uniform [0, 1) samples of ``shape`` on the generator's device."""
    return torch.rand(shape, generator=generator, device=generator.device)
