"""Operators: thin wrappers around controller.py and the scene modules."""

from __future__ import annotations

from pathlib import Path

import bpy
from bpy.props import CollectionProperty, EnumProperty, StringProperty
from bpy_extras.io_utils import ImportHelper

from . import controller
from .scene import bake, outputs, world
from .state import STATE

PHOTO_GLOB = "*.png;*.jpg;*.jpeg;*.tif;*.tiff;*.exr;*.hdr"


class PHOTONORMALS_OT_add_photos(bpy.types.Operator, ImportHelper):
    """Add photo files to the set (select several for a multi-light set)"""

    bl_idname = "photonormals.add_photos"
    bl_label = "Add Photos"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 - Blender reads a set

    filter_glob: StringProperty(default=PHOTO_GLOB, options={"HIDDEN"})
    files: CollectionProperty(
        type=bpy.types.OperatorFileListElement, options={"HIDDEN", "SKIP_SAVE"}
    )
    directory: StringProperty(subtype="DIR_PATH", options={"HIDDEN", "SKIP_SAVE"})

    def execute(self, context):
        names = [f.name for f in self.files if f.name] or [Path(self.filepath).name]
        folder = Path(self.directory or Path(self.filepath).parent)
        for name in sorted(names):
            context.scene.photonormals.photos.add().filepath = str(folder / name)
        return {"FINISHED"}


class PHOTONORMALS_OT_use_loaded_images(bpy.types.Operator):
    """Add the images already loaded in this file that come from image files on disk"""

    bl_idname = "photonormals.use_loaded_images"
    bl_label = "Use Loaded Images"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 - Blender reads a set

    def execute(self, context):
        photos = context.scene.photonormals.photos
        known = {p.filepath for p in photos}
        added = 0
        for image in bpy.data.images:
            path = bpy.path.abspath(image.filepath) if image.source == "FILE" else ""
            if (
                path
                and not image.get("photonormals_map")
                and Path(path).is_file()
                and path not in known
            ):
                photos.add().filepath = path
                known.add(path)
                added += 1
        self.report({"INFO"} if added else {"WARNING"},
                    f"Added {added} image(s)" if added else "No loaded image has a file on disk")
        return {"FINISHED"}


class PHOTONORMALS_OT_clear_photos(bpy.types.Operator):
    """Empty the photo set"""

    bl_idname = "photonormals.clear_photos"
    bl_label = "Clear Photos"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 - Blender reads a set

    def execute(self, context):
        context.scene.photonormals.photos.clear()
        return {"FINISHED"}


class PHOTONORMALS_OT_generate(bpy.types.Operator):
    """Send the photo set to the backend and wire the returned maps into a material"""

    bl_idname = "photonormals.generate"
    bl_label = "Generate Normals"

    @classmethod
    def poll(cls, context):
        return not STATE.running

    def execute(self, context):
        error = controller.start_generate(context)
        if error:
            self.report({"ERROR"}, error)
            return {"CANCELLED"}
        return {"FINISHED"}


class PHOTONORMALS_OT_cancel(bpy.types.Operator):
    """Cancel the running job"""

    bl_idname = "photonormals.cancel"
    bl_label = "Cancel"

    def execute(self, context):
        controller.cancel()
        return {"FINISHED"}


class PHOTONORMALS_OT_check_backend(bpy.types.Operator):
    """Ask the backend whether it is ready and which device it runs on (starts a local one)"""

    bl_idname = "photonormals.check_backend"
    bl_label = "Check Backend"

    def execute(self, context):
        controller.check_backend(context)
        return {"FINISHED"}


def _hdri_choice(settings) -> str:
    return settings.hdri_file if settings.hdri == "FILE" else settings.hdri


class PHOTONORMALS_OT_relight_preview(bpy.types.Operator):
    """Light the scene with the chosen HDRI and show it in the viewport (the old world is kept)"""

    bl_idname = "photonormals.relight_preview"
    bl_label = "Relight Preview"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 - Blender reads a set

    shading: EnumProperty(
        items=[("MATERIAL", "Material Preview", ""), ("RENDERED", "Rendered", "")],
        default="MATERIAL",
    )

    def execute(self, context):
        settings = context.scene.photonormals
        try:
            world.set_hdri_world(context.scene, _hdri_choice(settings), settings.hdri_rotation,
                                 settings.hdri_strength)
        except ValueError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        world.show_in_viewports(context.screen, self.shading, context.scene)
        return {"FINISHED"}


class PHOTONORMALS_OT_restore_world(bpy.types.Operator):
    """Put back the world that the relight preview replaced"""

    bl_idname = "photonormals.restore_world"
    bl_label = "Restore World"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 - Blender reads a set

    def execute(self, context):
        world.restore_world(context.scene)
        return {"FINISHED"}


class PHOTONORMALS_OT_bake(bpy.types.Operator):
    """Bake the material with Cycles to an image in the output folder"""

    bl_idname = "photonormals.bake"
    bl_label = "Bake"

    def execute(self, context):
        settings = context.scene.photonormals
        obj = (
            context.active_object
            if context.active_object and context.active_object.active_material
            else settings.last_object
        )
        if obj is None or obj.active_material is None:
            self.report(
                {"ERROR"}, "Nothing to bake: generate normals first or select a textured mesh"
            )
            return {"CANCELLED"}
        folder, _note = controller.output_folder(context)
        folder.mkdir(parents=True, exist_ok=True)
        target = outputs.unique_path(folder, f"{obj.name}_bake_{settings.bake_type}", ".png")
        try:
            path = bake.bake(obj, settings.bake_type, target, settings.bake_size,
                             settings.bake_margin, settings.bake_samples)
        except (RuntimeError, ValueError, OSError) as exc:
            STATE.fail(
                f"Bake failed: {exc}", "Check the object has a UV map and the folder is writable"
            )
            self.report({"ERROR"}, STATE.last_error)
            return {"CANCELLED"}
        self.report({"INFO"}, f"Baked {path}")
        return {"FINISHED"}


CLASSES = (
    PHOTONORMALS_OT_add_photos,
    PHOTONORMALS_OT_use_loaded_images,
    PHOTONORMALS_OT_clear_photos,
    PHOTONORMALS_OT_generate,
    PHOTONORMALS_OT_cancel,
    PHOTONORMALS_OT_check_backend,
    PHOTONORMALS_OT_relight_preview,
    PHOTONORMALS_OT_restore_world,
    PHOTONORMALS_OT_bake,
)
