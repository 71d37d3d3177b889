"""Relight a predict output folder (normals + albedo + mask) under an HDRI.

Shaders (all linear radiance, view v = (0, 0, 1), orthographic):
- diffuse: albedo * E(n) / pi, E from the pre-convolved irradiance map (default) or SH9.
- reflective: a metal: the environment along r = 2 (n.v) n - v, blurred for ``roughness``,
  times Schlick's Fresnel with the albedo as F0.
- both: a dielectric coat over the diffuse: (1 - F) diffuse + F reflective, F0 = 0.04.

Backgrounds: keep (the photo given as ``photo`` outside the mask), hdri (the HDRI as a pinhole
camera looking along -z would see it, with Blender's default 39.6 degree field of view across
the longer side; same rotation and exposure as the lighting), transparent (alpha = mask).

The HDRI's derived maps (irradiance, SH9, blurred reflections) are cached by the file's content,
so a server relighting many times with one HDRI only pays the per-pixel lookups.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..errors import UserError
from ..io.colorspace import linear_to_srgb
from ..io.images import read_image, write_atomic
from . import envmap, shading
from .envmap import sample_uv
from .sh import project_sh9, sh9_irradiance

SHADERS = ("diffuse", "reflective", "both")
BACKGROUNDS = ("keep", "hdri", "transparent")
IRRADIANCE_METHODS = ("map", "sh9")
OUTPUT_SUFFIXES = (".png", ".exr")
BACKPLATE_FOV_DEG = 39.6  # Blender's default camera: 50 mm lens on a 36 mm sensor
DIELECTRIC_F0 = 0.04


def relight_dir(
    predict_dir,
    hdri,
    rotation: float = 0.0,
    exposure: float = 0.0,
    shader: str = "diffuse",
    background: str = "keep",
    photo=None,
    roughness: float = 0.25,
    irradiance: str = "map",
) -> np.ndarray:
    """(H, W, 4) float32 linear RGBA of the subject relit by ``hdri`` (a path, a bundled name or
    an (H, W, 3) array); alpha is 1 except with background="transparent", where it is the mask.

    The last decoded predict folder and photo (keyed by file size and modification time) and the
    last two HDRIs' maps (keyed by content) are cached, so relighting one subject again with
    another HDRI or rotation is fast."""
    _check_options(shader, background, irradiance, rotation, exposure, roughness)
    if background == "keep" and photo is None:
        raise UserError(
            "background 'keep' needs the original photo (--photo FILE); or use hdri or transparent"
        )
    subject = read_predict_dir(predict_dir)
    h, w = subject.shape
    backplate = _read_photo(photo, subject.shape) if background == "keep" else None
    maps = _hdri_maps(hdri)

    gain = np.float32(2.0**exposure)
    radiance = (
        shade(subject.normals, subject.albedo, maps, rotation, shader, roughness, irradiance) * gain
    )
    rgba = np.zeros((h * w, 4), np.float32)
    if background == "transparent":
        rgba[subject.index, :3] = radiance  # straight (not premultiplied) alpha
        rgba[subject.index, 3] = subject.alpha[:, 0]
        return rgba.reshape(h, w, 4)
    if background == "hdri":
        u, v = _backplate_uv(h, w)
        backplate = sample_uv(maps.env, u - rotation / 360.0, v) * gain
    rgba[:, :3] = backplate.reshape(-1, 3)
    behind = rgba[subject.index, :3]
    rgba[subject.index, :3] = behind + subject.alpha * (radiance - behind)
    rgba[:, 3] = 1.0
    return rgba.reshape(h, w, 4)


def shade(normals, albedo, maps, rotation=0.0, shader="diffuse", roughness=0.25, irradiance="map"):
    """(N, 3) linear radiance for (N, 3) unit camera-frame normals and linear albedo."""
    if shader in ("diffuse", "both"):
        if irradiance == "sh9":
            e = sh9_irradiance(normals, maps.sh9(rotation))
        else:
            e = envmap.sample(maps.irradiance(), normals, rotation)
        diffuse = albedo * np.maximum(e, 0.0) * np.float32(1.0 / np.pi)
        if shader == "diffuse":
            return diffuse.astype(np.float32, copy=False)
    n_dot_v = normals[:, 2]
    reflected = (2.0 * n_dot_v)[:, None] * normals
    reflected[:, 2] -= 1.0
    u, v = envmap.direction_to_uv(reflected, rotation)
    specular = sum(
        weight * sample_uv(maps.prefiltered(level), u, v)
        for level, weight in shading.roughness_weights(roughness)
    )
    if shader == "reflective":
        return (shading.fresnel_schlick(n_dot_v, albedo) * specular).astype(np.float32, copy=False)
    fresnel = shading.fresnel_schlick(n_dot_v, np.float32(DIELECTRIC_F0))
    return ((1.0 - fresnel) * diffuse + fresnel * specular).astype(np.float32, copy=False)


@functools.lru_cache(maxsize=2)
def _backplate_uv(height: int, width: int):
    return envmap.direction_to_uv(backplate_directions(height, width))


def backplate_directions(height: int, width: int, fov_deg: float = BACKPLATE_FOV_DEG) -> np.ndarray:
    """(H, W, 3) unit camera-frame view rays of a pinhole camera looking along -z."""
    focal = 0.5 * max(height, width) / np.tan(np.radians(fov_deg) / 2)
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    rays = np.stack(
        [cols + 0.5 - width / 2, height / 2 - rows - 0.5, np.full_like(rows, -focal)], axis=-1
    )
    return rays / np.linalg.norm(rays, axis=-1, keepdims=True)


# ----------------------------------------------------------------------------- HDRI maps, cached


class HdriMaps:
    """An HDRI and the maps derived from it, each computed on first use."""

    def __init__(self, env: np.ndarray):
        self.env = env
        self._irradiance = None
        self._prefiltered = {}
        self._sh9 = {}

    def irradiance(self) -> np.ndarray:
        if self._irradiance is None:
            self._irradiance = shading.irradiance_map(self.env)
        return self._irradiance

    def sh9(self, rotation: float) -> np.ndarray:
        if rotation not in self._sh9:
            self._sh9[rotation] = project_sh9(self.env, rotation)
        return self._sh9[rotation]

    def prefiltered(self, level: int) -> np.ndarray:
        if level not in self._prefiltered:
            roughness = shading.ROUGHNESS_LEVELS[level]
            self._prefiltered[level] = (
                self.env if roughness == 0 else shading.prefiltered_map(self.env, roughness)
            )
        return self._prefiltered[level]


def _hdri_maps(hdri) -> HdriMaps:
    if isinstance(hdri, np.ndarray):
        envmap.check_equirect(hdri)
        return HdriMaps(np.asarray(hdri, np.float32))
    path = envmap.resolve_hdri(hdri)
    return _maps_for(_HdriFile(_file_digest(path), path))


@dataclass(frozen=True)
class _HdriFile:
    """An HDRI file known by its content, the cache key: the same HDRI uploaded again (to a new
    temporary path each time) finds its maps, and different ones never pile up by path."""

    digest: str
    path: Path = field(compare=False)


@functools.lru_cache(maxsize=2)  # a 4K HDRI's maps are about 100 MB
def _maps_for(file: _HdriFile) -> HdriMaps:
    return HdriMaps(envmap.load_hdri(file.path))


def _file_digest(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


# ----------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Subject:
    """A predict folder's pixels that the mask covers (flat index into H x W), ready to shade."""

    shape: tuple[int, int]
    index: np.ndarray  # (N,) flat pixel indices where alpha > 0
    normals: np.ndarray  # (N, 3) unit, camera frame
    albedo: np.ndarray  # (N, 3) linear
    alpha: np.ndarray  # (N, 1) in (0, 1]


