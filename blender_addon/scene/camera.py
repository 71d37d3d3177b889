"""A front camera framing the photo plane, so the saved .blend renders the relit photo as shot."""

from __future__ import annotations

import math

import bpy
from mathutils import Euler, Vector

CAMERA_NAME = "PhotoNormals Camera"
DISTANCE = 5.0  # in front of the plane, in plane heights' worth of metres (orthographic anyway)


def frame_plane(
    scene: bpy.types.Scene, plane: bpy.types.Object, pixels: int = 512
) -> bpy.types.Object:
    """An orthographic camera looking straight at the plane's front (-Y in the plane's own frame,
    Blender's front view for an unrotated plane), made the scene camera. The render resolution
    takes the plane's aspect with `pixels` on the long side. The user's own cameras are left
    alone: this one is called "PhotoNormals Camera" and reused."""
    xs = [v.co.x for v in plane.data.vertices]
    zs = [v.co.z for v in plane.data.vertices]
    # From the transform properties, not matrix_world, which lags until the depsgraph updates.
    matrix = plane.matrix_basis
    if plane.parent is not None:
        matrix = plane.parent.matrix_world @ plane.matrix_parent_inverse @ matrix
    _location, rotation, scale = matrix.decompose()
    width, height = (max(xs) - min(xs)) * abs(scale.x), (max(zs) - min(zs)) * abs(scale.z)
    centre = matrix @ Vector(((max(xs) + min(xs)) / 2, 0.0, (max(zs) + min(zs)) / 2))
    camera = bpy.data.objects.get(CAMERA_NAME)
    if camera is None or camera.type != "CAMERA":
        camera = bpy.data.objects.new(CAMERA_NAME, bpy.data.cameras.new(CAMERA_NAME))
    if camera.name not in scene.objects:
        scene.collection.objects.link(camera)
    camera.parent = None
    camera.location = centre + rotation @ Vector((0.0, -DISTANCE * max(width, height, 1.0), 0.0))
    camera.rotation_mode = "XYZ"
    camera.rotation_euler = (rotation @ Euler((math.radians(90.0), 0.0, 0.0)).to_quaternion()
                             ).to_euler("XYZ")
    camera.data.type = "ORTHO"
    camera.data.ortho_scale = max(width, height)
    camera.data.clip_end = max(camera.data.clip_end, 2 * DISTANCE * max(width, height, 1.0))
    scene.camera = camera
    aspect = width / height
    scene.render.resolution_x = pixels if aspect >= 1 else max(1, round(pixels * aspect))
    scene.render.resolution_y = pixels if aspect <= 1 else max(1, round(pixels / aspect))
    scene.render.resolution_percentage = 100
    return camera
