"""The predict pipeline shared by the CLI and the server: photos in, maps out.

It checks everything cheap (files exist, light counts, output folder) before decoding anything,
and writes nothing until every map is computed, so a bad input never leaves half a result.
"""

from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from . import __version__
from .errors import UserError
from .inference.camera import FOCAL_35MM_RANGE, Focal, photo_focal, plausible_35mm
from .io import images as image_io
from .io.lights import read_light_directions, read_light_intensities, write_lights_json
from .io.result_folder import recover, replacing
from .models.registry import MATERIAL, MULTILIGHT, PORTRAIT, task_named
from .photometric.calibrated import (
    MIN_SAMPLES,
    estimate_albedo,
    foreground_mask,
    solve_calibrated,
)
from .photometric.solvable import require_solvable

MODES = ("auto", PORTRAIT.mode, MULTILIGHT.mode, MATERIAL.mode)  # --mode: ..., material
# --light-from: the side of a material photo its light comes from (the model reads light from
# the top; `inference.material` turns the photo so it does), or auto: detected from the photo.
# "top" and "auto" ask nothing of other modes and sets, so only the other sides are refused there.
LIGHT_FROM = ("top", "left", "right", "bottom", "auto")
# auto by default: on held-out surfaces lit from any direction it beats top and the flat guess
# (9.78 deg against 10.89 and 10.70), and costs nothing on top-lit ones (docs/material)
DEFAULT_LIGHT_FROM = "auto"
NO_SIDE_GIVEN = ("top", "auto")
CALIBRATED = "calibrated"  # the method that needs no model; the others are named by their task
OUTPUT_FILES = (
    "normal.npy", "normal.png", "albedo.png", "mask.png", "shading.png", "lights.json",
    "height.png", "height.npy", "height.json", "roughness.png", "report.json",
)
NO_PERSON_MESSAGE = (
    "no person found in the photo (no face was detected): single mode needs a photo of a person "
    "with the face visible; for an object photographed under several lights use multi mode, "
    "for a photo of a wall, floor or fabric use material mode (--mode material)"
)
MIN_SIDE = 16  # pixels: smaller photos have too little to solve (a 1x1 "set" is no object)
WRITE_THREADS = 4  # maps encoded at once by save_prediction
FRAME_PX_RANGE = (64, 512)  # --frame-px: the portrait's whole-frame pass, in working pixels


@dataclass(frozen=True)
class PredictOptions:
    mode: str = "auto"
    lights: Path | None = None  # known light directions: calibrated photometric stereo
    intensities: Path | None = None  # known RGB intensities, one per light
    mask: Path | None = None
    input_colorspace: str = "auto"
    normal_convention: str = "opengl"
    max_pixels: int = image_io.MAX_PIXELS
    device: str = "auto"  # where a learned model runs: auto, cpu or cuda
    # where its network's forward runs: auto (see inference/runtime.py), torch, onnx, openvino
    runtime: str = field(default_factory=lambda: default_runtime())
    threads: int | None = None  # a graph runtime's threads (default 2, $PHOTONORMALS_THREADS)
    # a portrait's 35 mm-equivalent focal length (default: EXIF; 0: off)
    focal_35mm: float | None = None
    frame_px: int | None = None  # a portrait's largest whole-frame pass (default: 512)
    seamless: bool = False  # material mode: maps that tile
    light_from: str = DEFAULT_LIGHT_FROM  # material mode, one photo: its light's side, or auto


@dataclass
class Prediction:
    normals: np.ndarray  # (H, W, 3) camera frame, zeros outside the mask
    albedo: np.ndarray  # (H, W, 3) linear RGB in [0, 1]
    mask: np.ndarray  # (H, W) bool
    shading: np.ndarray | None = None  # (H, W) or (H, W, 3), single-image mode only
    light_directions: np.ndarray | None = None  # (K, 3), multi-light modes
    light_intensities: np.ndarray | None = None  # (K, 3)
    lights_source: str | None = None  # "given" or "estimated"
    height: np.ndarray | None = None  # (H, W) pixels, material mode only
    roughness: np.ndarray | None = None  # (H, W) GGX roughness, material mode with one photo
    report: dict = field(default_factory=dict)


