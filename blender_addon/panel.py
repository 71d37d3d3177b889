"""The sidebar tab (3D Viewport > N panel > PhotoNormals): photo set, generate, status, actions."""

from __future__ import annotations

import bpy

from . import controller
from . import prefs as preferences
from .state import STATE


class PHOTONORMALS_UL_photos(bpy.types.UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index=0):
        layout.label(text=bpy.path.basename(item.filepath), icon="IMAGE_DATA")


class _Panel:
    bl_space_type, bl_region_type, bl_category = "VIEW_3D", "UI", "PhotoNormals"


class PHOTONORMALS_PT_main(_Panel, bpy.types.Panel):
    bl_label = "Photo Set"
    bl_idname = "PHOTONORMALS_PT_main"

    def draw(self, context):
        layout, settings = self.layout, context.scene.photonormals
        layout.template_list(
            "PHOTONORMALS_UL_photos", "", settings, "photos", settings, "photo_index", rows=3
        )
        row = layout.row(align=True)
        row.operator("photonormals.add_photos", icon="FILE_IMAGE")
        row.operator("photonormals.use_loaded_images", icon="IMAGE_DATA", text="Loaded")
        row.operator("photonormals.clear_photos", icon="X", text="")
        layout.prop(settings, "mode")
        if settings.mode != "single":
            layout.prop(settings, "light_file")
        if settings.mode == "material":
            row = layout.row(align=True)
            row.prop(settings, "seamless")
            row.prop(settings, "tiling")
        layout.prop(settings, "target")
        row = layout.row(align=True)
        row.prop(settings, "normal_strength")
        row = layout.row(align=True)
        row.prop(settings, "use_displacement")
        sub = row.row()
        sub.active = settings.use_displacement
        sub.prop(settings, "displacement_scale")
        if STATE.running:
            if hasattr(layout, "progress"):  # Blender 4.0+
                layout.progress(factor=STATE.progress, type="BAR", text=STATE.stage or "working")
            else:
                layout.label(text=f"{STATE.stage} {STATE.progress:.0%}")
            layout.operator("photonormals.cancel", icon="CANCEL")
        else:
            layout.operator("photonormals.generate", icon="SHADERFX")
        folder, note = controller.output_folder(context)
        layout.label(text=f"Output: {folder}", icon="FILE_FOLDER")
        if note:
            layout.label(text="Unsaved file: writing to a temporary folder", icon="INFO")


class PHOTONORMALS_PT_status(_Panel, bpy.types.Panel):
    bl_label = "Status"
    bl_parent_id = "PHOTONORMALS_PT_main"

    def draw(self, context):
        layout, prefs = self.layout, preferences.get(context)
        where = "local" if prefs.backend_mode == "LOCAL" else prefs.remote_url
        row = layout.row()
        row.label(text=f"Backend ({where}): {STATE.backend}", icon="WORLD")
        row.operator("photonormals.check_backend", text="", icon="FILE_REFRESH")
        if STATE.device:
            layout.label(text=f"Device: {STATE.device.upper()}", icon="MEMORY")
        if not STATE.running and STATE.stage:
            layout.label(text=STATE.stage)
        if STATE.last_error:
            box = layout.box()
            box.label(text=STATE.last_error, icon="ERROR")
            if STATE.last_hint:
                box.label(text=STATE.last_hint, icon="QUESTION")
        for note in STATE.notes:
            layout.label(text=note, icon="INFO")


class PHOTONORMALS_PT_actions(_Panel, bpy.types.Panel):
    bl_label = "Relight & Bake"
    bl_parent_id = "PHOTONORMALS_PT_main"

    def draw(self, context):
        layout, settings = self.layout, context.scene.photonormals
        layout.prop(settings, "hdri")
        if settings.hdri == "FILE":
            layout.prop(settings, "hdri_file")
        row = layout.row(align=True)
        row.prop(settings, "hdri_rotation")
        row.prop(settings, "hdri_strength")
        row = layout.row(align=True)
        row.operator(
            "photonormals.relight_preview", text="Material Preview", icon="MATERIAL"
        ).shading = "MATERIAL"
        row.operator(
            "photonormals.relight_preview", text="Rendered", icon="SHADING_RENDERED"
        ).shading = "RENDERED"
        layout.operator("photonormals.restore_world", icon="LOOP_BACK")
        layout.separator()
        layout.prop(settings, "bake_type")
        row = layout.row(align=True)
        row.prop(settings, "bake_size")
        row.prop(settings, "bake_margin")
        layout.prop(settings, "bake_samples")
        layout.operator("photonormals.bake", icon="RENDER_STILL")


CLASSES = (
    PHOTONORMALS_UL_photos,
    PHOTONORMALS_PT_main,
    PHOTONORMALS_PT_status,
    PHOTONORMALS_PT_actions,
)
