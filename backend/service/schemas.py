"""What goes over the wire: job options in, status and errors out (also the OpenAPI document)."""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import UserError
from ..predict import MODES, OUTPUT_FILES

API_VERSION = "1"
JOB_STATES = ("queued", "running", "done", "error", "cancelled")
FINISHED = ("done", "error", "cancelled")

Vector3 = tuple[float, float, float]


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
    focal_35mm: float | None = Field(
        None,
        description="single mode: the portrait's 35 mm-equivalent focal length, to turn an "
                    "off-centre "
        "face's normals into the photo's camera frame (default: EXIF, else no turn; 0: no turn)",
    )

    seamless: bool = Field(False, description="material mode: maps that tile without a seam")

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


def parse_options(text: str | None) -> JobOptions:
    """The options field as a JobOptions, or a UserError in one line."""
    if not text:
        return JobOptions()
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise UserError(f"options is not valid JSON ({exc})") from None
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
    queue: dict


ERROR_RESPONSES = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in {
        400: "bad input: options, photos, light files",
        401: "missing token",
        403: "wrong token",
        404: "no such job or file",
        409: "the job is not finished",
        413: "upload over the size limit",
        501: "model not available (e.g. single-portrait mode)",
        503: "queue full; retry after the Retry-After header",
    }.items()
}