def resolve_method(options: PredictOptions, count: int) -> str:
    """The method for this many photos: "calibrated" (photometric stereo on the given lights)
    or the name of the task whose model runs ("multilight", "portrait"); or a UserError saying
    why it cannot run."""
    if options.focal_35mm not in (None, 0) and not plausible_35mm(options.focal_35mm):
        raise UserError(
            f"--focal-35mm {options.focal_35mm:g}: give a 35 mm-equivalent focal length "
            f"of {FOCAL_35MM_RANGE[0]:g}-{FOCAL_35MM_RANGE[1]:g} mm, or 0 for none"
        )
    if options.mode not in MODES:
        raise UserError(f"unknown mode {options.mode!r}; use one of {', '.join(MODES)}")
    if count == 0:
        raise UserError("no input images")
    if options.seamless and options.mode != MATERIAL.mode:
        raise UserError("--seamless is for material mode (tileable surface maps)")
    if options.light_from not in LIGHT_FROM:
        raise UserError(f"unknown --light-from {options.light_from!r}; use one of "
                        f"{', '.join(LIGHT_FROM)}")
    if options.light_from not in NO_SIDE_GIVEN and options.mode != MATERIAL.mode:
        raise UserError("--light-from is for material mode (one photo of a surface)")
    if options.light_from not in NO_SIDE_GIVEN and count > 1:
        # Photometric stereo reads each lamp's direction from the photos: nothing to turn.
        raise UserError("--light-from is for one photo in material mode; several photos "
                        "under different lamps need no light side")
    low, high = FRAME_PX_RANGE
    if options.frame_px is not None and not low <= options.frame_px <= high:
        raise UserError(f"--frame-px {options.frame_px}: give {low}-{high} pixels")
    mode = options.mode
    if mode == "auto":
        mode = PORTRAIT.mode if count == 1 else MULTILIGHT.mode
    if options.frame_px is not None and mode != PORTRAIT.mode:
        raise UserError("--frame-px is for single-portrait mode")
    if mode == MATERIAL.mode:
        return _material_method(options, count)
    if mode == PORTRAIT.mode:
        if options.lights is not None:
            raise UserError("--lights is for multi-light sets; single mode takes one portrait")
        if count != 1:
            raise UserError(f"single mode takes one portrait, got {count} images")
        return PORTRAIT.name
    if count < 2:
        raise UserError(f"multi mode needs at least 2 images of one viewpoint, got {count}")
    if options.focal_35mm is not None:
        raise UserError(
            "--focal-35mm is for single-portrait mode (multi-light normals are orthographic)"
        )
    return _photometric_method(options, count)


def _photometric_method(options: PredictOptions, count: int) -> str:
    """Several photos of one viewpoint: calibrated on given lights, else the multi-light model."""
    if options.lights is None:
        return MULTILIGHT.name
    if count < MIN_SAMPLES:
        raise UserError(
            f"calibrated photometric stereo needs at least {MIN_SAMPLES} images, got {count}"
        )
    return CALIBRATED


def _material_method(options: PredictOptions, count: int) -> str:
    """Material mode: one photo runs the material model; several photos of the surface under
    different lamps run photometric stereo (calibrated on given lights, else the multi-light
    model), whose normals then get the surface prior (see `_surface`)."""
    if options.focal_35mm is not None:
        raise UserError("--focal-35mm is for single-portrait mode")
    if count == 1:
        if options.lights is not None:
            raise UserError("--lights needs several photos of the surface, one per light")
        return MATERIAL.name
    return _photometric_method(options, count)


