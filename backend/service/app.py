"""The HTTP API (/v1): FastAPI routes over the job manager. Every error is
{"error": {"code": ..., "message": ...}} with a 4xx/5xx status; the server keeps serving."""

from __future__ import annotations

import asyncio
import hmac
import logging
import resource
import shutil
import tempfile
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from .. import __version__
from ..errors import ModelNotAvailable, UserError
from .jobs import Job, JobManager, QueueFull
from .models import ModelCache, available_models
from .schemas import API_VERSION, ERROR_RESPONSES, Health, JobCreated, JobStatus, parse_options
from .uploads import BodyLimit, Limits, ServiceError, save_upload

log = logging.getLogger("photonormals.service")
PREFIX = "/v1"
OPEN_PATHS = {f"{PREFIX}/health"}  # everything else under /v1 needs the token
RETRY_AFTER_S = 5


@dataclass
class Settings:
    device: str = "cpu"  # a resolved torch device name
    token: str | None = None
    results_dir: Path | None = None  # None: a temp folder, removed at shutdown
    keep_minutes: float = 30.0
    max_queue: int = 8
    limits: Limits = field(default_factory=Limits)
    precision: str = "auto"
    runtime: str = "auto"  # where the networks' forward runs (see inference/runtime.py)
    threads: int | None = None  # ONNX Runtime's threads


# ---------------------------------------------------------------------------- errors

_CODES = {400: "bad_input", 401: "unauthorized", 403: "forbidden", 404: "not_found",
          405: "method_not_allowed", 409: "conflict", 413: "too_large", 429: "busy",
          501: "not_implemented", 503: "busy"}


def error_response(exc: Exception) -> JSONResponse:
    if isinstance(exc, ModelNotAvailable):
        status, code, message, headers = 501, "model_not_available", str(exc), None
    elif isinstance(exc, UserError):
        status, code, message, headers = 400, "bad_input", str(exc), None
    elif isinstance(exc, HTTPException):
        status, headers, message = exc.status_code, exc.headers, str(exc.detail)
        code = getattr(exc, "code", None) or _CODES.get(status, "error")
    else:
        message = f"internal error: {type(exc).__name__}"
        status, code, headers = 500, "internal", None
    return JSONResponse({"error": {"code": code, "message": message}}, status, headers=headers)


async def _on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    where = ".".join(
        str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")
    )
    return error_response(
        ServiceError(400, "bad_input", f"{where or 'request'}: {first.get('msg')}")
    )


async def _on_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, (UserError, HTTPException)):
        log.exception("request %s %s failed", request.method, request.url.path)
    return error_response(exc)


# ---------------------------------------------------------------------------- auth


class TokenCheck:
    """ASGI middleware: reject a missing or wrong token before the body is read, so an
    unauthorised client cannot make the server parse a large upload."""

    def __init__(self, app, token: str | None):
        self.app = app
        self.token = token

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and self.token and scope["path"].startswith(PREFIX) \
                and scope["path"] not in OPEN_PATHS:
            problem = token_problem(dict(scope["headers"]), self.token)
            if problem is not None:
                return await error_response(problem)(scope, receive, send)
        await self.app(scope, receive, send)


def token_problem(headers: dict, token: str) -> ServiceError | None:
    given = headers.get(b"x-photonormals-token")
    authorization = headers.get(b"authorization", b"")
    if given is None and authorization[:7].lower() == b"bearer ":
        given = authorization[7:].strip()
    if not given:
        return ServiceError(
            401,
            "unauthorized",
            "this server needs a token: Authorization: Bearer TOKEN",
            {"WWW-Authenticate": "Bearer"},
        )
    if not hmac.compare_digest(given, token.encode()):
        return ServiceError(403, "forbidden", "wrong token")
    return None


_bearer = HTTPBearer(
    auto_error=False, description="the token given to `photonormals serve --token`"
)


