"""Fetched maps -> textures in the output folder -> loaded images -> plane or object + material."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import bpy

from .images import load_map
from .material import material_for, wire
from .outputs import publish
from .plane import photo_plane

IMAGE_MAPS = ("albedo", "normal", "mask", "height", "shading", "roughness")
NO_HEIGHT_NOTE = ("The backend returned no height map, so displacement was skipped "
                  "(`photonormals height` on the output folder makes one)")


@dataclass
class Imported:
    files: dict[str, Path]
    images: dict[str, bpy.types.Image]
    obj: bpy.types.Object
    material: bpy.types.Material
    notes: list[str] = field(default_factory=list)


def import_maps(
    scene: bpy.types.Scene,
    fetched: list[Path],
    folder: Path,
    name: str,
    *,
    target: bpy.types.Object | None = None,
    strength: float = 1.0,
    directx: bool = False,
    displacement_scale: float | None = None,
    tiling: float | None = None,
) -> Imported:
    """Publish the fetched files under a fresh prefix and wire them up.

    target=None builds (or reuses) the photo plane for `name`; otherwise the maps go onto target,
    which must be a mesh with UVs. tiling (a material's repeats across the UVs) adds a UV
    Mapping node in front of every texture.
    """
    available = {Path(f).name for f in fetched}
    for required in ("normal.png", "albedo.png"):
        if required not in available:
            raise ValueError(f"The backend result has no {required}")
    if target is not None and (target.type != "MESH" or not target.data.uv_layers):
        raise ValueError(
            f"{target.name} is not a mesh with a UV map: pick a mesh or use a photo plane"
        )
    files = publish([Path(f) for f in fetched], folder, name)
    images = {kind: load_map(files[f"{kind}.png"], f"{kind}.png")
              for kind in IMAGE_MAPS if f"{kind}.png" in files}
    notes = []
    if target is None:
        width, height = images["normal"].size
        target = photo_plane(scene, name, width / height)
    material = material_for(target, name)
    if displacement_scale is not None and "height" not in images:
        notes.append(NO_HEIGHT_NOTE)
    wire(material, images, strength=strength, directx=directx,
         displacement_scale=displacement_scale, tiling=tiling)
    return Imported(files, images, target, material, notes)


def set_name(photos: list[str]) -> str:
    """A readable name for a photo set: the photo's stem, or the folder of a multi-light set."""
    first = Path(photos[0])
    if len(photos) == 1:
        return first.stem
    return first.parent.name or first.stem