def predict(
    paths: list[Path], options: PredictOptions, progress=None, load_model=None
) -> Prediction:
    """progress(stage, fraction) is called as the work advances (a server raises from it to
    cancel); load_model(task, device) lets a caller keep models warm between calls."""
    report = progress or (lambda stage, fraction: None)
    paths = [Path(p) for p in paths]
    for path in paths:
        image_io.require_file(path)
    method = resolve_method(options, len(paths))
    directions, intensities = _given_lights(options, len(paths))
    check_image_sizes(paths, options.max_pixels)
    estimator = None
    if method != CALIBRATED:
        report("loading_model", 0.0)
        estimator = (
            load_model(method, options.device) if load_model
            else load_model_for(method, options.device, options.runtime, options.threads)
        )

    timings = {}
    start = time.perf_counter()
    stack, loaded = load_image_set(
        paths, options.input_colorspace, options.max_pixels,
        on_image=lambda done: report("decoding", 0.05 + 0.25 * done / len(paths)),
    )
    mask = None
    if options.mask is not None:
        mask = image_io.read_mask(options.mask, stack.shape[1:3])
    timings["load_s"] = time.perf_counter() - start

    start = time.perf_counter()
    report("solving", 0.3)
    solve = {CALIBRATED: _calibrated, MULTILIGHT.name: _multilight, PORTRAIT.name: _portrait,
             MATERIAL.name: _material}
    extra = {}
    if method == PORTRAIT.name:
        extra["focal"] = photo_focal(paths[0], stack.shape[1:3], options.focal_35mm)
        extra["frame_px"] = options.frame_px
    if options.mode == MATERIAL.mode:
        extra.update(seamless=options.seamless, light_from=options.light_from)
        if mask is not None:
            raise UserError("material mode takes no --mask: the surface fills the photo")
        if method != MATERIAL.name:  # several photos: photometric stereo on the whole frame
            mask = np.ones(stack.shape[1:3], bool)
            solve[method] = _surface(solve[method], options.seamless)
            extra = {}
    result = solve[method](stack, mask, directions, intensities, estimator, **extra)
    timings.update(result.pop("timings", {}))
    timings["solve_s"] = time.perf_counter() - start
    if not result["mask"].any():
        raise UserError("no pixel could be solved: the images are dark or saturated everywhere")
    report("solved", 0.9)

    albedo, albedo_scale = _normalise_albedo(result.pop("albedo"), result["mask"])
    info = result.pop("report")
    if estimator is not None:
        info.update(model=estimator.name, weights=estimator.path.name,
                    model_steps=estimator.metadata.get("steps"))
    return Prediction(
        albedo=albedo,
        **result,
        report={
            **info,
            "version": __version__,
            "device": str(estimator.device) if estimator else "cpu",
            "runtime": getattr(estimator, "runtime", "torch") if estimator else None,
            "inputs": [
                {"file": p.name, "bits": im.bits, "colorspace": im.colorspace}
                for p, im in zip(paths, loaded, strict=True)
            ],
            "size": [int(stack.shape[2]), int(stack.shape[1])],
            "mask_source": "given" if mask is not None else "auto",
            "albedo_scale": albedo_scale,
            "normal_convention": options.normal_convention,
            "timings": timings,
        },
    )


# Each solver returns the Prediction fields it knows plus "report" (method details) and
# optionally "timings"; predict() adds what every method shares.
def _calibrated(stack, mask, directions, intensities, _estimator) -> dict:
    require_solvable(stack, mask if mask is not None else foreground_mask(stack), MIN_SAMPLES)
    result = solve_calibrated(stack, directions, intensities, mask)
    return {
        "normals": result.normals, "albedo": result.albedo, "mask": result.mask,
        "light_directions": directions,
        "light_intensities": intensities if intensities is not None else np.ones_like(directions),
        "lights_source": "given",
        "report": {"method": "calibrated_photometric_stereo", "model": None,
                   "intensities_source": "given" if intensities is not None else "assumed equal"},
    }


def _multilight(stack, mask, _directions, _intensities, estimator) -> dict:
    if mask is None:
        mask = foreground_mask(stack)
        if not mask.any():
            raise UserError("the photos are dark everywhere: no object stands out from the "
                            "background in any of them")
    require_solvable(stack, mask, 2)
    estimate = estimator.estimate(stack, mask)
    albedo = estimate_albedo(
        stack, estimate.normals, estimate.light_dirs, estimate.light_ints, estimate.mask
    )
    return {
        "normals": estimate.normals, "albedo": albedo, "mask": estimate.mask,
        "light_directions": estimate.light_dirs, "light_intensities": estimate.light_ints,
        "lights_source": "estimated", "timings": estimate.timings,
        "report": {"method": "uncalibrated_photometric_stereo", "intensities_source": "estimated",
                   "coarse_shape_pass_px": estimate.coarse_size,
                   "lights_fitted_to_normals": estimate.lights_fitted,
                   "light_fit_residual": estimate.light_fit_residual,
                   # set when highlights fixed the bas-relief ambiguity (normals: least squares)
                   "specular_gbr_error_deg": estimate.gbr_highlight_error},
    }