def _documented_auth(credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> None:
    """The check itself is TokenCheck; this puts the scheme in the OpenAPI document."""


# ---------------------------------------------------------------------------- app


def create_app(settings: Settings) -> FastAPI:
    owns_dir = settings.results_dir is None
    models = ModelCache(settings.precision, settings.runtime, settings.threads)
    manager = JobManager(settings.results_dir, settings.device, models, settings.max_queue,
                         settings.keep_minutes * 60)

    @asynccontextmanager
    async def lifespan(app):
        if owns_dir:  # made here, not in create_app, so an app that never runs leaves nothing
            manager.root = Path(tempfile.mkdtemp(prefix="photonormals-serve-"))
        manager.start()
        try:
            yield
        finally:
            manager.stop()
            if owns_dir:
                shutil.rmtree(manager.root, ignore_errors=True)

    app = FastAPI(
        title="PhotoNormals",
        version=__version__,
        lifespan=lifespan,
        description="Photos to camera-space normal, albedo, shading and mask maps. "
        "All endpoints but /v1/health need the server's token when it has one.",
    )
    app.state.manager = manager
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(HTTPException, _on_error)
    app.add_exception_handler(UserError, _on_error)
    app.add_exception_handler(Exception, _on_error)
    app.add_middleware(BodyLimit, max_bytes=settings.limits.max_upload_bytes)
    app.add_middleware(TokenCheck, token=settings.token)  # added last: runs first
    auth = [Depends(_documented_auth)] if settings.token else []

    def job_or_404(job_id: str) -> Job:
        job = manager.get(job_id)
        if job is None:
            raise ServiceError(
                404, "not_found", f"no job {job_id} (unknown, or its results expired)"
            )
        return job

    def queue_full(message: str) -> ServiceError:
        return ServiceError(
            503, "queue_full", f"{message}; retry later", {"Retry-After": str(RETRY_AFTER_S)}
        )

    def create_job(photos, options, lights_file) -> Job:
        """Check the upload and queue it; runs in a worker thread (file I/O, header checks)."""
        parsed = parse_options(options)
        if manager.is_full():
            raise queue_full(f"the queue is full ({manager.max_queue} jobs waiting)")
        job = manager.new_job()
        try:
            job.upload = save_upload(
                job.folder, photos, lights_file, parsed, settings.limits, settings.device
            )
            manager.enqueue(job)
        except QueueFull as exc:
            manager.discard(job)
            raise queue_full(str(exc)) from None
        except BaseException:
            manager.discard(job)
            raise
        return job

    photos_field = File(None, description="the photos, one file per part (repeat the field)")
    options_field = Form(
        None,
        description="JSON: mode, input_colorspace, normal_convention, outputs, "
        "lights [[x,y,z]...], intensities [[r,g,b]...]",
    )
    lights_field = File(
        None, description="light_directions.txt (one 'x y z' per photo) or lights.json"
    )

    @app.get(f"{PREFIX}/health", response_model=Health, tags=["service"])
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
        }

    @app.post(
        f"{PREFIX}/jobs",
        status_code=202,
        response_model=JobCreated,
        dependencies=auth,
        responses=ERROR_RESPONSES,
        tags=["jobs"],
    )
    def submit_job(
        photos: list[UploadFile] | None = photos_field,
        options: str | None = options_field,
        lights_file: UploadFile | None = lights_field,
    ) -> dict:
        """Queue a photo set; returns the job id at once. Poll GET /v1/jobs/{id}."""
        job = create_job(photos, options, lights_file)
        return {"id": job.id, "state": job.state}

    @app.get(f"{PREFIX}/jobs/{{job_id}}", response_model=JobStatus, dependencies=auth,
             responses=ERROR_RESPONSES, tags=["jobs"])
    def job_status(job_id: str) -> dict:
        return job_or_404(job_id).status()

    @app.delete(f"{PREFIX}/jobs/{{job_id}}", response_model=JobStatus, dependencies=auth,
                responses=ERROR_RESPONSES, tags=["jobs"])
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
             responses={**zip_response, **ERROR_RESPONSES}, tags=["jobs"])
    def job_result(job_id: str):
        job = finished_job(job_id)
        return FileResponse(
            job.archive, media_type="application/zip", filename=f"photonormals-{job_id}.zip"
        )

    @app.get(
        f"{PREFIX}/jobs/{{job_id}}/files/{{name}}",
        response_class=FileResponse,
        dependencies=auth,
        responses={200: {"content": {"application/octet-stream": {}}}, **ERROR_RESPONSES},
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
            **ERROR_RESPONSES,
            500: ERROR_RESPONSES[400] | {"description": "job failed"},
        },
        tags=["jobs"],
    )
    async def predict_blocking(
        request: Request,
        photos: list[UploadFile] | None = photos_field,
        options: str | None = options_field,
        lights_file: UploadFile | None = lights_field,
    ):
        """Same inputs as POST /v1/jobs; waits and returns the zip (for scripts). A client that
        hangs up cancels its job."""
        job = await run_in_threadpool(create_job, photos, options, lights_file)
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
        responses={200: {"content": {"image/png": {}, "image/x-exr": {}}}, **ERROR_RESPONSES},
    )
    def relight(
        job_id: str = Form(...),
        hdri: str | None = Form(None, description="a Blender bundled HDRI name (default studio)"),
        hdri_file: UploadFile | None = File(None, description="or an uploaded .exr/.hdr"),
        rotation: float = Form(0.0, description="degrees about the vertical axis"),
        exposure: float = Form(0.0, description="stops"),
        shader: str = Form("diffuse"),
        background: str = Form("keep"),
        format: str = Form("png", description="png (sRGB) or exr (linear)"),
    ):
        """Render a finished job's maps under an HDRI; returns a PNG or EXR."""
        job = finished_job(job_id)
        if format not in ("png", "exr"):
            raise UserError(f"unknown format {format!r}; use png or exr")
        try:
            from ..relight.envmap import BUNDLED_NAMES
            from ..relight.relight import relight_dir, write_relit
        except ImportError:
            raise ServiceError(
                501, "not_implemented", "relighting is not available in this build"
            ) from None
        source = hdri or "studio"
        if hdri_file is None and source.lower() not in BUNDLED_NAMES:  # never a path on the server
            raise UserError(
                f"unknown HDRI {source!r}: use one of {', '.join(BUNDLED_NAMES)} or upload "
                f"hdri_file"
            )
        with tempfile.TemporaryDirectory(dir=job.folder) as scratch:
            if hdri_file is not None:
                suffix = Path(hdri_file.filename or "").suffix.lower()
                if suffix not in (".exr", ".hdr"):
                    raise UserError("hdri_file must be an .exr or .hdr file")
                source = Path(scratch) / f"upload{suffix}"
                with open(source, "wb") as out:
                    shutil.copyfileobj(hdri_file.file, out)
            rgba = relight_dir(job.output, source, rotation=rotation, exposure=exposure,
                               shader=shader, background=background, photo=job.photo)
            target = Path(scratch) / f"relit.{format}"
            write_relit(target, rgba)
            payload = target.read_bytes()
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
