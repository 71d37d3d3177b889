"""sRGB transfer functions (IEC 61966-2-1). Photometric maths only ever sees linear light."""

import numpy as np


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def reencode_srgb8(x: np.ndarray) -> np.ndarray:
    """Linear values as an 8-bit sRGB camera file would give them back: encode, round, decode."""
    return srgb_to_linear(np.round(linear_to_srgb(x) * 255.0) / 255.0)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    x = np.clip(np.asarray(x, dtype=np.float32), 0.0, 1.0)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * x ** (1 / 2.4) - 0.055).astype(np.float32)
