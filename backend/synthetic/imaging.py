"""sRGB and 8-bit codes as our image reader decodes them, in torch, for both engines' cameras.

The network only ever sees linear light. For a real 8-bit photo the reader decodes sRGB codes to
linear (``photonormals.io.images``), so an engine's camera that ends in 8-bit codes decodes them
with the same table the reader effectively uses (``photonormals.io.colorspace.srgb_to_linear``
of code / 255 in float32): the training images are exactly what a real photo would give.
"""

from __future__ import annotations

import numpy as np
import torch

from ..io.colorspace import srgb_to_linear as _np_srgb_to_linear

SRGB8_TABLE = torch.from_numpy(
    _np_srgb_to_linear(np.arange(256, dtype=np.float32) / np.float32(255.0))
)


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    """sRGB (IEC 61966-2-1) decode, torch twin of ``photonormals.io.colorspace``."""
    return torch.where(x <= 0.04045, x / 12.92, ((x.clamp_min(0.0) + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    """sRGB encode of linear values, clipped to [0, 1] first, as ``photonormals.io.colorspace``."""
    x = x.clamp(0.0, 1.0)
    curve = x.clamp_min(0.0031308).pow_(1 / 2.4).mul_(1.055).sub_(0.055)
    return torch.where(x <= 0.0031308, x * 12.92, curve)


def srgb8_codes(x: torch.Tensor) -> torch.Tensor:
    """Linear values -> 8-bit sRGB codes (int64), clipped as a camera clips."""
    return (linear_to_srgb(x) * 255.0).round().long()


def decode_srgb8(codes: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """8-bit sRGB codes -> linear values, exactly as the image reader decodes them."""
    return SRGB8_TABLE.to(device=codes.device, dtype=dtype)[codes.long()]
