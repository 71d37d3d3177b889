"""The PhotoNormals material: Principled BSDF fed by the albedo, normal, mask, height and
roughness maps; for a surface material, a UV Mapping node repeats them (tiling).

Every node the add-on creates carries a fixed name ("PN ...") and the custom property
`photonormals`, so a re-run finds and updates its own nodes instead of adding new ones, and
leaves any node the user added alone.
"""

from __future__ import annotations

import bpy

TAG = "photonormals"
PRINCIPLED, OUTPUT = "PN Principled BSDF", "PN Material Output"
ALBEDO, NORMAL, MASK, HEIGHT = "PN Albedo", "PN Normal", "PN Mask", "PN Height"
NORMAL_MAP, DISPLACEMENT = "PN Normal Map", "PN Displacement"
ROUGHNESS, UV, MAPPING = "PN Roughness", "PN Texture Coordinate", "PN Mapping"
DX_SPLIT, DX_FLIP, DX_JOIN = "PN DirectX Separate", "PN DirectX Flip Green", "PN DirectX Combine"
OWNED = (PRINCIPLED, OUTPUT, ALBEDO, NORMAL, MASK, HEIGHT, NORMAL_MAP, DISPLACEMENT,
         DX_SPLIT, DX_FLIP, DX_JOIN, ROUGHNESS, UV, MAPPING)


PREVIOUS = "photonormals_previous_material"


def material_for(obj: bpy.types.Object, name: str) -> bpy.types.Material:
    """The object's PhotoNormals material (reused on a re-run), else a new one in slot 0.

    The material it replaces is kept on the object (an ID property holds a user, so it survives
    saving) for Restore Material."""
    for slot in obj.material_slots:
        if slot.material is not None and slot.material.get(TAG):
            return slot.material
    material = bpy.data.materials.new(f"PhotoNormals {name}")
    material[TAG] = name
    if obj.material_slots:
        replaced = obj.material_slots[0].material
        if replaced is not None:
            obj[PREVIOUS] = replaced
        obj.material_slots[0].material = material
    else:
        obj.data.materials.append(material)
    return material


def restore_material(obj: bpy.types.Object) -> bpy.types.Material | None:
    """Put back the material that material_for replaced; returns it (None if there was none)."""
    previous = obj.get(PREVIOUS)
    if previous is None or not obj.material_slots:
        return None
    current = obj.material_slots[0].material
    obj.material_slots[0].material = previous
    del obj[PREVIOUS]
    if current is not None and current.get(TAG) and current.users == 0:
        bpy.data.materials.remove(current)
    return previous


def _node(nodes, name: str, kind: str, location: tuple[float, float]):
    node = nodes.get(name)
    if node is not None and node.bl_idname != kind:
        nodes.remove(node)
        node = None
    if node is None:
        node = nodes.new(kind)
        node.name = node.label = name
        node[TAG] = True
        node.location = location
    return node


def _link(tree, output, socket) -> None:
    for link in list(socket.links):
        tree.links.remove(link)
    tree.links.new(output, socket)


def _image_node(nodes, name, image, location):
    node = _node(nodes, name, "ShaderNodeTexImage", location)
    node.image = image
    return node


def _drop(nodes, *names) -> None:
    for name in names:
        if name in nodes:
            nodes.remove(nodes[name])


