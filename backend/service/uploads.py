"""Uploads turned into checked files for the predict pipeline (and relight's HDRI).

Everything cheap is checked here, at submit time, so the client gets a 4xx at once: counts,
options, light files against the photo count, and each photo's header (format, the pixel limit
that stops a "pixel bomb", one size for the whole set, the job's total against --max-job-mp).
Decoding errors surface later, in the job.
"""

from __future__ import annotations

import math
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..io.images import MAX_PIXELS, check_header
from ..io.lights import read_light_directions, read_light_intensities
from ..models.registry import task_named
from ..models.weights import shipped_weights
from ..predict import CALIBRATED, PredictOptions, check_image_sizes, resolve_method
from .errors import ServiceError
from .schemas import JobOptions


@dataclass(frozen=True)
class Limits:
    max_upload_bytes: int = 512 << 20
    max_photos: int = 128
    max_pixels: int = MAX_PIXELS  # per photo
    # decoded pixels per job, all photos together: memory grows with them (the multi-light
    # network ~200 bytes a pixel, calibrated ~30; docs/service.md)
    max_job_pixels: int = 32_000_000
    max_hdri_pixels: int = 8_400_000  # a relight's uploaded HDRI (a "4K" one: 4096 x 2048)

    def as_dict(self) -> dict:
        """The limits as /v1/health reports them."""
        return {"max_upload_mib": self.max_upload_bytes / (1 << 20),
                "max_photos": self.max_photos, "max_photo_mp": self.max_pixels / 1e6,
                "max_job_mp": self.max_job_pixels / 1e6, "max_hdri_mp": self.max_hdri_pixels / 1e6}


@dataclass
class CheckedUpload:
    paths: list[Path]  # the photos, in upload order
    names: list[str]  # their names as uploaded (sanitised), for lights.json
    options: PredictOptions
    outputs: list[str] | None
    height: bool = False  # also write the height maps (geometry.height.HEIGHT_FILES)


def save_upload(
    folder: Path, photos, lights_file, options: JobOptions, limits: Limits, device: str,
    mask_file=None,
) -> CheckedUpload:
    """Write the uploaded files into folder and check them; UserError on bad input.

    photos, lights_file and mask_file are Starlette UploadFile objects (the last two may be None).
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
        name = unique_name(_safe_name(upload.filename, f"photo{index + 1}.png"), names)
        _copy(upload, inputs / name)
        names.append(name)
        paths.append(inputs / name)

    lights, intensities = _save_lights(folder, lights_file, options)
    mask = None
    if mask_file is not None:
        suffix = Path(mask_file.filename or "").suffix.lower() or ".png"
        mask = folder / f"mask{re.sub(r'[^a-z0-9.]', '', suffix)[:8]}"
        _copy(mask_file, mask)
    predict_options = PredictOptions(
        mode=options.mode, lights=lights, intensities=intensities, mask=mask,
        input_colorspace=options.input_colorspace, normal_convention=options.normal_convention,
        max_pixels=limits.max_pixels, device=device, focal_35mm=options.focal_35mm,
        seamless=options.seamless, light_from=options.light_from, frame_px=options.frame_px,
    )
    method = resolve_method(predict_options, len(paths))  # unknown combinations: 4xx now
    if method != CALIBRATED:
        shipped_weights(task_named(method))  # a model not shipped: 501 now
    _check_light_counts(lights, intensities, len(paths))
    width, height = check_image_sizes(paths, limits.max_pixels)
    if mask is not None:
        mask_size = check_header(mask, limits.max_pixels)
        if mask_size != (width, height):
            raise UserError(f"mask_file is {mask_size[0]}x{mask_size[1]} but the photos are "
                            f"{width}x{height}: the mask must be the photos' size")
    _check_job_pixels(len(paths), width, height, limits.max_job_pixels)
    return CheckedUpload(paths, names, predict_options, options.outputs, options.height)


def save_hdri(upload, folder: Path, limits: Limits) -> Path:
    """A relight's uploaded HDRI written into folder, its header checked against the HDRI limit
    (every part of an EXR too) before anything decodes it."""
    name = _safe_name(upload.filename, "hdri")
    if Path(name).suffix.lower() not in (".exr", ".hdr"):
        raise UserError("hdri_file must be an .exr or .hdr file")
    path = folder / name
    _copy(upload, path)
    check_header(path, limits.max_hdri_pixels)
    return path


def _check_job_pixels(count: int, width: int, height: int, limit: int) -> None:
    if count * width * height <= limit:
        return
    scale = math.sqrt(limit / (count * width * height))
    raise ServiceError(
        413, "too_large",
        f"{count} photos of {width}x{height} are {count * width * height / 1e6:.0f} MP to decode, "
        f"over this server's {limit / 1e6:g} MP per job; downscale them to at most "
        f"{int(width * scale)}x{int(height * scale)}, or send fewer",
    )


def _save_lights(folder: Path, lights_file, options: JobOptions) -> tuple[Path | None, Path | None]:
    if options.lights is not None:
        lights = folder / "light_directions.txt"
        np.savetxt(lights, np.array(options.lights, dtype=np.float64), fmt="%.17g")
        intensities = None
        if options.intensities is not None:
            intensities = folder / "light_intensities.txt"
            np.savetxt(intensities, np.array(options.intensities, dtype=np.float64), fmt="%.17g")
        return lights, intensities
    if lights_file is None:
        return None, None
    # A lights.json carries intensities too; a DiLiGenT text file only directions. Both are
    # read (and refused with a message if bad) by _check_light_counts.
    is_json = (lights_file.filename or "").lower().endswith(".json")
    lights = folder / ("lights.json" if is_json else "light_directions.txt")
    _copy(lights_file, lights)
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


def _copy(upload, target: Path) -> None:
    upload.file.seek(0)
    with open(target, "xb") as out:  # "x": never over a file already there
        shutil.copyfileobj(upload.file, out, 1 << 20)


def _safe_name(filename: str | None, fallback: str) -> str:
    """A plain file name from whatever the client sent: no folders, no hidden files."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(str(filename or "").replace("\\", "/")).name)[-100:]
    name = name.lstrip(".")
    return name or fallback


def unique_name(name: str, taken: list[str]) -> str:
    """name, or name-2, name-3... (before the extension): the first not yet taken, compared
    without case, as a case-insensitive disk would."""
    used = {other.casefold() for other in taken}
    stem, suffix = Path(name).stem, Path(name).suffix
    candidate, number = name, 1
    while candidate.casefold() in used:
        number += 1
        candidate = f"{stem}-{number}{suffix}"
    return candidate