def read_predict_dir(predict_dir) -> Subject:
    folder = Path(predict_dir)
    if not folder.is_dir():
        raise UserError(
            f"{folder}: not a folder (expected the output folder of photonormals predict)"
        )
    stamps = []
    for name in ("normal.npy", "albedo.png", "mask.png"):
        path = folder / name
        if not path.is_file():
            raise UserError(
                f"{folder}: no {name} (expected the output folder of photonormals predict)"
            )
        stat = path.stat()
        stamps.append((stat.st_size, stat.st_mtime_ns))
    return _read_subject(str(folder.resolve()), tuple(stamps))


@functools.lru_cache(maxsize=1)  # a big subject is GBs: keep the last one only
def _read_subject(folder: str, _stamps: tuple) -> Subject:
    folder = Path(folder)
    try:
        normals = np.load(folder / "normal.npy", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise UserError(f"normal.npy: not a readable numpy array ({exc})") from None
    if normals.ndim != 3 or normals.shape[2] != 3 or normals.dtype.kind != "f":
        raise UserError(
            f"normal.npy: expected an H x W x 3 float array, got {normals.dtype} {normals.shape}"
        )
    size = normals.shape[:2]
    albedo = read_image(folder / "albedo.png").rgb
    alpha = read_image(folder / "mask.png", colorspace="linear").rgb.max(axis=2)
    for name, image in (("albedo.png", albedo), ("mask.png", alpha)):
        if image.shape[:2] != size:
            raise UserError(
                f"{name}: {image.shape[1]}x{image.shape[0]} does not match normal.npy's "
                f"{size[1]}x{size[0]}"
            )
    index = np.flatnonzero(alpha > 0)
    if index.size == 0:
        raise UserError("mask.png: the mask is empty")
    n = normals.reshape(-1, 3)[index].astype(np.float32)
    if not np.isfinite(n).all():
        raise UserError("normal.npy: NaN or infinite normals inside the mask")
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-8)
    subject = Subject(size, index, n, albedo.reshape(-1, 3)[index], alpha.reshape(-1)[index, None])
    for array in (subject.index, subject.normals, subject.albedo, subject.alpha):
        array.setflags(write=False)
    return subject


