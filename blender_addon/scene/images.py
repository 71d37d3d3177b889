"""Load generated maps as Blender images with the colour space each one needs."""

from __future__ import annotations

from pathlib import Path

import bpy

# Data maps must not be colour-managed; albedo is written sRGB-encoded.
COLORSPACE = {
    "normal.png": "Non-Color",
    "mask.png": "Non-Color",
    "height.png": "Non-Color",
    "shading.png": "Non-Color",
    "roughness.png": "Non-Color",
    "albedo.png": "sRGB",
}


def load_map(path: Path, kind: str) -> bpy.types.Image:
    """Load (never reuse a stale cached copy of) the image and set its colour space."""
    image = bpy.data.images.load(str(path), check_existing=False)
    image.colorspace_settings.name = COLORSPACE.get(kind, "sRGB")
    image["photonormals_map"] = kind
    return image


def image_size(path: Path) -> tuple[int, int]:
    """Width and height read by Blender itself (no extra image library needed)."""
    image = bpy.data.images.load(str(path), check_existing=True)
    return tuple(image.size)
