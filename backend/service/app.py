"""The HTTP API (/v1): FastAPI routes over the job manager. Every error is
{"error": {"code": ..., "message": ...}} with a 4xx/5xx status; the server keeps serving."""

from __future__ import annotations

import asyncio
import logging
import resource
import shutil
import tempfile
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from fastapi import Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.routing import Match

from .. import __version__
from ..errors import UserError
from ..relight.envmap import BUNDLED_NAMES, bundled_hdri
from ..relight.relight import BACKGROUNDS, SHADERS, relight_dir, write_relit
from .errors import ServiceError, error_response
from .guards import BodyLimit, BrowserCheck, QueueGate, TokenCheck, is_loopback, queue_full
from .jobs import Job, JobManager, QueueFull
from .models import ModelCache, available_models
from .schemas import (
    API_VERSION,
    Health,
    JobCreated,
    JobOptions,
    JobStatus,
    errors_of,
    parse_options,
)
from .storage import ResultsFolder
from .uploads import Limits, save_hdri, save_upload

log = logging.getLogger("photonormals.service")
PREFIX = "/v1"
OPEN_PATHS = frozenset({f"{PREFIX}/health"})  # everything else under /v1 needs the token
UPLOAD_PATHS = frozenset({f"{PREFIX}/jobs", f"{PREFIX}/predict", f"{PREFIX}/relight"})
RETRY_AFTER_S = 5


@dataclass
class Settings:
    device: str = "cpu"  # a resolved torch device name
    token: str | None = None
    host: str = "127.0.0.1"  # the address served: a loopback one answers loopback names only
    allow_origins: frozenset[str] = frozenset()  # browser pages allowed to call (CORS)
    results_dir: Path | None = None  # None: a temp folder, removed at shutdown
    keep_minutes: float = 30.0
    max_results_mb: float = 4096.0  # kept results on disk; the oldest go first
    max_queue: int = 8
    read_timeout: float = 10.0  # seconds for a request's headers; then an upload's pace counts
    limits: Limits = field(default_factory=Limits)
    precision: str = "auto"
    runtime: str = "auto"  # where the networks' forward runs (see inference/runtime.py)
    threads: int | None = None  # ONNX Runtime's threads


# ---------------------------------------------------------------------------- errors


async def _on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    where = ".".join(
        str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")
    )
    kind, ctx = first.get("type"), first.get("ctx") or {}
    if kind == "missing":
        message = "required, but missing"
    elif kind == "too_long" and "actual_length" in ctx:  # e.g. more photos than --max-photos
        message = f"{ctx['actual_length']} given, over the limit of {ctx['max_length']}"
    else:
        message = first.get("msg")
    return error_response(ServiceError(400, "bad_input", f"{where or 'request'}: {message}"))


async def _on_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, HTTPException) and exc.status_code == 405:
        # Starlette's Allow names only the first route of the path (GET, not also DELETE).
        methods = sorted({method for route in request.app.routes
                          if route.matches(request.scope)[0] != Match.NONE
                          for method in getattr(route, "methods", None) or ()})
        exc = ServiceError(405, "method_not_allowed", f"{request.method} is not allowed here; "
                           f"use {', '.join(methods)}", {"Allow": ", ".join(methods)})
    if not isinstance(exc, (UserError, HTTPException)):
        log.exception("request %s %s failed", request.method, request.url.path)
    return error_response(exc)


# ---------------------------------------------------------------------------- auth


_bearer = HTTPBearer(
    auto_error=False, description="the token given to `photonormals serve --token`"
)


