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
            layout.prop(settings, "intensities_file")
        if settings.mode != "material":
            layout.prop(settings, "mask_file")
        layout.prop(settings, "input_colorspace")
        if settings.mode == "material":
            row = layout.row(align=True)
            row.prop(settings, "seamless")
            row.prop(settings, "tiling")
            if len(settings.photos) <= 1:  # several lamp-lit photos need no light side
                # The model reads relief lit from the top: the backend turns the photo for it.
                layout.prop(settings, "light_from")
                layout.label(text="The photo is turned so its light comes from the top",
                             icon="INFO")
        layout.prop(settings, "target")
        if settings.target == "ACTIVE":
            layout.operator("photonormals.restore_material", icon="LOOP_BACK")
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
        folder = controller.output_folder(context)
        if folder is None:
            box = layout.box()
            box.label(text="Save the .blend first: the maps go next to it", icon="ERROR")
            box.label(text="(or set an Output Folder in the add-on preferences)")
        else:
            layout.label(text=f"Output: {folder}", icon="FILE_FOLDER")
        layout.operator("photonormals.import_maps", icon="IMPORT")


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
            layout.label(text=note, icon="ERROR" if note.startswith("No face") else "INFO")


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
        row = layout.row(align=True)
        row.operator("photonormals.restore_world", icon="LOOP_BACK")
        row.operator("photonormals.frame_camera", icon="CAMERA_DATA")
        layout.separator()
        layout.prop(settings, "bake_type")
        row = layout.row(align=True)
        row.prop(settings, "bake_size")
        row.prop(settings, "bake_margin")
        row = layout.row(align=True)
        row.prop(settings, "bake_samples")
        row.prop(settings, "bake_format", text="")
        if STATE.baking:
            layout.label(text="Baking: progress in the status bar, Esc cancels", icon="TIME")
            return
        obj = controller.photonormals_object(context)
        layout.operator("photonormals.bake", icon="RENDER_STILL",
                        text=f"Bake {obj.name}" if obj else "Bake")
        if obj is None:
            layout.label(text="Nothing to bake yet: generate normals first", icon="INFO")


CLASSES = (
    PHOTONORMALS_UL_photos,
    PHOTONORMALS_PT_main,
    PHOTONORMALS_PT_status,
    PHOTONORMALS_PT_actions,
)
