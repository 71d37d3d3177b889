"""A PNG writer for 8- and 16-bit RGBA (Blender's Image.save() writes a float image as 8 bits).

No bpy here: numpy in, file out. Only the standard library's zlib is needed.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """Linear light in [0, 1] -> the sRGB transfer curve, as Blender writes an sRGB image."""
    x = np.clip(linear, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_png(path: Path, rgba: np.ndarray, bits: int = 8) -> None:
    """rgba: (H, W, 4) floats in [0, 1], rows top-down; bits 8 or 16."""
    if bits not in (8, 16):
        raise ValueError(f"PNG holds 8 or 16 bits per channel, not {bits}")
    height, width, channels = rgba.shape
    if channels != 4:
        raise ValueError(f"expected RGBA pixels, got {channels} channels")
    top = 255 if bits == 8 else 65535
    values = np.round(np.clip(rgba, 0.0, 1.0) * top).astype(">u1" if bits == 8 else ">u2")
    rows = values.reshape(height, width * 4).view(np.uint8).reshape(height, -1)
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1).tobytes()  # filter 0
    header = struct.pack(">IIBBBBB", width, height, bits, 6, 0, 0, 0)  # colour type 6: RGBA
    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
                           + _chunk(b"IDAT", zlib.compress(raw, 6)) + _chunk(b"IEND", b""))
