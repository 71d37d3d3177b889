"""Glue between the panel and the plain modules: start a job, poll it, import its result.

`poll()` runs on Blender's main thread (from a bpy.app.timers timer, or called directly by tests
and scripts); the worker thread in backend/jobs.py does all the network work.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
from pathlib import Path

import bpy
from bpy.app.handlers import persistent

from . import prefs as preferences
from .backend import connection, lightfiles, server
from .backend.client_loader import load_client
from .backend.jobs import BACKEND_AFTER, JobRequest, JobRunner, describe_error
from .scene import images, material, outputs, results
from .state import STATE

POLL_S = 0.2
OFFLINE_HINT = "Switch the backend to Local, or turn on online access"


def make_connect(prefs):
    """A function returning a ready Client (starting the local server if needed), or an error."""
    if prefs.backend_mode == "REMOTE":
        url = prefs.remote_url.strip()
        problem = connection.check_url(url, bpy.app.online_access)
        if problem:
            return None, problem
        return (lambda: load_client().Client(url, token=prefs.token or None)), ""
    python, device = bpy.path.abspath(prefs.python_executable), prefs.device

    def connect():
        local = server.shared_server(python, device)
        url = local.start()
        return load_client().Client(url, token=local.token)

    return connect, ""


def _redraw() -> None:
    for window in getattr(bpy.context.window_manager, "windows", ()):
        for area in window.screen.areas:
            area.tag_redraw()


def output_folder(context) -> Path | None:
    """Where maps and bakes go; None while the file is unsaved and no folder is set."""
    return outputs.output_folder(preferences.get(context).output_dir, bpy.data.filepath)


def placement(scene: bpy.types.Scene) -> results.Placement:
    """A new plane goes to the 3D cursor, in the active collection, and is selected; texture
    paths are relative to the saved .blend when Blender's Relative Paths preference is on."""
    context = bpy.context
    view_layer = context.view_layer if context.scene == scene else scene.view_layers[0]
    collection = view_layer.active_layer_collection.collection
    blend = bpy.data.filepath if images.use_relative_paths() else ""
    return results.Placement(collection, tuple(scene.cursor.location), view_layer, blend)


@persistent
def on_file_loaded(*_args) -> None:
    """load_post: File > New or Open. A running job must not land in the new file, and a bake
    job of the old file is gone with it."""
    STATE.file_generation += 1
    STATE.baking = False


def _check_request(settings, photos: list[str]) -> tuple[str, str] | None:
    """What is wrong with the photo set and its files, worded for the panel; None when fine."""
    if not photos:
        return "No photos in the set", "Add photo files or use images already loaded"
    missing = [p for p in photos if not Path(p).is_file()]
    if missing:
        return f"Photo not found: {missing[0]}", "Remove it from the set or fix its path"
    files = {"light file": settings.light_file, "intensities file": settings.intensities_file,
             "mask": settings.mask_file if settings.mode != "material" else ""}
    for what, value in files.items():
        if value and not Path(bpy.path.abspath(value)).is_file():
            return (f"The {what} was not found: {bpy.path.abspath(value)}",
                    "Pick it again or clear it")
    single = settings.mode == "single" or (settings.mode == "auto" and len(photos) == 1)
    if single:
        if settings.mode == "auto" and (settings.light_file or settings.intensities_file):
            return ("A light file is set but the set has one photo",
                    "Add the set's other photos, or clear the light file for a portrait")
        return None
    if settings.intensities_file and not settings.light_file:
        return ("Light intensities need the light file (directions) too",
                "Pick light_directions.txt, or clear the intensities")
    try:
        lightfiles.check_counts(photos, bpy.path.abspath(settings.light_file) or None,
                                bpy.path.abspath(settings.intensities_file) or None)
    except lightfiles.LightFileError as exc:
        return str(exc), "One light per photo, in the order of the photo list"
    return None


def _request(settings, prefs, photos: list[str], scratch: Path) -> JobRequest:
    single = settings.mode == "single" or (settings.mode == "auto" and len(photos) == 1)
    options = {"mode": settings.mode, "normal_convention": prefs.normal_convention,
               "input_colorspace": settings.input_colorspace}
    if settings.mode == "material":
        options["seamless"] = settings.seamless  # material mode makes its own height
        if len(photos) == 1:  # several lamp-lit photos need no light side (the backend refuses)
            options["light_from"] = settings.light_from
    elif settings.use_displacement:
        options["height"] = True
    light_file = None
    if not single and settings.light_file:
        light_file = bpy.path.abspath(settings.light_file)
        if settings.intensities_file:
            light_file = str(lightfiles.merge(Path(light_file),
                                              Path(bpy.path.abspath(settings.intensities_file)),
                                              photos, scratch))
    # Material mode takes no mask (the panel hides the field; one set earlier stays unsent).
    use_mask = settings.mask_file and settings.mode != "material"
    mask = bpy.path.abspath(settings.mask_file) if use_mask else None
    return JobRequest(photos, options, light_file, mask)


