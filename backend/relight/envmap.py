"""Equirectangular (lat-long) environment maps: loading, orientation and lookup.

Orientation is Blender's, so a relight here matches what Blender renders with the same HDRI
on an Environment Texture node (checked with Cycles: benchmarks/relight_blender_check.py).

- A world direction D (world z up) maps to the image like Cycles' equirectangular lookup:
  u = 0.5 - atan2(D.y, D.x) / (2 pi),  v = 0.5 + atan2(D.z, hypot(D.x, D.y)) / pi,
  column = u * width, row = (1 - v) * height (row 0 is the top). The image centre faces
  world +X; the front view looks into u = 0.25 (world +Y) and has u = 0.75 behind it.
  (u = atan2(D.y, -D.x) / (2 pi) + 0.5, as once written in the issue, is this turned by
  180 degrees; Cycles renders disagree with it: see docs/relight.md.)
- The camera frame (x right, y up, z toward the viewer) is Blender's front view, which looks
  along world +Y: camera x = world X, camera y = world Z, camera z = world -Y.
- ``rotation`` (degrees) is the Z rotation of a Mapping node (type Point, the default) between
  the world's Generated/Object coordinates and the Environment Texture: the texture is looked up
  at Rz(rotation) @ D, so the environment itself turns by -rotation about world z.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..io.images import MAX_PIXELS, read_image

BUNDLED_NAMES = ("city", "courtyard", "forest", "interior", "night", "studio", "sunrise", "sunset")
# Blender's eight studio-light HDRIs (CC0, Poly Haven; credits in LICENSE.txt beside them), copied
# unchanged (1024 x 512, DWAB-compressed EXR, 1.8 MB in all), so that relighting by name needs
# neither Blender nor bpy.
BUNDLED_FOLDER = Path(__file__).with_name("hdris")


# ----------------------------------------------------------------------------- finding and loading


def bundled_hdris() -> dict[str, Path]:
    """The bundled HDRIs by name."""
    return {name: BUNDLED_FOLDER / f"{name}.exr" for name in BUNDLED_NAMES}


def bundled_hdri(name: str) -> Path:
    """The bundled HDRI of that name (any case); never a file of that name elsewhere."""
    if name.lower() not in BUNDLED_NAMES:
        raise UserError(f"unknown HDRI {name!r}: the bundled ones are {', '.join(BUNDLED_NAMES)}")
    return BUNDLED_FOLDER / f"{name.lower()}.exr"


def resolve_hdri(path_or_name: str | os.PathLike) -> Path:
    """The file behind an HDRI argument: a bundled name such as "city" (looked up only in the
    bundle: a file called "city" in the working folder is "./city"), or an existing file."""
    name = str(path_or_name)
    if name.lower() in BUNDLED_NAMES:
        return bundled_hdri(name)
    path = Path(path_or_name)
    if path.is_file():
        return path
    if path.suffix or os.sep in name or "/" in name:
        raise UserError(f"{name}: no such HDRI file")
    raise UserError(
        f"unknown HDRI {name!r}: not a file, nor one of the bundled HDRIs "
        f"({', '.join(BUNDLED_NAMES)})"
    )


def load_hdri(path_or_name: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """(H, W, 3) float32 linear radiance of an EXR or Radiance .hdr equirect, or a bundled name;
    read-only. Not cached here: relight caches the maps it derives, keyed by the file's content."""
    path = resolve_hdri(path_or_name)
    with open(path, "rb") as f:
        head = f.read(16)
    if not head.startswith((b"v/1\x01", b"#?")):
        raise UserError(f"{path.name}: an HDRI must be an OpenEXR (.exr) or Radiance (.hdr) file")
    env = read_image(path, colorspace="linear", max_pixels=max_pixels).rgb
    check_equirect(env, path.name)
    env.setflags(write=False)
    return env


def check_equirect(env: np.ndarray, name: str = "environment map") -> None:
    if env.ndim != 3 or env.shape[2] != 3:
        raise UserError(f"{name}: expected an H x W x 3 image, got shape {env.shape}")
    h, w = env.shape[:2]
    if h < 2 or not 1.5 <= w / h <= 2.5:
        raise UserError(f"{name}: {w}x{h} is not a 2:1 equirectangular (lat-long) map")


# ----------------------------------------------------------------------------- directions


def camera_to_world(dirs: np.ndarray) -> np.ndarray:
    d = np.asarray(dirs)
    return np.stack([d[..., 0], -d[..., 2], d[..., 1]], axis=-1)


def world_to_camera(dirs: np.ndarray) -> np.ndarray:
    d = np.asarray(dirs)
    return np.stack([d[..., 0], d[..., 2], -d[..., 1]], axis=-1)


def _rotate_z(world: np.ndarray, degrees: float) -> np.ndarray:
    if not degrees:
        return world
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    x, y = world[..., 0], world[..., 1]
    return np.stack([c * x - s * y, s * x + c * y, world[..., 2]], axis=-1).astype(world.dtype)