def _read_photo(photo, size) -> np.ndarray:
    path = Path(photo)
    if not path.is_file():
        raise UserError(f"{path}: no such file (--photo)")
    stat = path.stat()
    image = _read_photo_cached(str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if image.shape[:2] != tuple(size):
        raise UserError(
            f"{path.name}: the photo is {image.shape[1]}x{image.shape[0]} but the maps are "
            f"{size[1]}x{size[0]}"
        )
    return image


@functools.lru_cache(maxsize=1)
def _read_photo_cached(path: str, _size: int, _mtime: int) -> np.ndarray:
    image = read_image(path).rgb
    image.setflags(write=False)
    return image


def _check_options(shader, background, irradiance, rotation, exposure, roughness):
    for what, value, allowed in (
        ("shader", shader, SHADERS),
        ("background", background, BACKGROUNDS),
        ("irradiance method", irradiance, IRRADIANCE_METHODS),
    ):
        if value not in allowed:
            raise UserError(f"unknown {what} {value!r}; use one of {', '.join(allowed)}")
    for what, value in (("rotation", rotation), ("exposure", exposure), ("roughness", roughness)):
        if not np.isfinite(value):
            raise UserError(f"{what} must be a finite number, got {value}")
    if abs(exposure) > 64:
        raise UserError(f"exposure {exposure} EV is out of range (-64..64)")
    if not 0.0 <= roughness <= 1.0:
        raise UserError(f"roughness must be between 0 and 1, got {roughness}")


# ----------------------------------------------------------------------------- output


def check_output_path(path) -> Path:
    path = Path(path)
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise UserError(f"{path.name}: the output must be .png (8-bit sRGB) or .exr (linear float)")
    return path


def write_relit(path, rgba: np.ndarray) -> None:
    """PNG: 8-bit sRGB, RGBA when any alpha is below 1 (else RGB). EXR: linear float32, the same
    channels. Nothing is tone-mapped; PNG clips to [0, 1]. Written atomically."""
    path = check_output_path(path)
    rgba = np.asarray(rgba, np.float32)
    if rgba.ndim != 3 or rgba.shape[2] != 4:
        raise ValueError(f"expected (H, W, 4) RGBA, got {rgba.shape}")
    channels = 4 if (rgba[..., 3] < 1.0).any() else 3
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".png":
        pixels = linear_to_srgb(rgba[..., :3])
        if channels == 4:
            pixels = np.concatenate([pixels, np.clip(rgba[..., 3:], 0.0, 1.0)], axis=2)
        pixels = np.round(pixels * 255.0).astype(np.uint8)
        order = [2, 1, 0, 3][:channels]  # OpenCV wants BGR(A)
        ok, buf = cv2.imencode(".png", np.ascontiguousarray(pixels[..., order]))
        if not ok:
            raise OSError(f"PNG encoding failed for {path}")
        write_atomic(path, buf.tobytes())
    else:
        write_atomic(path, _exr_bytes(np.ascontiguousarray(rgba[..., :channels])))


def _exr_bytes(pixels: np.ndarray) -> bytes:
    import OpenEXR

    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    name = "RGBA" if pixels.shape[2] == 4 else "RGB"
    with tempfile.TemporaryDirectory() as tmp:
        target = os.path.join(tmp, "relit.exr")
        with OpenEXR.File(header, {name: pixels}) as exr:
            exr.write(target)
        return Path(target).read_bytes()