def _documented_auth(credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> None:
    """The check itself is guards.TokenCheck; this puts the scheme in the OpenAPI document."""


# ---------------------------------------------------------------------------- app


def create_app(settings: Settings, jobs: Callable[..., JobManager] = JobManager) -> FastAPI:
    """The app; jobs makes its job manager from JobManager's arguments (on Ray, one that shares
    its jobs with the other replicas: shared_jobs.py)."""
    limits = settings.limits
    models = ModelCache(settings.precision, settings.runtime, settings.threads)
    results = ResultsFolder(settings.results_dir)
    manager = jobs(None, settings.device, models, settings.max_queue,
                   settings.keep_minutes * 60, int(settings.max_results_mb * (1 << 20)))

    @asynccontextmanager
    async def lifespan(app):
        # The folder is claimed here, not in create_app, so an app that never runs touches nothing.
        manager.root = results.open()
        manager.start()
        try:
            yield
        finally:
            manager.stop()
            results.close()

    app = FastAPI(
        title="PhotoNormals",
        version=__version__,
        lifespan=lifespan,
        description="Photos to camera-space normal, albedo, shading and mask maps. "
        "All endpoints but /v1/health need the server's token when it has one. "
        f"Limits: {limits.max_photos} photos and {limits.max_upload_bytes >> 20} MiB per "
        f"request, {limits.max_pixels / 1e6:g} MP per photo, {limits.max_job_pixels / 1e6:g} MP "
        f"per job, {limits.max_hdri_pixels / 1e6:.1f} MP per HDRI (also in /v1/health).",
    )
    app.state.manager = manager
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(HTTPException, _on_error)
    app.add_exception_handler(UserError, _on_error)
    app.add_exception_handler(Exception, _on_error)
    # Added innermost first: a request meets BrowserCheck, CORS, TokenCheck, QueueGate, BodyLimit.
    app.add_middleware(BodyLimit, max_bytes=limits.max_upload_bytes,
                       read_timeout=settings.read_timeout)
    app.add_middleware(QueueGate, manager=manager, paths=UPLOAD_PATHS, retry_after_s=RETRY_AFTER_S)
    app.add_middleware(TokenCheck, token=settings.token, open_paths=OPEN_PATHS, prefix=PREFIX)
    if settings.allow_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=sorted(settings.allow_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "X-PhotoNormals-Token", "Content-Type"],
            expose_headers=["X-PhotoNormals-Job", "Retry-After"],
        )
    app.add_middleware(BrowserCheck, loopback_only=is_loopback(settings.host),
                       allow_origins=settings.allow_origins)
    auth = [Depends(_documented_auth)] if settings.token else []

    def job_or_404(job_id: str) -> Job:
        job = manager.get(job_id)
        if job is None:
            raise ServiceError(
                404, "not_found", f"no job {job_id} (unknown, or its results expired)"
            )
        return job

    def create_job(photos, options, lights_file, mask_file=None) -> Job:
        """Check the upload and queue it; runs in a worker thread (file I/O, header checks)."""
        parsed = parse_options(options)
        if manager.is_full():
            raise queue_full(f"the queue is full ({manager.max_queue} waiting)", RETRY_AFTER_S)
        job = manager.new_job()
        try:
            job.upload = save_upload(job.folder, photos, lights_file, parsed, limits,
                                     settings.device, mask_file)
            manager.enqueue(job)
        except QueueFull as exc:
            manager.discard(job)
            raise queue_full(str(exc), RETRY_AFTER_S) from None
        except BaseException:
            manager.discard(job)
            raise
        return job

    photos_field = File(
        ..., min_length=1, max_length=limits.max_photos,
        description=f"the photos, one file per part (repeat the field), 1 to "
        f"{limits.max_photos}: PNG, JPEG, TIFF, EXR or HDR, one size, at least 16x16, at most "
        f"{limits.max_pixels / 1e6:g} MP each and {limits.max_job_pixels / 1e6:g} MP together"
    )
    options_field = Form(
        None,
        description="a JSON object: mode, input_colorspace, normal_convention, outputs, "
        "lights [[x,y,z]...], intensities [[r,g,b]...], height, focal_35mm",
        json_schema_extra={"contentMediaType": "application/json",
                           "contentSchema": JobOptions.model_json_schema()},
    )
    lights_field = File(
        None, description="light_directions.txt (one 'x y z' per photo) or lights.json"
    )
    mask_field = File(None, description="the object mask (white inside), the photos' size")
    upload_errors = errors_of(400, 401, 403, 408, 413, 501, 503)

    @app.get(f"{PREFIX}/health", response_model=Health, tags=["service"],
             responses=errors_of(403))
    def health() -> dict:
        return {
            "status": "ok",
            "version": __version__,
            "api_version": API_VERSION,
            "device": settings.device,
            "gpu_memory": _gpu_memory(settings.device),
            "memory": _process_memory(),
            "models": {**available_models(), "loaded": models.loaded()},
            "queue": manager.counts(),
            "limits": {**limits.as_dict(), "max_queue": settings.max_queue,
                       "max_results_mib": settings.max_results_mb,
                       "keep_minutes": settings.keep_minutes,
                       "read_timeout_s": settings.read_timeout},
        }

    @app.post(
        f"{PREFIX}/jobs",
        status_code=202,
        response_model=JobCreated,
        dependencies=auth,
        responses=upload_errors,
        tags=["jobs"],
    )
    def submit_job(
        photos: list[UploadFile] = photos_field,
        options: str | None = options_field,
        lights_file: UploadFile | None = lights_field,
        mask_file: UploadFile | None = mask_field,
    ) -> dict:
        """Queue a photo set; returns the job id at once. Poll GET /v1/jobs/{id}."""
        job = create_job(photos, options, lights_file, mask_file)
        return {"id": job.id, "state": job.state}

    @app.get(f"{PREFIX}/jobs/{{job_id}}", response_model=JobStatus, dependencies=auth,
             responses=errors_of(401, 403, 404), tags=["jobs"])
    def job_status(job_id: str) -> dict:
        return job_or_404(job_id).status()

    @app.delete(f"{PREFIX}/jobs/{{job_id}}", response_model=JobStatus, dependencies=auth,
                responses=errors_of(401, 403, 404), tags=["jobs"])
    def cancel_job(job_id: str) -> dict:
        """Cancel: a queued job at once, a running one at its next stage; a finished one stays."""
        job = job_or_404(job_id)
        manager.cancel(job)
        return job.status()

    def finished_job(job_id: str) -> Job:
        job = job_or_404(job_id)
        if job.state != "done":
            detail = f": {job.error}" if job.error else ""
            raise ServiceError(409, "not_done", f"job {job_id} is {job.state}{detail}")
        return job

    zip_response = {200: {"content": {"application/zip": {}}, "description": "the maps as a zip"}}

    @app.get(f"{PREFIX}/jobs/{{job_id}}/result", response_class=FileResponse, dependencies=auth,
             responses={**zip_response, **errors_of(401, 403, 404, 409)}, tags=["jobs"])
    def job_result(job_id: str):
        job = finished_job(job_id)
        return FileResponse(
            job.archive, media_type="application/zip", filename=f"photonormals-{job_id}.zip"
        )

    @app.get(
        f"{PREFIX}/jobs/{{job_id}}/files/{{name}}",
        response_class=FileResponse,
        dependencies=auth,
        responses={200: {"content": {"application/octet-stream": {}}},
                   **errors_of(401, 403, 404, 409)},
        tags=["jobs"],
    )
    def job_file(job_id: str, name: str):
        job = finished_job(job_id)
        if name not in job.files:
            raise ServiceError(
                404,
                "not_found",
                f"job {job_id} has no file {name!r}; it has {', '.join(job.files)}",
            )
        return FileResponse(job.output / name, filename=name)

    @app.post(
        f"{PREFIX}/predict",
        response_class=FileResponse,
        dependencies=auth,
        responses={
            **zip_response,
            **upload_errors,
            **errors_of(409, 500),
        },
        tags=["jobs"],
    )
    async def predict_blocking(
        request: Request,
        photos: list[UploadFile] = photos_field,
        options: str | None = options_field,
        lights_file: UploadFile | None = lights_field,
        mask_file: UploadFile | None = mask_field,
    ):
        """Same inputs as POST /v1/jobs; waits and returns the zip (for scripts). A client that
        hangs up cancels its job. A job that fails answers its error (400, 409 if cancelled,
        500 for a bug)."""
        job = await run_in_threadpool(create_job, photos, options, lights_file, mask_file)
        while not job.finished.is_set():
            if await request.is_disconnected():
                manager.cancel(job)
                return Response(status_code=499)
            await asyncio.sleep(0.02)
        if job.state != "done":
            status = {"bad_input": 400, "model_not_available": 501, "internal": 500}.get(
                job.error_code, 409
            )
            raise ServiceError(
                status, job.error_code or job.state, job.error or f"the job was {job.state}"
            )
        return FileResponse(
            job.archive,
            media_type="application/zip",
            filename=f"photonormals-{job.id}.zip",
            headers={"X-PhotoNormals-Job": job.id},
        )

    @app.post(
        f"{PREFIX}/relight",
        dependencies=auth,
        tags=["relight"],
        responses={200: {"content": {"image/png": {}, "image/x-exr": {}},
                         "description": "the relit image"},
                   **upload_errors, **errors_of(404, 409)},
    )
    async def relight(
        job_id: str = Form(..., min_length=1, description="a finished job"),
        hdri: Literal[BUNDLED_NAMES] | None = Form(  # type: ignore[valid-type]
            None, description="a bundled HDRI (default studio), or upload hdri_file"),
        hdri_file: UploadFile | None = File(
            None, description=f"an .exr/.hdr equirect of at most "
            f"{limits.max_hdri_pixels / 1e6:.1f} MP"),
        rotation: float = Form(0.0, description="degrees about the vertical axis",
                               allow_inf_nan=False),
        exposure: float = Form(0.0, description="stops, -64 to 64", ge=-64, le=64),
        shader: Literal[SHADERS] = Form("diffuse"),  # type: ignore[valid-type]
        background: Literal[BACKGROUNDS] = Form("keep"),  # type: ignore[valid-type]
        format: Literal["png", "exr"] = Form("png", description="png (sRGB) or exr (linear)"),
    ):
        """Render a finished job's maps under an HDRI; returns a PNG or EXR. It waits in the job
        queue (and counts against --max-queue)."""
        job = await run_in_threadpool(finished_job, job_id)  # on Ray it may fetch the maps
        scratch = Path(tempfile.mkdtemp(dir=job.folder))
        try:
            if hdri_file is not None:
                source = await run_in_threadpool(save_hdri, hdri_file, scratch, limits)
            else:
                source = bundled_hdri(hdri or "studio")  # a name, never a path on the server

            def render() -> bytes:
                rgba = relight_dir(job.output, source, rotation=rotation, exposure=exposure,
                                   shader=shader, background=background, photo=job.photo)
                target = scratch / f"relit.{format}"
                write_relit(target, rgba)
                return target.read_bytes()

            try:
                payload = await asyncio.wrap_future(manager.call(render))
            except QueueFull as exc:
                raise queue_full(str(exc), RETRY_AFTER_S) from None
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return Response(payload, media_type="image/png" if format == "png" else "image/x-exr")

    return app


def _gpu_memory(device: str) -> dict | None:
    if not device.startswith("cuda"):
        return None
    import torch

    free, total = torch.cuda.mem_get_info()
    mib = 1 << 20
    return {"free_mib": free // mib, "total_mib": total // mib,
            "max_allocated_mib": torch.cuda.max_memory_allocated() // mib}


def _process_memory() -> dict:
    """RSS now and at its peak (Linux /proc; peak falls back to getrusage elsewhere)."""
    values = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) // 1024
    except OSError:
        pass
    peak = values.get("VmHWM", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
    return {"rss_mib": values.get("VmRSS"), "peak_rss_mib": peak}