def start_generate(context) -> str:
    """Start Generate Normals for the scene's photo set; returns an error message or ''."""
    if STATE.running:
        return "A job is already running"
    settings, prefs = context.scene.photonormals, preferences.get(context)
    photos = [bpy.path.abspath(p.filepath) for p in settings.photos if p.filepath]
    STATE.last_error = STATE.last_hint = ""
    STATE.notes = []
    problem = _check_request(settings, photos)
    folder = output_folder(context)
    if problem is None and folder is None:
        problem = outputs.NEEDS_FOLDER, outputs.NEEDS_FOLDER_HINT
    target = None
    if problem is None and settings.target == "ACTIVE":
        target = context.active_object
        if target is None or target.type != "MESH":
            problem = ("No active mesh to apply the maps to",
                       "Select a mesh, or apply to a photo plane")
    connect = None
    if problem is None:
        connect, refused = make_connect(prefs)
        if refused:
            problem = refused, OFFLINE_HINT
    if problem is not None:
        STATE.fail(*problem)
        return STATE.last_error
    scratch = Path(tempfile.mkdtemp(prefix="photonormals-inputs-"))
    try:
        request = _request(settings, prefs, photos, scratch)
    except lightfiles.LightFileError as exc:
        shutil.rmtree(scratch, ignore_errors=True)
        STATE.fail(str(exc), "One light per photo, in the order of the photo list")
        return STATE.last_error
    runner = JobRunner(connect, request)
    STATE.runner, STATE.running, STATE.stage, STATE.progress = runner, True, "starting", 0.0
    STATE.pending = {"scene": context.scene.name, "name": results.set_name(photos),
                     "target": target.name if target else None,
                     "directx": prefs.normal_convention == "directx", "folder": folder,
                     "generation": STATE.file_generation, "scratch": scratch}
    runner.start()
    if not bpy.app.timers.is_registered(poll):
        # survives File > Open
        bpy.app.timers.register(poll, first_interval=POLL_S, persistent=True)
    return ""


def poll():
    """Timer callback: mirror the job's progress; import the maps once it is done."""
    runner = STATE.runner
    if runner is None:
        return None
    snap = runner.snapshot()
    STATE.stage, STATE.progress = snap.stage, snap.progress
    if snap.device:
        STATE.backend, STATE.device = "connected", snap.device
    if not snap.done:
        _redraw()
        return POLL_S
    STATE.runner = None
    try:
        if snap.error:
            STATE.fail(snap.error, snap.hint)
            STATE.backend = BACKEND_AFTER.get(snap.kind, STATE.backend)
            if snap.kind in BACKEND_AFTER:
                STATE.device = ""
        else:
            _import(snap.files)
    finally:
        runner.discard()
        if STATE.pending.get("scratch"):
            shutil.rmtree(STATE.pending["scratch"], ignore_errors=True)
        STATE.running = False
        _redraw()
    return None


def _hold(files, folder: Path, name: str, why: str) -> None:
    """Keep a result without wiring it: the maps go to the folder chosen at Generate."""
    kept = [Path(f) for f in files if Path(f).name in results.USED_FILES]
    published = outputs.publish(kept, folder, name)
    normal = published.get("normal.png")
    STATE.notes = [f"{why}: the maps were saved as {normal} but not added to this file "
                   "(Import Maps adds them)"]
    STATE.stage = f"done: {len(published)} files in {folder}, not imported"


def _import(files) -> None:
    pending = STATE.pending
    folder, name = pending["folder"], pending["name"]
    try:
        scene = bpy.data.scenes.get(pending["scene"])
        if STATE.file_generation != pending["generation"]:
            _hold(files, folder, name, "Another file was opened while the job ran")
            return
        if scene is None:
            _hold(files, folder, name, f"The scene {pending['scene']!r} is gone")
            return
        settings = scene.photonormals
        target = bpy.data.objects.get(pending["target"]) if pending["target"] else None
        if pending["target"] and target is None:
            _hold(files, folder, name, f"The object {pending['target']!r} is gone")
            return
        imported = results.import_maps(
            scene, files, folder, name, target=target, strength=settings.normal_strength,
            directx=pending["directx"], placement=placement(scene),
            displacement_scale=settings.displacement_scale if settings.use_displacement else None,
            tiling=settings.tiling if settings.mode == "material" else None)
    except Exception as exc:  # noqa: BLE001 - shown in the panel
        STATE.fail(*describe_error(exc))
        return
    settings.last_object, settings.last_material = imported.obj, imported.material
    STATE.backend = "connected"
    STATE.notes = imported.notes
    STATE.stage = f"done: {len(imported.files)} files in {folder}"
    push_undo("PhotoNormals: Generate Normals")


def push_undo(message: str) -> None:
    """An undo step for work done outside an operator (the timer): Ctrl+Z takes it back."""
    with contextlib.suppress(RuntimeError):  # no window (background mode): no undo history
        bpy.ops.ed.undo_push(message=message)


def cancel() -> None:
    if STATE.runner is not None:
        STATE.runner.cancel()
        STATE.stage = "cancelling"


def check_backend(context) -> None:
    """Ask the backend for its health in a worker thread; the answer lands in STATE."""
    connect, problem = make_connect(preferences.get(context))
    if problem:
        STATE.backend, STATE.device = "not allowed", ""
        STATE.fail(problem, OFFLINE_HINT)
        return
    STATE.backend = "checking"

    def work():
        try:
            health = connect().health()
            STATE.backend, STATE.device = (
                f"ready (v{health.get('version', '?')})",
                str(health.get("device", "?")),
            )
        except BaseException as exc:  # noqa: BLE001
            STATE.backend, STATE.device = "unreachable", ""
            STATE.last_error, STATE.last_hint = describe_error(exc)

    threading.Thread(target=work, name="photonormals-health", daemon=True).start()


def photonormals_object(context) -> bpy.types.Object | None:
    """The object the Relight & Bake buttons act on: the active object when it carries a
    PhotoNormals material, else the last one Generate Normals made in this scene."""
    def ours(obj):
        return (obj is not None and obj.type == "MESH" and obj.name in context.scene.objects
                and obj.active_material is not None and obj.active_material.get(material.TAG))

    if ours(context.active_object):
        return context.active_object
    last = context.scene.photonormals.last_object
    return last if ours(last) else None