def direction_to_uv(
    dirs_camera: np.ndarray, rotation: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Texture coordinates (u, v) of camera-frame directions (need not be unit); u in [0, 1)."""
    d = np.asarray(dirs_camera)
    x, y, z = d[..., 0], -d[..., 2], d[..., 1]  # world coordinates, see camera_to_world
    # a turn about world z only adds to the azimuth, so it is a shift of u
    u = np.mod(0.5 - np.arctan2(y, x) / (2 * np.pi) - rotation / 360.0, 1.0)
    v = 0.5 + np.arctan2(z, np.hypot(x, y)) / np.pi
    return u, v


def uv_to_direction(u: np.ndarray, v: np.ndarray, rotation: float = 0.0) -> np.ndarray:
    """Unit camera-frame directions of texture coordinates; inverse of direction_to_uv."""
    azimuth = (0.5 - np.asarray(u)) * 2 * np.pi
    elevation = (np.asarray(v) - 0.5) * np.pi
    world = np.stack(
        [
            np.cos(elevation) * np.cos(azimuth),
            np.cos(elevation) * np.sin(azimuth),
            np.sin(elevation),
        ],
        axis=-1,
    )
    return world_to_camera(_rotate_z(world, -rotation))


def pixel_directions(height: int, width: int, rotation: float = 0.0) -> np.ndarray:
    """(H, W, 3) camera-frame directions of an equirect's pixel centres."""
    rows, cols = np.mgrid[0:height, 0:width]
    return uv_to_direction((cols + 0.5) / width, 1.0 - (rows + 0.5) / height, rotation).astype(
        np.float32
    )


def solid_angles(height: int, width: int) -> np.ndarray:
    """(H, 1) exact solid angle of each pixel of a row; they sum to 4 pi over the image."""
    edges = np.pi / 2 - np.arange(height + 1) * np.pi / height
    return ((2 * np.pi / width) * (np.sin(edges[:-1]) - np.sin(edges[1:])))[:, None].astype(
        np.float64
    )


def rotate(env: np.ndarray, degrees: float) -> np.ndarray:
    """The map that, looked up with rotation 0, gives what ``env`` gives with ``degrees``.

    A turn about the vertical is a horizontal shift of the columns (linear interpolation for
    fractions of a pixel)."""
    width = env.shape[1]
    shift = (degrees / 360.0) * width  # the lookup at Rz(theta) D reads u - theta / 360
    whole = int(np.floor(shift))
    frac = shift - whole
    rolled = np.roll(env, whole, axis=1)
    if frac:
        rolled = (1 - frac) * rolled + frac * np.roll(rolled, 1, axis=1)
    return rolled.astype(env.dtype)


def sample(env: np.ndarray, dirs_camera: np.ndarray, rotation: float = 0.0) -> np.ndarray:
    """Bilinear lookup of an equirect map along camera-frame directions: (..., 3) float32.

    Columns wrap around; rows clamp at the poles."""
    u, v = direction_to_uv(dirs_camera, rotation)
    return sample_uv(env, u, v)


def sample_uv(env: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    import cv2

    h, w = env.shape[:2]
    shape = np.shape(u)
    # one padded column on each side makes the horizontal wrap-around interpolate correctly
    padded = np.concatenate([env[:, -1:], env, env[:, :1]], axis=1).astype(np.float32, copy=False)
    count = int(np.prod(shape))
    width = 1024  # OpenCV maps must stay under 32767 pixels on each side: lay them out in rows
    rows = -(-count // width)
    x = np.zeros(rows * width, np.float32)
    y = np.zeros(rows * width, np.float32)
    x[:count] = np.mod(np.ravel(u), 1.0) * w + 0.5
    y[:count] = (1.0 - np.ravel(v)) * h - 0.5
    out = cv2.remap(padded, x.reshape(rows, width), y.reshape(rows, width), cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(-1, 3)[:count].reshape(*shape, 3)


def downsample(env: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Blocks of factor x factor pixels as point lights: (N, 3) power (radiance x solid angle),
    (N, 3) unit camera-frame direction and (N,) solid angle.

    Each block's direction is its brightness-weighted centroid, so a small sun keeps its true
    position instead of moving to the block centre."""
    h, w = env.shape[:2]
    if h % factor or w % factor:
        raise ValueError(f"{w}x{h} is not divisible by {factor}")
    omega = np.broadcast_to(solid_angles(h, w), (h, w))
    power = env.astype(np.float64) * omega[..., None]
    dirs = pixel_directions(h, w).astype(np.float64)
    weight = power.sum(axis=2) + 1e-12 * omega  # dark blocks fall back to their area centroid

    def blocks(a):
        return a.reshape(h // factor, factor, w // factor, factor, *a.shape[2:]).sum(axis=(1, 3))

    centroid = blocks(dirs * weight[..., None])
    centroid /= np.linalg.norm(centroid, axis=-1, keepdims=True)
    return (
        blocks(power).reshape(-1, 3),
        centroid.reshape(-1, 3),
        blocks(omega).reshape(-1),
    )