def _portrait(stack, mask, _directions, _intensities, estimator, focal: Focal,
              frame_px: int | None = None) -> dict:
    estimate = estimator.estimate(stack[0], focal.pixels, frame_px)
    if not estimate.face_found:
        # Without a face the network (trained on portraits) paints a junk blob over whatever is
        # there; refusing is kinder than a map that looks like a result.
        raise UserError(NO_PERSON_MESSAGE)
    # A given mask can only trim the predicted one: outside it the network gave no normals.
    solved = estimate.mask if mask is None else estimate.mask & mask
    if not solved.any():
        where = " inside the given mask" if mask is not None else ""
        raise UserError(f"the portrait model found no person in the photo{where}; "
                        "single mode needs a photo of one person")
    # shading.png is a 16-bit texture in [0, 1]: scale down only, and record by how much.
    level = float(np.percentile(estimate.shading[solved], 99.5))
    shading_scale = 1.0 / level if level > 1.0 else 1.0
    inside = solved.astype(np.float32)[..., None]  # (a float factor: 2x a bool one)
    normals, albedo = estimate.normals, estimate.albedo  # zero outside the estimate's own mask
    if mask is not None:
        normals, albedo = normals * inside, albedo * inside
    return {
        "normals": normals,
        "albedo": albedo,
        "mask": solved,
        "shading": np.clip(estimate.shading * shading_scale, 0.0, 1.0) * inside,
        "timings": estimate.timings,
        "report": {
            "method": "single_portrait",
            "face_found": estimate.face_found,
            "face_box": [int(v) for v in estimate.face_box] if estimate.face_box else None,
            "crop_box": [round(float(v), 1) for v in estimate.crop_box]
            if estimate.crop_box
            else None,
            "crop_note": estimate.note,
            # every face found, each with its own pass feathered into the whole-frame pass
            "faces": estimate.faces,
            "frame_pass_px": estimate.frame_pass_px,
            # normals turned from the crop's view into the photo's frame (inference/camera.py)
            "focal_35mm": focal.focal_35mm,
            "focal_source": focal.source,
            "view_rotation_deg": round(estimate.view_rotation_deg, 2),
            "flip_tta": estimator.flip_tta,
            "shading_scale": shading_scale,
        },
    }


def _material(stack, _mask, _directions, _intensities, estimator, seamless: bool,
              light_from: str) -> dict:
    estimate = estimator.estimate(stack[0], seamless=seamless, light_from=light_from)
    detected = {"light_probabilities": estimate.light_probabilities} if (
        estimate.light_probabilities) else {}
    if estimate.light_note:
        detected["light_note"] = estimate.light_note
    return _material_fields(estimate, {
        "method": "single_material", "light_from": estimate.light_from,
        "light_detected": estimate.light_detected, **detected, "tiles": estimate.tiles,
        "coarse_pass_px": estimate.coarse_pass_px,
    })


def _surface(solver, seamless: bool):
    """A photometric solver (calibrated or multi-light) turned into a material one: its
    normals and albedo, then the surface prior, height and seams of `inference.material`."""
    from .inference.material import surface_from_photometric

    def solve(stack, mask, directions, intensities, estimator) -> dict:
        result = solver(stack, mask, directions, intensities, estimator)
        estimate = surface_from_photometric(result["normals"], result["albedo"], seamless)
        fields = _material_fields(estimate, {
            **result["report"], "method": f"{result['report']['method']}_surface"})
        fields["timings"] = {**result.get("timings", {}), **estimate.timings}
        return {**fields, "light_directions": result["light_directions"],
                "light_intensities": result["light_intensities"],
                "lights_source": result["lights_source"]}

    return solve


