"""The photo plane: upright, facing -Y, with the photo's aspect ratio.

The backend's camera frame is x = world X, y = world Z, z = world -Y (Blender's front view).
With U along +X and V along +Z, the plane's tangent space is exactly the camera frame, so the
camera-space normal map plugs into a tangent-space Normal Map node unchanged.
"""

from __future__ import annotations

import bpy

TAG = "photonormals_plane"


def build_plane_mesh(mesh: bpy.types.Mesh, aspect: float, height: float = 2.0) -> None:
    half_w, half_h = aspect * height / 2.0, height / 2.0
    mesh.clear_geometry()
    mesh.from_pydata(
        [
            (-half_w, 0.0, -half_h),
            (half_w, 0.0, -half_h),
            (half_w, 0.0, half_h),
            (-half_w, 0.0, half_h),
        ],
        [],
        [(0, 1, 2, 3)],  # this winding makes the face normal -Y
    )
    uv = mesh.uv_layers.new(name="UVMap") if not mesh.uv_layers else mesh.uv_layers[0]
    uv.data.foreach_set("uv", (0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0))
    mesh.update()


def photo_plane(scene: bpy.types.Scene, name: str, aspect: float,
                collection: bpy.types.Collection | None = None,
                location=None) -> bpy.types.Object:
    """The plane for this photo set: reused (resized, left where the user put it) when it exists,
    else created at `location` (the 3D cursor) in `collection` (the active one)."""
    for obj in scene.objects:
        if obj.get(TAG) == name and obj.type == "MESH":
            build_plane_mesh(obj.data, aspect)
            return obj
    mesh = bpy.data.meshes.new(f"PhotoNormals {name}")
    build_plane_mesh(mesh, aspect)
    obj = bpy.data.objects.new(f"PhotoNormals {name}", mesh)
    obj[TAG] = name
    if location is not None:
        obj.location = tuple(location)
    (collection or scene.collection).objects.link(obj)
    return obj


def select_only(view_layer: bpy.types.ViewLayer, obj: bpy.types.Object) -> None:
    """Make obj the only selected object and the active one (what Bake and the user act on)."""
    for other in view_layer.objects:
        if other.select_get(view_layer=view_layer):
            other.select_set(False, view_layer=view_layer)
    try:  # select_set also syncs the view layer with a collection the object just joined
        obj.select_set(True, view_layer=view_layer)
    except RuntimeError:  # not in this view layer (an excluded collection): nothing to select
        return
    view_layer.objects.active = obj


def plane_aspect(obj: bpy.types.Object) -> float:
    xs = [v.co.x for v in obj.data.vertices]
    zs = [v.co.z for v in obj.data.vertices]
    return (max(xs) - min(xs)) / (max(zs) - min(zs))
