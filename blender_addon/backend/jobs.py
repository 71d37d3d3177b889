"""One Generate Normals job: submit, wait with progress, fetch into a private staging folder.

The worker thread never touches bpy. Blender's main thread polls `JobRunner.snapshot()` from a
timer; batch mode calls `run()` directly. Results land in a staging folder first, so a failure
or a killed backend never leaves half-written textures in the user's output folder.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .client_loader import load_client
from .server import ServerError


@dataclass
class JobRequest:
    photos: list[str]
    options: dict = field(default_factory=dict)
    lights_file: str | None = None
    mask_file: str | None = None


@dataclass
class JobSnapshot:
    stage: str = "starting"
    progress: float = 0.0
    done: bool = False
    error: str = ""
    hint: str = ""
    files: list[Path] = field(default_factory=list)
    device: str = ""
    kind: str = ""  # what failed: unreachable, auth, server, input, job, cancelled, local


# What the Status line says about the backend after each kind of failure.
BACKEND_AFTER = {"unreachable": "unreachable", "auth": "token refused", "server": "not started"}

# The backend's messages name command-line flags and API fields; the panel names its own fields.
PANEL_WORDS = (
    ("--lights", "the light file"), ("--intensities", "the intensities file"),
    ("--mask", "the mask"), ("--focal-35mm", "the focal length"),
    ("--light-from", "Light Comes From"),
    ("options.lights", "the lights"), ("lights_file", "the light file"),
    ("mask_file", "the mask"), ("the 'photos' field", "the photo set"),
    ("single mode", "Single Portrait mode"), ("multi mode", "Multi-Light mode"),
    ("material mode (--mode material)", "Surface / Material mode"),
)


def panel_wording(text: str) -> str:
    for cli, panel in PANEL_WORDS:
        text = text.replace(cli, panel)
    return text[:1].upper() + text[1:]


def error_kind(exc: BaseException) -> str:
    client = load_client()
    if isinstance(exc, ServerError):
        return "server"
    if isinstance(exc, client.BackendUnavailable):
        return "unreachable"
    if isinstance(exc, client.AuthError):
        return "auth"
    if isinstance(exc, client.JobCancelled):
        return "cancelled"
    if isinstance(exc, client.RequestError):
        return "input"
    if isinstance(exc, client.JobFailed):
        return "job"
    return "local"


def describe_error(exc: BaseException) -> tuple[str, str]:
    """A one-line message and a hint saying how to fix it."""
    client = load_client()
    text = panel_wording(str(exc).strip() or type(exc).__name__)
    low = text.lower()
    if isinstance(exc, ServerError):
        return text, "Check the Python executable / device in the PhotoNormals add-on preferences"
    if "model not available" in low or getattr(exc, "code", "") == "model_not_available":
        return text, (
            "The backend has no model for this mode (weights/index.json): update or reinstall "
            "photonormals there, or use a multi-light set with a light file, which needs none"
        )
    if isinstance(exc, client.AuthError):
        return text, "The backend refused the token: check the token in the add-on preferences"
    if isinstance(exc, client.BackendUnavailable):
        return (
            text,
            "Is the backend running? Check its URL, or switch to a local backend in the "
            "preferences",
        )
    if isinstance(exc, client.JobCancelled):
        return "Cancelled", ""
    if "no person" in low or "no face" in low:
        return text, "Single Portrait needs a photo of one person, face visible"
    if isinstance(exc, client.RequestError):
        return text, "Check the photos and the light file (one light per photo, same order)"
    if isinstance(exc, client.JobFailed):
        return text, "Check the photos; the backend's log has the details"
    if isinstance(exc, OSError):
        return text, "Check that the output folder is writable and has free space"
    return text, "Unexpected error: see Blender's system console"


class JobRunner:
    """Runs one job; `connect()` returns a ready client (it may start the local server)."""

    def __init__(self, connect: Callable[[], object], request: JobRequest):
        self.connect, self.request = connect, request
        self._snapshot = JobSnapshot()
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self.staging: Path | None = None
        self.job_id: str | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="photonormals-job", daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        self._cancel.set()

    def snapshot(self) -> JobSnapshot:
        with self._lock:
            s = self._snapshot
            return JobSnapshot(
                s.stage, s.progress, s.done, s.error, s.hint, list(s.files), s.device, s.kind
            )

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _update(self, **values) -> None:
        with self._lock:
            for key, value in values.items():
                setattr(self._snapshot, key, value)

    def _on_progress(self, status: dict) -> None:
        self._update(stage=str(status.get("stage") or status.get("state") or ""),
                     progress=float(status.get("progress") or 0.0))

    def run(self) -> JobSnapshot:
        """The whole job, synchronously; never raises (errors end up in the snapshot)."""
        try:
            self._update(stage="connecting to backend")
            client = self.connect()
            # health is informative; submit reports real failures
            with contextlib.suppress(Exception):
                self._update(device=str(client.health().get("device", "")))
            if self._cancel.is_set():
                raise load_client().JobCancelled("Cancelled")
            self._update(stage="uploading photos")
            extra = {"mask_file": self.request.mask_file} if self.request.mask_file else {}
            self.job_id = client.submit(self.request.photos, self.request.options or None,
                                        lights_file=self.request.lights_file, **extra)
            client.wait(
                self.job_id, on_progress=self._on_progress, should_cancel=self._cancel.is_set
            )
            if self._cancel.is_set():
                raise load_client().JobCancelled("Cancelled")
            self._update(stage="downloading maps", progress=1.0)
            self.staging = Path(tempfile.mkdtemp(prefix="photonormals-job-"))
            files = client.fetch(self.job_id, self.staging)
            self._update(stage="done", files=[Path(f) for f in files], done=True)
        except BaseException as exc:  # noqa: BLE001 - the worker must report, never die silently
            self.discard()
            message, hint = describe_error(exc)
            self._update(stage="cancelled" if message == "Cancelled" else "failed",
                         error=message, hint=hint, done=True, files=[], kind=error_kind(exc))
        return self.snapshot()

    def discard(self) -> None:
        """Delete the staging folder (after a failure, or once the maps were imported)."""
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging = None
