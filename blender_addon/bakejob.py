"""The Bake button's job: Blender's own bake running in the background, followed to its end.

`start()` launches `object.bake` with INVOKE_DEFAULT, which Blender runs as a job: the UI stays
responsive, the status bar shows its progress and Esc (or the status bar's X) cancels it. The
Bake operator's modal timer calls `poll()`; Blender's object_bake_complete / object_bake_cancel
handlers say how the job ended. `run()` does the same synchronously (background mode, scripts).
Whatever happens, scene/bake.py puts every setting back and writes a file only on success.
"""

from __future__ import annotations

from pathlib import Path

import bpy

from .scene import bake, outputs


class BakeError(Exception):
    """A bake that cannot start or did not finish: message and hint for the panel."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.hint = hint


class BakeJob:
    def __init__(self, obj: bpy.types.Object, folder: Path | None, settings):
        if obj is None:
            raise BakeError("Nothing to bake: generate normals first",
                            "Select the photo plane, or an object with a PhotoNormals material")
        if folder is None:
            raise BakeError(outputs.NEEDS_FOLDER, outputs.NEEDS_FOLDER_HINT)
        kind = settings.bake_type
        fmt = bake.default_format(kind) if settings.bake_format == "AUTO" else settings.bake_format
        folder.mkdir(parents=True, exist_ok=True)
        self.target = outputs.unique_path(folder, f"{obj.name}_bake_{kind}", bake.suffix(fmt))
        self.session = bake.prepare(obj, kind, settings.bake_size, settings.bake_margin,
                                    settings.bake_samples, fmt)
        self.outcome: str | None = None  # "complete" or "cancelled", from Blender's handlers
        self.path: Path | None = None

    # Blender calls these from its bake job's end, on the main thread.
    def _on_complete(self, *_args) -> None:
        self.outcome = "complete"

    def _on_cancel(self, *_args) -> None:
        self.outcome = "cancelled"

    def _watch(self, on: bool) -> None:
        for handlers, callback in ((bpy.app.handlers.object_bake_complete, self._on_complete),
                                   (bpy.app.handlers.object_bake_cancel, self._on_cancel)):
            if on and callback not in handlers:
                handlers.append(callback)
            elif not on and callback in handlers:
                handlers.remove(callback)

    def start(self, context) -> None:
        """Launch Blender's bake job (returns at once)."""
        self._watch(True)
        try:
            with context.temp_override(**bake.context_override(self.session)):
                result = bpy.ops.object.bake("INVOKE_DEFAULT", **self.session.arguments)
        except RuntimeError as exc:
            self._watch(False)
            bake.abort(self.session)
            raise BakeError(f"Bake failed: {exc}", "Check the object has a UV map") from None
        if "RUNNING_MODAL" not in result and "FINISHED" not in result:
            self._watch(False)
            bake.abort(self.session)
            raise BakeError(f"Blender did not start the bake ({', '.join(result)})")
        if "FINISHED" in result and self.outcome is None:
            self.outcome = "complete"  # it ran to the end at once

    def poll(self, job_running: bool) -> str:
        """'running', or how it ended: 'done' (self.path written), 'cancelled', 'failed'."""
        if self.outcome is None and job_running:
            return "running"
        self._watch(False)
        if self.outcome == "complete":
            self.path = bake.finish(self.session, self.target)
            return "done"
        bake.abort(self.session)
        return "cancelled" if self.outcome == "cancelled" else "failed"

    def run(self) -> Path:
        """The whole bake, blocking."""
        try:
            bake.run(self.session)
        except (RuntimeError, ValueError) as exc:
            bake.abort(self.session)
            raise BakeError(f"Bake failed: {exc}", "Check the object has a UV map") from None
        self.path = bake.finish(self.session, self.target)
        return self.path
