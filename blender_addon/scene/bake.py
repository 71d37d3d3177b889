"""Cycles bakes of the PhotoNormals material to an image in the output folder.

Kinds: Combined, Diffuse (direct + indirect + colour), Albedo (the Diffuse pass with colour
only) and Normal. Runs headless on the CPU with few samples.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import bpy

TARGET_NODE = "PN Bake Target"
KINDS = {
    # kind: (Cycles bake type, pass filter, colour space of the result)
    "combined": ("COMBINED", set(), "sRGB"),
    "diffuse": ("DIFFUSE", {"DIRECT", "INDIRECT", "COLOR"}, "sRGB"),
    "albedo": ("DIFFUSE", {"COLOR"}, "sRGB"),
    "normal": ("NORMAL", set(), "Non-Color"),
}


def _setup_cycles(scene: bpy.types.Scene, samples: int) -> None:
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = samples
    if hasattr(scene.cycles, "use_denoising"):
        scene.cycles.use_denoising = False


def bake(obj: bpy.types.Object, kind: str, out_path: Path, size: int = 1024, margin: int = 16,
         samples: int = 16) -> Path:
    """Bake `kind` of obj's active material into a size x size PNG at out_path (atomic write)."""
    if kind not in KINDS:
        raise ValueError(f"Unknown bake {kind!r}: use one of {', '.join(KINDS)}")
    material = obj.active_material
    if material is None or material.node_tree is None:
        raise ValueError(f"{obj.name} has no node material to bake")
    bake_type, pass_filter, colorspace = KINDS[kind]
    scene = bpy.context.scene
    _setup_cycles(scene, samples)
    image = bpy.data.images.new(f"PhotoNormals bake {kind}", size, size, alpha=False)
    image.colorspace_settings.name = colorspace
    nodes = material.node_tree.nodes
    target = nodes.get(TARGET_NODE) or nodes.new("ShaderNodeTexImage")
    target.name = target.label = TARGET_NODE
    target["photonormals"] = True
    target.location = (350, -200)
    target.image = image
    nodes.active = target  # Cycles bakes into the active image node

    view_layer = bpy.context.view_layer
    for other in view_layer.objects:
        other.select_set(False)
    obj.select_set(True)
    view_layer.objects.active = obj
    scene.render.bake.margin = margin
    arguments = {"type": bake_type, "margin": margin, "use_clear": True, "target": "IMAGE_TEXTURES"}
    if pass_filter:
        arguments["pass_filter"] = pass_filter
    with bpy.context.temp_override(scene=scene, view_layer=view_layer, active_object=obj,
                                   object=obj, selected_objects=[obj],
                                   selected_editable_objects=[obj]):
        result = bpy.ops.object.bake(**arguments)
    if "FINISHED" not in result:
        raise RuntimeError(f"Cycles bake of {kind} did not finish: {result}")

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{out_path.stem}.", suffix=".png", dir=out_path.parent)
    os.close(handle)
    try:
        image.filepath_raw = temp
        image.file_format = "PNG"
        image.save()
        os.replace(temp, out_path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    image.filepath_raw = str(out_path)
    image.name = out_path.name
    return out_path
