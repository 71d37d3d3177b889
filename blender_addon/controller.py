"""Glue between the panel and the plain modules: start a job, poll it, import its result.

`poll()` runs on Blender's main thread (from a bpy.app.timers timer, or called directly by tests
and scripts); the worker thread in backend/jobs.py does all the network work.
"""

from __future__ import annotations

import threading
from pathlib import Path

import bpy

from . import prefs as preferences
from .backend import connection, server
from .backend.client_loader import load_client
from .backend.jobs import JobRequest, JobRunner, describe_error
from .scene import outputs, results
from .state import STATE

POLL_S = 0.2


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


def output_folder(context) -> tuple[Path, str]:
    return outputs.output_folder(bpy.path.abspath(preferences.get(context).output_dir),
                                 bpy.data.filepath)


def start_generate(context) -> str:
    """Start Generate Normals for the scene's photo set; returns an error message or ''."""
    if STATE.running:
        return "A job is already running"
    settings, prefs = context.scene.photonormals, preferences.get(context)
    photos = [bpy.path.abspath(p.filepath) for p in settings.photos if p.filepath]
    STATE.last_error = STATE.last_hint = ""
    STATE.notes = []
    if not photos:
        STATE.fail("No photos in the set", "Add photo files or use images already loaded")
        return STATE.last_error
    missing = [p for p in photos if not Path(p).is_file()]
    if missing:
        STATE.fail(f"Photo not found: {missing[0]}", "Remove it from the set or fix its path")
        return STATE.last_error
    light_file = bpy.path.abspath(settings.light_file) if settings.light_file else None
    if light_file and not Path(light_file).is_file():
        STATE.fail(
            f"Light file not found: {light_file}", "Pick light_directions.txt or lights.json"
        )
        return STATE.last_error
    target = None
    if settings.target == "ACTIVE":
        target = context.active_object
        if target is None or target.type != "MESH":
            STATE.fail(
                "No active mesh to apply the maps to", "Select a mesh, or apply to a photo plane"
            )
            return STATE.last_error
    connect, problem = make_connect(prefs)
    if problem:
        STATE.fail(problem, "Switch the backend to Local, or turn on online access")
        return problem
    options = {"mode": settings.mode, "normal_convention": prefs.normal_convention}
    if settings.mode == "material":
        options["seamless"] = settings.seamless
    runner = JobRunner(connect, JobRequest(photos, options, light_file))
    STATE.runner, STATE.running, STATE.stage, STATE.progress = runner, True, "starting", 0.0
    STATE.pending = {"scene": context.scene.name, "name": results.set_name(photos),
                     "target": target.name if target else None,
                     "directx": prefs.normal_convention == "directx"}
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
            if "unavailable" in snap.error.lower() or "connect" in snap.error.lower():
                STATE.backend = "unreachable"
        else:
            _import(snap.files)
    finally:
        runner.discard()
        STATE.running = False
        _redraw()
    return None


def _import(files) -> None:
    pending = STATE.pending
    scene = bpy.data.scenes.get(pending["scene"]) or bpy.context.scene
    settings = scene.photonormals
    folder, note = output_folder(bpy.context)
    target = bpy.data.objects.get(pending["target"]) if pending["target"] else None
    try:
        imported = results.import_maps(
            scene, files, folder, pending["name"], target=target, strength=settings.normal_strength,
            directx=pending["directx"],
            displacement_scale=settings.displacement_scale if settings.use_displacement else None,
            tiling=settings.tiling if settings.mode == "material" else None)
    except Exception as exc:  # noqa: BLE001 - shown in the panel
        STATE.fail(*describe_error(exc))
        return
    settings.last_object, settings.last_material = imported.obj, imported.material
    STATE.notes = ([note] if note else []) + imported.notes
    STATE.stage = f"done: {len(imported.files)} files in {folder}"


def cancel() -> None:
    if STATE.runner is not None:
        STATE.runner.cancel()
        STATE.stage = "cancelling"


def check_backend(context) -> None:
    """Ask the backend for its health in a worker thread; the answer lands in STATE."""
    connect, problem = make_connect(preferences.get(context))
    if problem:
        STATE.backend, STATE.device = "not allowed", ""
        STATE.fail(problem, "Switch the backend to Local, or turn on online access")
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