def wire(material: bpy.types.Material, maps: dict[str, bpy.types.Image], *, strength: float = 1.0,
         directx: bool = False, displacement_scale: float | None = None,
         tiling: float | None = None) -> None:
    """Link the maps as specified; maps has 'albedo', 'normal', optional 'mask', 'height' and
    'roughness'. ``tiling``: repeats of the textures across the UVs (a Mapping node's scale)."""
    if material.node_tree is None:  # Blender 4.x: no tree until nodes are enabled
        material.use_nodes = True
    tree, nodes = material.node_tree, material.node_tree.nodes
    # A fresh material comes with an unnamed Principled BSDF and output: take them over once.
    if not any(node.get(TAG) for node in nodes):
        for node in list(nodes):
            if node.bl_idname in ("ShaderNodeBsdfPrincipled", "ShaderNodeOutputMaterial"):
                nodes.remove(node)
    bsdf = _node(nodes, PRINCIPLED, "ShaderNodeBsdfPrincipled", (0, 300))
    output = _node(nodes, OUTPUT, "ShaderNodeOutputMaterial", (350, 300))
    output.is_active_output = True
    _link(tree, bsdf.outputs["BSDF"], output.inputs["Surface"])

    albedo = _image_node(nodes, ALBEDO, maps["albedo"], (-700, 500))
    _link(tree, albedo.outputs["Color"], bsdf.inputs["Base Color"])

    normal = _image_node(nodes, NORMAL, maps["normal"], (-900, 150))
    normal_map = _node(nodes, NORMAL_MAP, "ShaderNodeNormalMap", (-250, 100))
    normal_map.space = "TANGENT"
    normal_map.inputs["Strength"].default_value = strength
    color = normal.outputs["Color"]
    if directx:  # DirectX maps store -y: flip green back for Blender's OpenGL convention
        split = _node(nodes, DX_SPLIT, "ShaderNodeSeparateColor", (-650, 150))
        flip = _node(nodes, DX_FLIP, "ShaderNodeMath", (-480, 150))
        join = _node(nodes, DX_JOIN, "ShaderNodeCombineColor", (-420, 0))
        flip.operation = "SUBTRACT"
        flip.inputs[0].default_value = 1.0
        _link(tree, color, split.inputs["Color"])
        _link(tree, split.outputs[1], flip.inputs[1])
        _link(tree, split.outputs[0], join.inputs[0])
        _link(tree, flip.outputs[0], join.inputs[1])
        _link(tree, split.outputs[2], join.inputs[2])
        color = join.outputs["Color"]
    else:
        _drop(nodes, DX_SPLIT, DX_FLIP, DX_JOIN)
    _link(tree, color, normal_map.inputs["Color"])
    _link(tree, normal_map.outputs["Normal"], bsdf.inputs["Normal"])

    if maps.get("mask") is not None:
        mask = _image_node(nodes, MASK, maps["mask"], (-700, -200))
        _link(tree, mask.outputs["Color"], bsdf.inputs["Alpha"])
        if hasattr(material, "surface_render_method"):
            material.surface_render_method = "DITHERED"
        else:
            material.blend_method = "HASHED"
    else:
        _drop(nodes, MASK)

    if maps.get("height") is not None and displacement_scale is not None:
        height = _image_node(nodes, HEIGHT, maps["height"], (-250, -300))
        displacement = _node(nodes, DISPLACEMENT, "ShaderNodeDisplacement", (100, -200))
        displacement.inputs["Scale"].default_value = displacement_scale
        displacement.inputs["Midlevel"].default_value = 0.0  # the lowest point stays on the surface
        _link(tree, height.outputs["Color"], displacement.inputs["Height"])
        _link(tree, displacement.outputs["Displacement"], output.inputs["Displacement"])
        if hasattr(material, "displacement_method"):
            material.displacement_method = "BOTH"
    else:
        _drop(nodes, HEIGHT, DISPLACEMENT)

    if maps.get("roughness") is not None:
        roughness = _image_node(nodes, ROUGHNESS, maps["roughness"], (-700, -450))
        _link(tree, roughness.outputs["Color"], bsdf.inputs["Roughness"])
    else:
        _drop(nodes, ROUGHNESS)

    images = [nodes[name] for name in (ALBEDO, NORMAL, MASK, HEIGHT, ROUGHNESS) if name in nodes]
    if tiling is not None:
        uv = _node(nodes, UV, "ShaderNodeTexCoord", (-1400, 300))
        mapping = _node(nodes, MAPPING, "ShaderNodeMapping", (-1200, 300))
        _link(tree, uv.outputs["UV"], mapping.inputs["Vector"])
        for node in images:
            node.extension = "REPEAT"
            _link(tree, mapping.outputs["Vector"], node.inputs["Vector"])
        set_tiling(material, tiling)
    else:
        for node in images:
            for link in list(node.inputs["Vector"].links):
                tree.links.remove(link)
        _drop(nodes, UV, MAPPING)


def set_tiling(material: bpy.types.Material, tiling: float) -> None:
    node = material.node_tree.nodes.get(MAPPING) if material.node_tree else None
    if node is not None:
        node.inputs["Scale"].default_value = (tiling, tiling, 1.0)


def set_strength(material: bpy.types.Material, strength: float) -> None:
    node = material.node_tree.nodes.get(NORMAL_MAP) if material.node_tree else None
    if node is not None:
        node.inputs["Strength"].default_value = strength
