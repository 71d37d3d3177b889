"""HDRI world for the relight preview: Blender's bundled studio HDRIs or any file.

Orientation matches the backend's relight module: camera x = world X, y = world Z, z = world -Y,
and the HDRI rotation is a Mapping-node rotation about Z. The scene's previous world is kept so
it can be restored. Blender's bundled HDRIs (100-550 KB) are packed into the .blend: their files
live in the Blender install, a path that differs on every machine and version.
"""

from __future__ import annotations

import math
from pathlib import Path

import bpy

from .outputs import relative_to_blend

WORLD_NAME = "PhotoNormals HDRI"
TAG = "photonormals_world"
ENVIRONMENT, MAPPING, BACKGROUND = "PN Environment", "PN Mapping", "PN Background"


DEFAULT_HDRI = "studio"
IMAGE_TAG = "photonormals_hdri"


def studio_hdris() -> dict[str, Path]:
    """{name: path} of the HDRIs that ship with Blender (studio first, then city, courtyard...)."""
    folder = Path(bpy.utils.system_resource("DATAFILES")) / "studiolights" / "world"
    found = sorted(folder.glob("*.exr"), key=lambda p: (p.stem != DEFAULT_HDRI, p.stem))
    return {p.stem: p for p in found}


def resolve_hdri(name_or_file: str) -> Path:
    hdris = studio_hdris()
    if name_or_file in hdris:
        return hdris[name_or_file]
    path = Path(bpy.path.abspath(name_or_file)).expanduser()
    if not path.is_file():
        raise ValueError(
            f"HDRI {name_or_file!r} is neither a file nor one of Blender's: {', '.join(hdris)}"
        )
    return path


def _node(nodes, name, kind, location):
    node = nodes.get(name)
    if node is None or node.bl_idname != kind:
        if node is not None:
            nodes.remove(node)
        node = nodes.new(kind)
        node.name = node.label = name
        node.location = location
    return node


def hdri_image(name_or_file: str, blend_path: str = "") -> bpy.types.Image:
    """The HDRI as an image: a bundled one packed (reused once loaded), a file of the user's
    pointed to relative to blend_path when one is given."""
    path = resolve_hdri(name_or_file)
    bundled = name_or_file in studio_hdris()
    key = f"bundled:{name_or_file}" if bundled else str(path)
    for image in bpy.data.images:
        if image.get(IMAGE_TAG) == key:
            return image
    image = bpy.data.images.load(str(path), check_existing=False)
    image[IMAGE_TAG] = key
    if bundled:
        image.pack()
        image.filepath_raw = f"//{path.name}"  # where Unpack would write; never the install
        image.name = f"PhotoNormals {name_or_file}.exr"
    elif blend_path:
        image.filepath_raw = relative_to_blend(path, blend_path)
    return image


def set_hdri_world(scene: bpy.types.Scene, hdri: str, rotation_deg: float = 0.0,
                   strength: float = 1.0, blend_path: str = "") -> bpy.types.World:
    """Make the scene use the PhotoNormals HDRI world; remembers the world it replaces.

    blend_path: the .blend the file will be saved as, for a relative path to an HDRI file."""
    image = hdri_image(hdri, blend_path)
    world = bpy.data.worlds.get(WORLD_NAME) or bpy.data.worlds.new(WORLD_NAME)
    world[TAG] = True
    if world.node_tree is None:  # Blender 4.x: no tree until nodes are enabled
        world.use_nodes = True
    tree, nodes = world.node_tree, world.node_tree.nodes
    coords = _node(nodes, "PN Texture Coordinate", "ShaderNodeTexCoord", (-900, 300))
    mapping = _node(nodes, MAPPING, "ShaderNodeMapping", (-700, 300))
    env = _node(nodes, ENVIRONMENT, "ShaderNodeTexEnvironment", (-450, 300))
    background = nodes.get("Background") if BACKGROUND not in nodes else None
    if background is not None:
        background.name = background.label = BACKGROUND
    background = _node(nodes, BACKGROUND, "ShaderNodeBackground", (-150, 300))
    output = next((n for n in nodes if n.bl_idname == "ShaderNodeOutputWorld"), None) \
        or nodes.new("ShaderNodeOutputWorld")
    previous_image, env.image = env.image, image
    if previous_image is not None and previous_image != image and previous_image.users == 0 \
            and previous_image.get(IMAGE_TAG):
        bpy.data.images.remove(previous_image)
    tree.links.new(coords.outputs["Generated"], mapping.inputs["Vector"])
    tree.links.new(mapping.outputs["Vector"], env.inputs["Vector"])
    tree.links.new(env.outputs["Color"], background.inputs["Color"])
    tree.links.new(background.outputs["Background"], output.inputs["Surface"])
    world["photonormals_hdri"] = image[IMAGE_TAG]

    previous = scene.world
    if previous is not None and not previous.get(TAG):
        scene["photonormals_previous_world"] = previous  # an ID reference keeps it alive on save
    scene.world = world
    set_rotation(world, rotation_deg)
    set_strength(world, strength)
    return world


def set_rotation(world: bpy.types.World, rotation_deg: float) -> None:
    mapping = world.node_tree.nodes.get(MAPPING) if world and world.node_tree else None
    if mapping is not None:
        mapping.inputs["Rotation"].default_value = (0.0, 0.0, math.radians(rotation_deg))


def set_strength(world: bpy.types.World, strength: float) -> None:
    background = world.node_tree.nodes.get(BACKGROUND) if world and world.node_tree else None
    if background is not None:
        background.inputs["Strength"].default_value = strength


def restore_world(scene: bpy.types.Scene) -> bpy.types.World | None:
    """Put back the world the HDRI replaced (None if the scene had none)."""
    previous = scene.get("photonormals_previous_world")
    scene.world = previous
    if "photonormals_previous_world" in scene:
        del scene["photonormals_previous_world"]
    return previous


def eevee_engine() -> str:
    """EEVEE's engine id: 'BLENDER_EEVEE_NEXT' in Blender 4.2-4.x, 'BLENDER_EEVEE' from 5.0."""
    engines = bpy.types.RenderSettings.bl_rna.properties["engine"].enum_items.keys()
    return "BLENDER_EEVEE_NEXT" if "BLENDER_EEVEE_NEXT" in engines else "BLENDER_EEVEE"


def show_in_viewports(screen: bpy.types.Screen | None, shading_type: str,
                      scene: bpy.types.Scene | None = None) -> int:
    """Switch every 3D viewport of the screen to MATERIAL or RENDERED, with the scene world."""
    if (
        shading_type == "RENDERED"
        and scene is not None
        and scene.render.engine == "BLENDER_WORKBENCH"
    ):
        scene.render.engine = eevee_engine()  # Workbench would ignore the HDRI
    count = 0
    for area in getattr(screen, "areas", ()):
        if area.type != "VIEW_3D":
            continue
        for space in area.spaces:
            if space.type == "VIEW_3D":
                space.shading.type = shading_type
                space.shading.use_scene_world = True
                space.shading.use_scene_world_render = True
                count += 1
        area.tag_redraw()
    return count
