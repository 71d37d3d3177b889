"""PhotoNormals Blender extension.

Thin by design: the inference backend is a separate process reached over HTTP, so Blender never
imports torch. This first version only registers the sidebar tab; Generate Normals lands with the
backend service.
"""

import bpy


class PHOTONORMALS_PT_main(bpy.types.Panel):
    bl_label = "PhotoNormals"
    bl_idname = "PHOTONORMALS_PT_main"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "PhotoNormals"

    def draw(self, context):
        self.layout.label(text="Backend service not available yet.")


CLASSES = (PHOTONORMALS_PT_main,)


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister():
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
