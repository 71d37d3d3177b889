"""PhotoNormals Blender extension: photos to relightable normal, albedo and mask textures.

Thin by design: the inference backend is a separate process reached over HTTP with the stdlib
client, so Blender never imports torch. Blender-facing code (preferences, properties, operators,
panel) lives at this level; the work is in backend/ (connection, local server, jobs) and scene/
(textures, plane, material, HDRI world, bake), which the headless batch (batch.py) reuses.
"""

import bpy

from . import controller, operators, panel, prefs, props
from .backend import server

CLASSES = (prefs.PHOTONORMALS_AP_preferences, *operators.CLASSES, *panel.CLASSES)


def register():
    props.register()
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    if controller.on_file_loaded not in bpy.app.handlers.load_post:
        bpy.app.handlers.load_post.append(controller.on_file_loaded)


def unregister():
    if controller.on_file_loaded in bpy.app.handlers.load_post:
        bpy.app.handlers.load_post.remove(controller.on_file_loaded)
    if bpy.app.timers.is_registered(controller.poll):
        bpy.app.timers.unregister(controller.poll)
    controller.cancel()
    server.stop_all()  # never leave a local backend running after the add-on is gone
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
    props.unregister()
