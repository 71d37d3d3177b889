"""Cycles bakes of the PhotoNormals material to an image in the output folder.

Kinds: Combined, Diffuse (direct + indirect + colour), Albedo (the Diffuse pass with colour
only) and Normal. A bake is a session: prepare() sets Cycles up and adds a temporary target node,
then Blender's bake runs (synchronously with run(), or as Blender's own background job from the
Bake operator, with progress in the status bar and Esc to cancel), then finish() writes the file
or abort() drops it. Either way every render setting, the selection and the material are put
back as they were: the temporary node and image are removed.

The image has the photo's aspect (size = the long side), alpha from the PhotoNormals mask, and
is written as 8-bit PNG, 16-bit PNG (the default for normals) or float OpenEXR.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import bpy
import numpy as np

from . import images as image_maps
from .material import ALBEDO, MASK, NORMAL
from .outputs import new_temp_file
from .pngfile import srgb_encode, write_png

TARGET_NODE = "PN Bake Target"
KINDS = {
    # kind: (Cycles bake type, pass filter, colour data? (sRGB-encoded in a PNG))
    "combined": ("COMBINED", set(), True),
    "diffuse": ("DIFFUSE", {"DIRECT", "INDIRECT", "COLOR"}, True),
    "albedo": ("DIFFUSE", {"COLOR"}, True),
    "normal": ("NORMAL", set(), False),
}
# format: (file suffix, bits per channel)
FORMATS = {"PNG8": (".png", 8), "PNG16": (".png", 16), "EXR": (".exr", 32)}


def default_format(kind: str) -> str:
    """8-bit PNG for colour; 16-bit PNG for normals, where 8 bits band visibly."""
    return "PNG16" if kind == "normal" else "PNG8"


def suffix(fmt: str) -> str:
    return FORMATS[fmt][0]


def bake_size(material: bpy.types.Material, size: int) -> tuple[int, int]:
    """(width, height) with the maps' aspect and `size` on the long side; square without maps."""
    nodes = material.node_tree.nodes
    for name in (NORMAL, ALBEDO, MASK):
        node = nodes.get(name)
        image = getattr(node, "image", None)
        if image is not None and image.size[0] and image.size[1]:
            width, height = image.size
            if width >= height:
                return size, max(1, round(size * height / width))
            return max(1, round(size * width / height)), size
    return size, size


@dataclass
class BakeSession:
    obj: bpy.types.Object
    kind: str
    fmt: str
    image: bpy.types.Image
    material: bpy.types.Material
    arguments: dict
    saved: list = field(default_factory=list)  # (owner, attribute, value) to put back
    selection: list = field(default_factory=list)
    active: bpy.types.Object | None = None
    active_node: str | None = None
    closed: bool = False


def prepare(obj: bpy.types.Object, kind: str, size: int = 1024, margin: int = 16,
            samples: int = 16, fmt: str | None = None) -> BakeSession:
    """Set up a bake of obj's active material; the caller runs it and must finish() or abort()."""
    if kind not in KINDS:
        raise ValueError(f"Unknown bake {kind!r}: use one of {', '.join(KINDS)}")
    fmt = fmt or default_format(kind)
    if fmt not in FORMATS:
        raise ValueError(f"Unknown bake format {fmt!r}: use one of {', '.join(FORMATS)}")
    material = obj.active_material
    if material is None or material.node_tree is None:
        raise ValueError(f"{obj.name} has no node material to bake")
    bake_type, pass_filter, colour = KINDS[kind]
    scene, view_layer = bpy.context.scene, bpy.context.view_layer
    width, height = bake_size(material, size)
    image = bpy.data.images.new(f"PhotoNormals bake {kind}", width, height, alpha=True,
                                float_buffer=True)
    if not colour:
        image.colorspace_settings.name = "Non-Color"
    settings = [(scene.render, "engine"), (scene.cycles, "device"), (scene.cycles, "samples"),
                (scene.render.bake, "margin"), (scene.render.bake, "use_clear"),
                (scene.render.bake, "target")]
    nodes = material.node_tree.nodes
    session = BakeSession(
        obj, kind, fmt, image, material, {},
        saved=[(owner, name, getattr(owner, name)) for owner, name in settings],
        selection=[o for o in view_layer.objects if o.select_get()],
        active=view_layer.objects.active,
        active_node=nodes.active.name if nodes.active is not None else None,
    )
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = samples
    scene.render.bake.margin = margin
    target = nodes.get(TARGET_NODE) or nodes.new("ShaderNodeTexImage")
    target.name = target.label = TARGET_NODE
    target["photonormals"] = True
    target.location = (350, -200)
    target.image = image
    nodes.active = target  # Cycles bakes into the active image node
    for other in session.selection:
        other.select_set(False)
    obj.select_set(True)
    view_layer.objects.active = obj
    session.arguments = {"type": bake_type, "margin": margin, "use_clear": True,
                         "target": "IMAGE_TEXTURES"}
    if pass_filter:
        session.arguments["pass_filter"] = pass_filter
    return session


