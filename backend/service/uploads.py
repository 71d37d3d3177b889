"""Uploads: the request-size limit, and uploads turned into checked files for the predict pipeline.

Everything cheap is checked here, at submit time, so the client gets a 4xx at once: counts,
options, light files against the photo count, and each photo's header (format, the pixel limit
that stops a "pixel bomb", one size for the whole set). Decoding errors surface later, in the job.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from starlette.exceptions import HTTPException

from ..errors import UserError
from ..io.images import MAX_PIXELS, check_header
from ..io.lights import read_light_directions, read_light_intensities
from ..models.registry import task_named
from ..models.weights import shipped_weights
from ..predict import CALIBRATED, PredictOptions, resolve_method
from .schemas import JobOptions


@dataclass(frozen=True)
class Limits:
    max_upload_bytes: int = 512 << 20
    max_photos: int = 128
    max_pixels: int = MAX_PIXELS


class ServiceError(HTTPException):
    """An HTTP error with our machine-readable code; raised from anywhere, body parsing included."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(status_code=status, detail=message, headers=headers)
        self.code = code


def too_large(limit: int) -> ServiceError:
    return ServiceError(413, "too_large", f"the upload is over the {limit / (1 << 20):g} MiB limit")


class BodyLimit:
    """ASGI middleware: refuse a body over the limit from its Content-Length at once, and count
    the bytes as they stream in (chunked uploads, or a Content-Length that lies)."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            from .app import error_response  # one place builds error bodies

            response = error_response(too_large(self.max_bytes))
            response.headers["Connection"] = "close"
            return await response(scope, receive, send)
        received = 0

        async def counted():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise too_large(self.max_bytes)
            return message

        await self.app(scope, counted, send)


@dataclass
class CheckedUpload:
    paths: list[Path]  # the photos, in upload order
    names: list[str]  # their names as uploaded (sanitised), for lights.json
    options: PredictOptions
    outputs: list[str] | None


def save_upload(
    folder: Path, photos, lights_file, options: JobOptions, limits: Limits, device: str
) -> CheckedUpload:
    """Write the uploaded files into folder and check them; UserError on bad input.

    photos and lights_file are Starlette UploadFile objects (lights_file may be None).
    """
    photos = [p for p in (photos or []) if p is not None]
    if not photos:
        raise UserError("no photos uploaded (send one or more files in the 'photos' field)")
    if len(photos) > limits.max_photos:
        raise UserError(f"{len(photos)} photos is over the limit of {limits.max_photos} per job")
    if lights_file is not None and options.lights is not None:
        raise UserError("give the lights either as options.lights or as lights_file, not both")

    inputs = folder / "input"
    inputs.mkdir(parents=True)
    names, paths = [], []
    for index, upload in enumerate(photos):
        name = _unique(_safe_name(upload.filename, f"photo{index + 1}.png"), names, index)
        _copy(upload, inputs / name)
        names.append(name)
        paths.append(inputs / name)

    lights, intensities = _save_lights(folder, lights_file, options)
    predict_options = PredictOptions(
        mode=options.mode, lights=lights, intensities=intensities,
        input_colorspace=options.input_colorspace, normal_convention=options.normal_convention,
        max_pixels=limits.max_pixels, device=device, focal_35mm=options.focal_35mm,
        seamless=options.seamless,
    )
    method = resolve_method(predict_options, len(paths))  # unknown combinations: 4xx now
    if method != CALIBRATED:
        shipped_weights(task_named(method))  # a model not shipped: 501 now
    _check_light_counts(lights, intensities, len(paths))
    _check_headers(paths, limits.max_pixels)
    return CheckedUpload(paths, names, predict_options, options.outputs)


def _save_lights(folder: Path, lights_file, options: JobOptions) -> tuple[Path | None, Path | None]:
    if options.lights is not None:
        lights = folder / "light_directions.txt"
        np.savetxt(lights, np.array(options.lights, dtype=np.float64), fmt="%.9g")
        intensities = None
        if options.intensities is not None:
            intensities = folder / "light_intensities.txt"
            np.savetxt(intensities, np.array(options.intensities, dtype=np.float64), fmt="%.9g")
        return lights, intensities
    if lights_file is None:
        return None, None
    # A lights.json carries intensities too; a DiLiGenT text file only directions.
    is_json = (lights_file.filename or "").lower().endswith(".json")
    lights = folder / ("lights.json" if is_json else "light_directions.txt")
    _copy(lights_file, lights)
    if is_json:
        try:
            json.loads(lights.read_text())
        except (ValueError, UnicodeDecodeError) as exc:
            raise UserError(f"lights_file: not valid JSON ({exc})") from None
    return lights, lights if is_json else None


def _check_light_counts(lights: Path | None, intensities: Path | None, count: int) -> None:
    if lights is None:
        return
    directions = read_light_directions(lights)
    if len(directions) != count:
        raise UserError(
            f"{len(directions)} light directions given for {count} photos; give one per photo"
        )
    if intensities is not None and len(read_light_intensities(intensities)) != count:
        raise UserError(f"the number of light intensities does not match the {count} photos")


def _check_headers(paths: list[Path], max_pixels: int) -> None:
    first = None
    for path in paths:
        size = check_header(path, max_pixels)
        if first is None:
            first = (path, size)
        elif size != first[1]:
            raise UserError(
                f"mixed image sizes: {first[0].name} is {first[1][0]}x{first[1][1]} but "
                f"{path.name} is {size[0]}x{size[1]}"
            )


def _copy(upload, target: Path) -> None:
    upload.file.seek(0)
    with open(target, "wb") as out:
        shutil.copyfileobj(upload.file, out, 1 << 20)


def _safe_name(filename: str | None, fallback: str) -> str:
    """A plain file name from whatever the client sent: no folders, no hidden files."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(str(filename or "").replace("\\", "/")).name)[-100:]
    name = name.lstrip(".")
    return name or fallback


def _unique(name: str, taken: list[str], index: int) -> str:
    return name if name not in taken else f"{index + 1:03d}_{name}"