def _material_fields(estimate, report: dict) -> dict:
    """Prediction fields of a `MaterialEstimate`; shading.png is a 16-bit texture in [0, 1],
    so the shading is scaled down only, and by how much is recorded."""
    fields = {"normals": estimate.normals, "albedo": estimate.albedo, "height": estimate.height,
              "roughness": estimate.roughness, "mask": np.ones(estimate.height.shape, bool),
              "timings": estimate.timings}
    report = {**report, "seamless": estimate.seamless,
              "height_range_px": [float(estimate.height.min()), float(estimate.height.max())]}
    if estimate.shading is not None:
        level = float(np.percentile(estimate.shading, 99.5))
        scale = 1.0 / level if level > 1.0 else 1.0
        fields["shading"] = np.clip(estimate.shading * scale, 0.0, 1.0)
        report["shading_scale"] = scale
    return {**fields, "report": report}


def _given_lights(options: PredictOptions, count: int):
    """Known lights and intensities, checked against the image count before any decoding."""
    if options.lights is None:
        if options.intensities is not None:
            raise UserError("--intensities needs --lights (known light directions)")
        return None, None
    directions = read_light_directions(options.lights)
    if len(directions) != count:
        raise UserError(
            f"{Path(options.lights).name} has {len(directions)} lights but {count} images were "
            f"given"
        )
    intensities = None
    if options.intensities is not None:
        intensities = read_light_intensities(options.intensities)
        if len(intensities) != count:
            raise UserError(
                f"{Path(options.intensities).name} has {len(intensities)} intensities "
                f"but {count} images were given"
            )
    return directions, intensities


def default_runtime() -> str:
    """$PHOTONORMALS_RUNTIME, else "auto" (see `inference.runtime`)."""
    return os.environ.get("PHOTONORMALS_RUNTIME", "auto")


def load_model_for(task: str, device: str, runtime: str | None = None,
                   threads: int | None = None):
    """A freshly loaded model for a task ("multilight", "portrait") on a device ("auto", "cpu",
    "cuda"): the task's inference wrapper around the weights shipped for its mode, run as the
    registry says, its network on ``runtime`` (default: `default_runtime`; the choice is
    logged to stderr); ModelNotAvailable when none are shipped."""
    from .device import pick_device  # torch loads only when a model runs

    runtime = runtime or default_runtime()
    estimator = task_named(task).load_estimator()(
        device=pick_device(device), runtime=runtime, threads=threads, log=_log_stderr
    )
    if runtime == "auto":
        _log_stderr(f"runtime: {estimator.runtime} for the {task} model ({estimator.name})")
    return estimator


def _log_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def check_image_sizes(paths, max_pixels=image_io.MAX_PIXELS) -> tuple[int, int]:
    """(width, height) of a photo set from the headers alone, before anything is decoded: each
    within the pixel limit, at least MIN_SIDE on each side, and one size for the whole set."""
    first = None
    for path in paths:
        size = image_io.check_header(path, max_pixels)
        if min(size) < MIN_SIDE:
            raise UserError(f"{Path(path).name}: {size[0]}x{size[1]} is too small; photos need "
                            f"at least {MIN_SIDE}x{MIN_SIDE} pixels")
        if first is None:
            first = (Path(path).name, size)
        elif size != first[1]:
            raise UserError(
                f"mixed image sizes: {first[0]} is {first[1][0]}x{first[1][1]} but "
                f"{Path(path).name} is {size[0]}x{size[1]}"
            )
    return first[1]


def load_image_set(paths, colorspace="auto", max_pixels=image_io.MAX_PIXELS, on_image=None):
    """(K, H, W, 3) linear stack plus the per-file LinearImage records (their rgb dropped: it
    lives in the stack); one viewpoint, one size. on_image(count) is called after each decoded
    image. The stack is allocated once and filled, so at most one decoded photo is held besides."""
    stack, loaded = None, []
    for index, path in enumerate(paths):
        image = image_io.read_image(path, colorspace, max_pixels)
        if stack is None:
            stack = np.empty((len(paths), *image.rgb.shape), np.float32)
        elif image.rgb.shape != stack.shape[1:]:
            raise UserError(
                f"mixed image sizes: {Path(paths[0]).name} is {stack.shape[2]}x{stack.shape[1]} "
                f"but {Path(path).name} is {image.rgb.shape[1]}x{image.rgb.shape[0]}"
            )
        stack[index] = image.rgb
        loaded.append(replace(image, rgb=None))
        if on_image is not None:
            on_image(len(loaded))
    return stack, loaded