def context_override(session: BakeSession) -> dict:
    obj = session.obj
    return {"scene": bpy.context.scene, "view_layer": bpy.context.view_layer,
            "active_object": obj, "object": obj, "selected_objects": [obj],
            "selected_editable_objects": [obj]}


def run(session: BakeSession) -> None:
    """Blender's bake, synchronously (scripts, the headless batch, tests)."""
    with bpy.context.temp_override(**context_override(session)):
        result = bpy.ops.object.bake(**session.arguments)
    if "FINISHED" not in result:
        raise RuntimeError(f"Cycles bake of {session.kind} did not finish: {result}")


def _mask_alpha(material: bpy.types.Material, width: int, height: int) -> np.ndarray | None:
    """The PhotoNormals mask resampled (bilinear) to the bake's size; both are in UV space."""
    node = material.node_tree.nodes.get(MASK)
    image = getattr(node, "image", None)
    if image is None or not image.size[0]:
        return None
    mask = image_maps.pixels(image)[..., 0]
    rows = np.clip((np.arange(height) + 0.5) * mask.shape[0] / height - 0.5, 0, mask.shape[0] - 1)
    cols = np.clip((np.arange(width) + 0.5) * mask.shape[1] / width - 0.5, 0, mask.shape[1] - 1)
    r0, c0 = np.floor(rows).astype(int), np.floor(cols).astype(int)
    r1, c1 = np.minimum(r0 + 1, mask.shape[0] - 1), np.minimum(c0 + 1, mask.shape[1] - 1)
    fr, fc = (rows - r0)[:, None], (cols - c0)[None, :]
    top = mask[r0][:, c0] * (1 - fc) + mask[r0][:, c1] * fc
    bottom = mask[r1][:, c0] * (1 - fc) + mask[r1][:, c1] * fc
    return np.clip(top * (1 - fr) + bottom * fr, 0.0, 1.0)


def finish(session: BakeSession, out_path: Path) -> Path:
    """Write the baked image to out_path (atomically, with the user's umask), then clean up."""
    try:
        image = session.image
        width, height = image.size
        rgba = image_maps.pixels(image).copy()
        alpha = _mask_alpha(session.material, width, height)
        rgba[..., 3] = 1.0 if alpha is None else alpha
        out_path = Path(out_path)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        extension, bits = FORMATS[session.fmt]
        temp = new_temp_file(out_path, extension)
        try:
            if extension == ".png":
                colour = KINDS[session.kind][2]
                rgb = srgb_encode(rgba[..., :3]) if colour else rgba[..., :3]
                write_png(temp, np.concatenate([rgb, rgba[..., 3:]], axis=-1)[::-1], bits)
            else:
                image.pixels.foreach_set(rgba.ravel())
                image.filepath_raw = str(temp)
                image.file_format = "OPEN_EXR"
                image.save()
            os.replace(temp, out_path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return out_path
    finally:
        close(session)


def abort(session: BakeSession) -> None:
    """Nothing is written; everything is put back."""
    close(session)


def close(session: BakeSession) -> None:
    """Remove the temporary node and image; restore settings, selection and the active node."""
    if session.closed:
        return
    session.closed = True
    nodes = session.material.node_tree.nodes
    target = nodes.get(TARGET_NODE)
    if target is not None:
        nodes.remove(target)
    if session.active_node is not None and session.active_node in nodes:
        nodes.active = nodes[session.active_node]
    if session.image.name in bpy.data.images:
        bpy.data.images.remove(session.image)
    for owner, name, value in session.saved:
        setattr(owner, name, value)
    view_layer = bpy.context.view_layer
    try:
        session.obj.select_set(False)
        for obj in session.selection:
            if obj.name in view_layer.objects:
                obj.select_set(True)
        if session.active is None or session.active.name in view_layer.objects:
            view_layer.objects.active = session.active
    except ReferenceError:  # an object was deleted while Blender's bake job ran
        pass


def bake(obj: bpy.types.Object, kind: str, out_path: Path, size: int = 1024, margin: int = 16,
         samples: int = 16, fmt: str | None = None) -> Path:
    """Prepare, run and finish in one call: `kind` of obj's material into out_path (an .exr
    path means OpenEXR when fmt is not given)."""
    if fmt is None and Path(out_path).suffix.lower() == ".exr":
        fmt = "EXR"
    session = prepare(obj, kind, size, margin, samples, fmt)
    try:
        run(session)
    except BaseException:
        abort(session)
        raise
    return finish(session, out_path)
