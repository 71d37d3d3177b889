"""Fetched maps -> textures in the output folder -> loaded images -> plane or object + material."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import bpy

from . import images as image_maps
from .material import OWNED, material_for, wire
from .outputs import publish
from .plane import photo_plane, select_only

IMAGE_MAPS = ("albedo", "normal", "mask", "height", "roughness")
# What the add-on copies next to the .blend: the maps the material uses, the light estimate and
# the run's report. normal.npy, shading.png and height.exr stay in the backend's result (the
# batch keeps everything: a pipeline may want them).
USED_FILES = ("albedo.png", "normal.png", "mask.png", "height.png", "roughness.png",
              "lights.json", "report.json")
NO_HEIGHT_NOTE = ("The backend returned no height map, so displacement was skipped "
                  "(`photonormals height` on the output folder makes one)")
NO_FACE_NOTE = ("No face found in the photo: the whole frame was used, so the maps may be poor. "
                "Crop the photo around the face, or use Multi-Light for objects")


@dataclass
class Imported:
    files: dict[str, Path]
    images: dict[str, bpy.types.Image]
    obj: bpy.types.Object
    material: bpy.types.Material
    notes: list[str] = field(default_factory=list)


@dataclass
class Placement:
    """Where a new photo plane goes and who gets selected: the active collection, the 3D cursor,
    the view layer; blend_path makes the texture paths '//'-relative to that .blend."""

    collection: bpy.types.Collection | None = None
    location: tuple[float, float, float] | None = None
    view_layer: bpy.types.ViewLayer | None = None
    blend_path: str = ""


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
    placement: Placement | None = None,
    keep: tuple[str, ...] | None = USED_FILES,
    tiling: float | None = None,
) -> Imported:
    """Publish the fetched files (those in `keep`; None: all) under a fresh prefix, wire them up.

    target=None builds (or reuses) the photo plane for `name`; otherwise the maps go onto target,
    which must be a mesh with UVs. tiling (a material's repeats across the UVs) adds a UV
    Mapping node in front of every texture.
    """
    available = {Path(f).name for f in fetched}
    for required in ("normal.png", "albedo.png"):
        if required not in available:
            raise ValueError(f"The backend result has no {required}")
    check_target(target)
    chosen = [Path(f) for f in fetched if keep is None or Path(f).name in keep]
    files = publish(chosen, folder, name)
    return wire_files(scene, files, name, target=target, strength=strength, directx=directx,
                      displacement_scale=displacement_scale, placement=placement, tiling=tiling)


def check_target(target: bpy.types.Object | None) -> None:
    if target is not None and (target.type != "MESH" or not target.data.uv_layers):
        raise ValueError(
            f"{target.name} is not a mesh with a UV map: pick a mesh or use a photo plane"
        )


def wire_files(
    scene: bpy.types.Scene,
    files: dict[str, Path],
    name: str,
    *,
    target: bpy.types.Object | None = None,
    strength: float = 1.0,
    directx: bool = False,
    displacement_scale: float | None = None,
    placement: Placement | None = None,
    tiling: float | None = None,
) -> Imported:
    """Load maps already on disk ({"normal.png": path, ...}) onto the photo plane or target."""
    check_target(target)
    placement = placement or Placement()
    images = {kind: image_maps.load_map(files[f"{kind}.png"], f"{kind}.png")
              for kind in IMAGE_MAPS if f"{kind}.png" in files}
    if placement.blend_path:
        for image in images.values():
            image_maps.point_relative(image, placement.blend_path)
    notes = notes_from_report(files.get("report.json"))
    if target is None:
        width, height = images["normal"].size
        target = photo_plane(scene, name, width / height, placement.collection,
                             placement.location)
    material = material_for(target, name)
    replaced = [node.image for node in material.node_tree.nodes
                if node.name in OWNED and getattr(node, "image", None) is not None] \
        if material.node_tree else []
    if displacement_scale is not None and "height" not in images:
        notes.append(NO_HEIGHT_NOTE)
    wire(material, images, strength=strength, directx=directx,
         displacement_scale=displacement_scale, tiling=tiling)
    image_maps.remove_unused(replaced)  # the previous run's images, now used by nothing
    if placement.view_layer is not None:
        select_only(placement.view_layer, target)
    return Imported(files, images, target, material, notes)


def notes_from_report(path: Path | None) -> list[str]:
    """What the panel should say about a finished run, from the backend's report.json."""
    if path is None:
        return []
    try:
        report = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return []
    notes = []
    if report.get("face_found") is False:
        notes.append(NO_FACE_NOTE)
    return notes


def find_maps(path: Path) -> tuple[str, dict[str, Path]]:
    """A set of maps on disk from any of its files or its folder: `<prefix>_normal.png` and its
    siblings (what the add-on and the batch write) or a predict folder's `normal.png`.
    Returns (name, {"normal.png": path, ...}); ValueError when there is no normal map."""
    path = Path(path)
    if path.is_dir():
        candidates = sorted(path.glob("*normal.png"), key=lambda p: p.stat().st_mtime)
        if not candidates:
            raise ValueError(f"{path} holds no normal map (*normal.png)")
        path = candidates[-1]  # the newest run
    stem = path.name
    for kind in USED_FILES:
        if stem.endswith(kind):
            prefix = stem[: -len(kind)]
            break
    else:
        raise ValueError(f"{path.name} is not a PhotoNormals map (name_normal.png, ...)")
    files = {kind: path.parent / f"{prefix}{kind}" for kind in USED_FILES
             if (path.parent / f"{prefix}{kind}").is_file()}
    if "normal.png" not in files or "albedo.png" not in files:
        raise ValueError(f"{path.parent} has no {prefix}normal.png and {prefix}albedo.png pair")
    name = prefix.rstrip("_") or path.parent.name
    return name, files


def set_name(photos: list[str]) -> str:
    """A readable name for a photo set: the photo's stem, or the folder of a multi-light set."""
    first = Path(photos[0])
    if len(photos) == 1:
        return first.stem
    return first.parent.name or first.stem