def check_output_dir(out_dir: Path, overwrite: bool) -> None:
    """Refuse up front to replace earlier results, so a re-run never silently destroys them.
    A run killed mid-swap is finished or undone first (io.result_folder), so that what it left
    counts as results too."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"{out_dir} exists and is not a folder")
    recover(out_dir, OUTPUT_FILES)
    existing = [name for name in OUTPUT_FILES if (out_dir / name).exists()]
    if existing and not overwrite:
        raise UserError(
            f"{out_dir} already holds results ({', '.join(existing)}); "
            "choose another --out or pass --overwrite"
        )


def save_prediction(
    prediction: Prediction, out_dir: Path, files: list[str], overwrite: bool = False
) -> list[Path]:
    """Write the maps into out_dir, all at once (io.result_folder): an earlier run's maps,
    including those this run does not make, go; other files in the folder stay."""
    out_dir = Path(out_dir)
    check_output_dir(out_dir, overwrite)
    start = time.perf_counter()
    convention = prediction.report.get("normal_convention", "opengl")
    names, writes = [], []
    # Encoding a megapixel PNG costs ~30 ms and releases the GIL: the maps are written side by
    # side (the pool is left, so every write has ended, before the folder is swapped in).
    with replacing(out_dir, OUTPUT_FILES) as staging, \
            ThreadPoolExecutor(WRITE_THREADS) as pool:

        def out(name):
            names.append(name)
            return staging / name

        def write(writer, name, *args, **kwargs):
            writes.append(pool.submit(writer, out(name), *args, **kwargs))

        write(image_io.write_npy, "normal.npy", prediction.normals.astype(np.float32))
        write(image_io.write_normal_png, "normal.png", prediction.normals, convention)
        write(image_io.write_srgb_png, "albedo.png", prediction.albedo)
        write(image_io.write_linear_png, "mask.png", prediction.mask.astype(np.float32), bits=8)
        if prediction.shading is not None:
            write(image_io.write_linear_png, "shading.png", prediction.shading, bits=16)
        if prediction.height is not None:
            _write_height(prediction.height, out)
        if prediction.roughness is not None:
            write(image_io.write_linear_png, "roughness.png", prediction.roughness, bits=8)
        if prediction.light_directions is not None:
            write_lights_json(
                out("lights.json"), files, prediction.light_directions,
                prediction.light_intensities, prediction.lights_source,
            )
        for done in writes:
            done.result()  # the first failure, if any, is raised here
        prediction.report.setdefault("timings", {})["write_s"] = time.perf_counter() - start
        prediction.report["outputs"] = [*names, "report.json"]
        image_io.write_atomic(
            out("report.json"), (json.dumps(prediction.report, indent=2) + "\n").encode()
        )
    return [out_dir / name for name in names]


def _write_height(height: np.ndarray, out) -> None:
    """height.png (16-bit, stretched over its range), height.npy (pixels) and height.json
    (the range), as `photonormals height` writes them."""
    from .geometry.height import height_to_png16

    encoded, meta = height_to_png16(height, None)
    image_io.write_png(out("height.png"), encoded)
    image_io.write_npy(out("height.npy"), height.astype(np.float32))
    meta.update(method="surface", source="normal.npy", mask=None)
    image_io.write_atomic(out("height.json"), (json.dumps(meta, indent=2) + "\n").encode())


def _normalise_albedo(albedo: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, float]:
    """Albedo from photometric stereo is in units of the light intensity; a texture needs [0, 1].

    Only scale down, and by a high percentile rather than the max, so that a few specular
    outliers do not darken the whole texture.
    """
    # Nothing over 1 (a portrait's albedo is clipped already): no percentile can be, and its
    # gather cost ~50 ms on a megapixel photo.
    if not mask.any() or albedo.max() <= 1.0:
        return np.clip(albedo, 0.0, 1.0), 1.0
    level = float(np.percentile(albedo[mask].max(axis=1), 99.5))
    scale = 1.0 / level if level > 1.0 else 1.0
    return np.clip(albedo * scale, 0.0, 1.0), scale
