"""A front camera framing the photo plane, so the saved .blend renders the relit photo as shot."""

from __future__ import annotations

import math

import bpy

CAMERA_NAME = "PhotoNormals Camera"


def frame_plane(
    scene: bpy.types.Scene, plane: bpy.types.Object, pixels: int = 512
) -> bpy.types.Object:
    """Orthographic camera on -Y looking +Y (Blender's front view, the backend's camera frame)."""
    xs = [v.co.x for v in plane.data.vertices]
    zs = [v.co.z for v in plane.data.vertices]
    width, height = max(xs) - min(xs), max(zs) - min(zs)
    camera = bpy.data.objects.get(CAMERA_NAME)
    if camera is None:
        camera = bpy.data.objects.new(CAMERA_NAME, bpy.data.cameras.new(CAMERA_NAME))
    if camera.name not in scene.collection.objects:
        scene.collection.objects.link(camera)
    camera.location = (plane.location.x, plane.location.y - 5.0, plane.location.z)
    camera.rotation_euler = (math.radians(90.0), 0.0, 0.0)
    camera.data.type = "ORTHO"
    camera.data.ortho_scale = max(width, height)
    scene.camera = camera
    aspect = width / height
    scene.render.resolution_x = pixels if aspect >= 1 else max(1, round(pixels * aspect))
    scene.render.resolution_y = pixels if aspect <= 1 else max(1, round(pixels / aspect))
    scene.render.resolution_percentage = 100
    return camera
