"""What goes over the wire: job options in, status and errors out (also the OpenAPI document)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, ValidationError, field_validator

from ..errors import UserError
from ..io.strict_json import parse_json
from ..predict import DEFAULT_LIGHT_FROM, FRAME_PX_RANGE, LIGHT_FROM, MODES, OUTPUT_FILES

API_VERSION = "1"
JOB_STATES = ("queued", "running", "done", "error", "cancelled")
FINISHED = ("done", "error", "cancelled")

Vector3 = tuple[FiniteFloat, FiniteFloat, FiniteFloat]


class JobOptions(BaseModel):
    """The `options` form field of POST /v1/jobs and /v1/predict, as JSON."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["auto", "single", "multi", "material"] = "auto"
    input_colorspace: Literal["auto", "srgb", "linear"] = "auto"
    normal_convention: Literal["opengl", "directx"] = "opengl"
    outputs: list[str] | None = Field(
        None, description=f"subset of {', '.join(OUTPUT_FILES)}; default: every map the mode makes"
    )
    lights: list[Vector3] | None = Field(
        None, description="known light directions [x, y, z], one per photo"
    )
    intensities: list[Vector3] | None = Field(
        None, description="known RGB intensities [r, g, b], one per photo"
    )
    height: bool = Field(
        False,
        description="also integrate the normals into height.png (16-bit, stretched over the "
        "mask), height.exr (float heights in pixels) and height.json (their range)",
    )
    focal_35mm: FiniteFloat | None = Field(
        None,
        description="single mode: the portrait's 35 mm-equivalent focal length, to turn an "
                    "off-centre "
        "face's normals into the photo's camera frame (default: EXIF, else no turn; 0: no turn)",
    )

    seamless: bool = Field(False, description="material mode: maps that tile without a seam")
    light_from: Literal["top", "left", "right", "bottom", "auto"] = Field(
        DEFAULT_LIGHT_FROM,
        description="material mode, one photo: the side of the photo its light comes from, or "
                    "auto (detected from the photo); the photo is turned so it comes from the "
                    "top for the model, and the maps turned back (`predict --light-from`)",
    )

    frame_px: int | None = Field(
        None, ge=FRAME_PX_RANGE[0], le=FRAME_PX_RANGE[1],
        description="single mode: the largest working size of the portrait's whole-frame pass "
                    "(default 512; 128 is faster and softer on the body: `predict --frame-px`)",
    )

    @field_validator("outputs")
    @classmethod
    def _known_outputs(cls, outputs):
        if outputs is not None:
            unknown = sorted(set(outputs) - set(OUTPUT_FILES))
            if unknown:
                raise ValueError(
                    f"unknown output(s) {', '.join(unknown)}; choose from {', '.join(OUTPUT_FILES)}"
                )
            if not outputs:
                raise ValueError("asks for no outputs")
        return outputs


assert set(MODES) == set(JobOptions.model_fields["mode"].annotation.__args__)
assert set(LIGHT_FROM) == set(JobOptions.model_fields["light_from"].annotation.__args__)


def parse_options(text: str | None) -> JobOptions:
    """The options field as a JobOptions, or a UserError in one line."""
    if not text:
        return JobOptions()
    raw = parse_json(text, "options")
    if not isinstance(raw, dict):
        raise UserError("options must be a JSON object")
    try:
        options = JobOptions.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "options"
        message = first["msg"].removeprefix("Value error, ")
        raise UserError(f"options.{where}: {message}") from None
    if options.intensities is not None and options.lights is None:
        raise UserError("options.intensities needs options.lights (known light directions)")
    return options


class ErrorDetail(BaseModel):
    code: str = Field(
        description="machine-readable, e.g. bad_input, too_large, queue_full, model_not_available"
    )
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail


class JobCreated(BaseModel):
    id: str
    state: str


class JobStatus(BaseModel):
    id: str
    state: Literal["queued", "running", "done", "error", "cancelled"]
    stage: str
    progress: float = Field(ge=0.0, le=1.0)
    error: str | None = None
    files: list[str] = Field(default_factory=list, description="result files, once done")


class Health(BaseModel):
    status: str
    version: str
    api_version: str
    device: str
    gpu_memory: dict | None = Field(
        None, description="CUDA free/total/max allocated MiB; null on CPU"
    )
    memory: dict = Field(description="server process RSS and peak RSS, MiB")
    models: dict = Field(description="per mode: available or not, and the weight file")
    queue: dict = Field(description="waiting (jobs and relights), max, running, completed, "
                                    "results_mib (kept on disk)")
    limits: dict = Field(description="max_upload_mib, max_photos, max_photo_mp, max_job_mp "
                                     "(all photos of a job decoded together), max_hdri_mp, "
                                     "max_queue, max_results_mib, keep_minutes, read_timeout_s")


_ERRORS = {
    400: "bad input: options, photos, light files, HDRI (a photo or HDRI over its pixel limit)",
    401: "missing token",
    403: "wrong token, or a refused Host or browser Origin",
    404: "no such job or file",
    408: "the upload came too slowly",
    409: "the job is not done (or, for /v1/predict, was cancelled)",
    413: "over a size limit: the upload's bytes, or the job's photos decoded together",
    500: "the job failed with an internal error",
    501: "model not available (e.g. single-portrait mode)",
    503: "queue full; retry after the Retry-After header",
}


def errors_of(*statuses: int) -> dict:
    """OpenAPI responses for these error statuses, each with the error body's schema."""
    return {status: {"model": ErrorResponse, "description": _ERRORS[status]}
            for status in statuses}

