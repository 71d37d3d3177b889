"""Load generated maps as Blender images with the colour space each one needs."""

from __future__ import annotations

from pathlib import Path

import bpy

from .outputs import relative_to_blend

# Data maps must not be colour-managed; albedo is written sRGB-encoded.
COLORSPACE = {
    "normal.png": "Non-Color",
    "mask.png": "Non-Color",
    "height.png": "Non-Color",
    "shading.png": "Non-Color",
    "roughness.png": "Non-Color",
    "albedo.png": "sRGB",
}
TAG = "photonormals_map"


def load_map(path: Path, kind: str) -> bpy.types.Image:
    """Load (never reuse a stale cached copy of) the image and set its colour space."""
    image = bpy.data.images.load(str(path), check_existing=False)
    image.colorspace_settings.name = COLORSPACE.get(kind, "sRGB")
    image[TAG] = kind
    return image


def point_relative(image: bpy.types.Image, blend_path: str) -> None:
    """Store the image's file as '//'-relative to blend_path (no reload: same file)."""
    if image.source == "FILE" and image.packed_file is None and image.filepath_raw:
        absolute = Path(bpy.path.abspath(image.filepath_raw))
        image.filepath_raw = relative_to_blend(absolute, blend_path)


def use_relative_paths(context=None) -> bool:
    """Blender's File Paths > Relative Paths preference (on by default)."""
    return bool((context or bpy.context).preferences.filepaths.use_relative_paths)


def remove_unused(images) -> int:
    """Remove the add-on's own map images nobody uses any more (left over by a re-run)."""
    removed = 0
    for image in list(images):
        if image is not None and image.get(TAG) and image.users == 0:
            bpy.data.images.remove(image)
            removed += 1
    return removed


def pixels(image: bpy.types.Image):
    """The image's pixels as a float32 (H, W, channels) array, rows bottom-up (foreach_get)."""
    import numpy as np

    width, height = image.size
    values = np.empty(width * height * image.channels, np.float32)
    image.pixels.foreach_get(values)
    return values.reshape(height, width, image.channels)
