"""Operators: thin wrappers around controller.py and the scene modules."""

from __future__ import annotations

import contextlib
from pathlib import Path

import bpy
from bpy.props import CollectionProperty, EnumProperty, StringProperty
from bpy_extras.io_utils import ImportHelper

from . import bakejob, controller
from . import prefs as preferences
from .scene import bake, camera, images, material, results, world
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
        blend = bpy.data.filepath if images.use_relative_paths(context) else ""
        try:
            world.set_hdri_world(context.scene, _hdri_choice(settings), settings.hdri_rotation,
                                 settings.hdri_strength, blend_path=blend)
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


def no_event_loop(context) -> bool:
    """Background mode or no window: a modal operator would never see a timer."""
    return bpy.app.background or context.window is None


class PHOTONORMALS_OT_bake(bpy.types.Operator):
    """Bake the PhotoNormals material with Cycles to an image in the output folder (runs in the
    background: progress in the status bar, Esc cancels)"""

    bl_idname = "photonormals.bake"
    bl_label = "Bake"

    _job = None
    _timer = None

    @classmethod
    def poll(cls, context):
        return not STATE.baking

    def _fail(self, exc) -> set:
        STATE.fail(str(exc), getattr(exc, "hint", "") or "Check the output folder is writable")
        self.report({"ERROR"}, STATE.last_error)
        return {"CANCELLED"}

    def _job_for(self, context):
        return bakejob.BakeJob(controller.photonormals_object(context),
                               controller.output_folder(context), context.scene.photonormals)

    def execute(self, context):  # scripts and background mode: runs to the end
        STATE.last_error = STATE.last_hint = ""
        try:
            path = self._job_for(context).run()
        except (bakejob.BakeError, OSError, ValueError) as exc:
            return self._fail(exc)
        STATE.stage = f"baked {path.name}"
        self.report({"INFO"}, f"Baked {path}")
        return {"FINISHED"}

    def invoke(self, context, event):
        if no_event_loop(context):
            return self.execute(context)
        STATE.last_error = STATE.last_hint = ""
        try:
            self._job = self._job_for(context)
            self._job.start(context)
        except (bakejob.BakeError, OSError, ValueError) as exc:
            return self._fail(exc)
        STATE.baking, STATE.stage = True, "baking (Esc cancels)"
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.25, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type != "TIMER":
            return {"PASS_THROUGH"}  # Esc reaches Blender's bake job, which cancels itself
        if not STATE.baking:  # another file was opened: Blender dropped the job and the scene
            context.window_manager.event_timer_remove(self._timer)
            return {"CANCELLED"}
        try:
            state = self._job.poll(bpy.app.is_job_running("OBJECT_BAKE"))
        except Exception as exc:  # noqa: BLE001 - the panel must never stay in "baking"
            state = "error"
            with contextlib.suppress(Exception):
                bake.abort(self._job.session)
            self._fail(exc)
        if state == "running":
            return {"PASS_THROUGH"}
        context.window_manager.event_timer_remove(self._timer)
        STATE.baking = False
        for area in context.screen.areas if context.screen else ():
            area.tag_redraw()
        if state == "done":
            STATE.stage = f"baked {self._job.path.name}"
            self.report({"INFO"}, f"Baked {self._job.path}")
            return {"FINISHED"}
        if state != "error":
            STATE.stage = "bake cancelled" if state == "cancelled" else "bake failed"
            self.report({"WARNING"}, f"{STATE.stage}: nothing written")
        return {"CANCELLED"}


class PHOTONORMALS_OT_frame_camera(bpy.types.Operator):
    """Make a front camera framing the photo plane the scene camera (F12 renders the relit
    photo as shot); your own cameras are left alone"""

    bl_idname = "photonormals.frame_camera"
    bl_label = "Frame Camera"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 - Blender reads a set

    @classmethod
    def poll(cls, context):
        return controller.photonormals_object(context) is not None

    def execute(self, context):
        render = context.scene.render
        camera.frame_plane(context.scene, controller.photonormals_object(context),
                           pixels=max(render.resolution_x, render.resolution_y))
        return {"FINISHED"}


class PHOTONORMALS_OT_restore_material(bpy.types.Operator):
    """Put back the material that Apply to Active Object replaced"""

    bl_idname = "photonormals.restore_material"
    bl_label = "Restore Material"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 - Blender reads a set

    @classmethod
    def poll(cls, context):
        obj = context.active_object
        return obj is not None and obj.get(material.PREVIOUS) is not None

    def execute(self, context):
        restored = material.restore_material(context.active_object)
        self.report({"INFO"}, f"Restored {restored.name}")
        return {"FINISHED"}


class PHOTONORMALS_OT_import_maps(bpy.types.Operator, ImportHelper):
    """Build the photo plane (or the active object's material) from maps already on disk: pick
    a *_normal.png written by the add-on, the batch or `photonormals predict`"""

    bl_idname = "photonormals.import_maps"
    bl_label = "Import Maps"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 - Blender reads a set

    filter_glob: StringProperty(default="*normal.png", options={"HIDDEN"})

    def execute(self, context):
        settings = context.scene.photonormals
        target = context.active_object if settings.target == "ACTIVE" else None
        try:
            name, files = results.find_maps(Path(self.filepath))
            if settings.target == "ACTIVE" and (target is None or target.type != "MESH"):
                raise ValueError("No active mesh to apply the maps to")
            done = results.wire_files(
                context.scene, files, name, target=target, strength=settings.normal_strength,
                directx=preferences.get(context).normal_convention == "directx",
                placement=controller.placement(context.scene),
                displacement_scale=settings.displacement_scale if settings.use_displacement
                else None)
        except (ValueError, OSError, RuntimeError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        settings.last_object, settings.last_material = done.obj, done.material
        STATE.notes = done.notes
        self.report({"INFO"}, f"Imported {name}")
        return {"FINISHED"}


CLASSES = (
    PHOTONORMALS_OT_add_photos,
    PHOTONORMALS_OT_import_maps,
    PHOTONORMALS_OT_frame_camera,
    PHOTONORMALS_OT_restore_material,
    PHOTONORMALS_OT_use_loaded_images,
    PHOTONORMALS_OT_clear_photos,
    PHOTONORMALS_OT_generate,
    PHOTONORMALS_OT_cancel,
    PHOTONORMALS_OT_check_backend,
    PHOTONORMALS_OT_relight_preview,
    PHOTONORMALS_OT_restore_world,
    PHOTONORMALS_OT_bake,
)
