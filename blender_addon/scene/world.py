"""HDRI world for the relight preview: Blender's bundled studio HDRIs or any file.

Orientation matches the backend's relight module: camera x = world X, y = world Z, z = world -Y,
and the HDRI rotation is a Mapping-node rotation about Z. The scene's previous world is kept so
it can be restored.
"""

from __future__ import annotations

import math
from pathlib import Path

import bpy

WORLD_NAME = "PhotoNormals HDRI"
TAG = "photonormals_world"
ENVIRONMENT, MAPPING, BACKGROUND = "PN Environment", "PN Mapping", "PN Background"


def studio_hdris() -> dict[str, Path]:
    """{name: path} of the HDRIs that ship with Blender (studio, forest, city, ...)."""
    folder = Path(bpy.utils.system_resource("DATAFILES")) / "studiolights" / "world"
    return {p.stem: p for p in sorted(folder.glob("*.exr"))}


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


def set_hdri_world(scene: bpy.types.Scene, hdri: str, rotation_deg: float = 0.0,
                   strength: float = 1.0) -> bpy.types.World:
    """Make the scene use the PhotoNormals HDRI world; remembers the world it replaces."""
    path = resolve_hdri(hdri)
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
    if env.image is None or Path(bpy.path.abspath(env.image.filepath)) != path:
        env.image = bpy.data.images.load(str(path), check_existing=True)
    tree.links.new(coords.outputs["Generated"], mapping.inputs["Vector"])
    tree.links.new(mapping.outputs["Vector"], env.inputs["Vector"])
    tree.links.new(env.outputs["Color"], background.inputs["Color"])
    tree.links.new(background.outputs["Background"], output.inputs["Surface"])
    world["photonormals_hdri"] = str(path)

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
