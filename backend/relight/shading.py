"""Pre-convolved environment maps: diffuse irradiance and roughness-blurred reflections.

Both are equirects in the HDRI's own orientation (rotation is applied when they are looked up,
so one map serves every rotation) and both are built by brute-force summation over the HDRI
reduced to blocks of pixels taken as point lights (envmap.downsample), each placed at its
block's brightness centroid so that a small sun keeps its exact direction.

Irradiance: E(d) = sum_j P_j max(0, d . w_j), tabulated on a 64 x 128 grid (2.8 degrees) and
read back bilinearly. Unlike SH9 it keeps the sharp terminator of a sun (docs/relight.md).

Reflections: the mirror (roughness 0) is the HDRI itself; rougher levels convolve it with a
von Mises-Fisher lobe exp(kappa (cos - 1)), kappa = 1 / alpha^2 with alpha = roughness^2, which
has about the half-maximum width of a GGX lobe of that roughness reflected about the normal. A
roughness between the tabulated levels blends the two nearest.
"""

from __future__ import annotations

import cv2
import numpy as np

from .envmap import downsample, pixel_directions, sample, solid_angles

IRRADIANCE_SIZE = 64  # rows of the tabulated irradiance map (2.8 degrees; columns: twice as many)
LIGHT_ROWS = 32  # rows of the block grid the HDRI is reduced to for the irradiance sums
ROUGHNESS_LEVELS = (0.0, 0.25, 0.5, 0.75, 1.0)
_CHUNK = 2048


def point_lights(env: np.ndarray, rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """envmap.downsample to about ``rows`` block rows, resizing first if the size doesn't divide."""
    h, w = env.shape[:2]
    factor = max(1, round(h / rows))
    rows = max(1, h // factor)
    if (h, w) != (rows * factor, 2 * rows * factor):
        env = cv2.resize(np.ascontiguousarray(env, np.float32), (2 * rows * factor, rows * factor),
                         interpolation=cv2.INTER_AREA)
    return downsample(env, factor)


def irradiance_from_lights(
    dirs: np.ndarray, power: np.ndarray, light_dirs: np.ndarray
) -> np.ndarray:
    """sum_j power_j max(0, d . w_j) for (N, 3) directions, in chunks to bound memory."""
    dirs = np.asarray(dirs, np.float32).reshape(-1, 3)
    out = np.empty((dirs.shape[0], 3), np.float64)
    light_dirs_t = np.ascontiguousarray(light_dirs.T, np.float32)
    power = power.astype(np.float32)
    for start in range(0, dirs.shape[0], _CHUNK):
        cos = dirs[start : start + _CHUNK] @ light_dirs_t
        np.maximum(cos, 0.0, out=cos)
        out[start : start + _CHUNK] = cos @ power
    return out


def brute_force_irradiance(
    env: np.ndarray, normals: np.ndarray, rotation: float = 0.0
) -> np.ndarray:
    """Reference E(n) summed over every pixel of ``env`` (slow for big maps): (..., 3) float64."""
    h, w = env.shape[:2]
    dirs = pixel_directions(h, w, rotation).reshape(-1, 3)
    power = (env.astype(np.float64) * solid_angles(h, w)[..., None]).reshape(-1, 3)
    normals = np.asarray(normals)
    flat = normals.reshape(-1, 3).astype(np.float64)
    out = np.empty((flat.shape[0], 3))
    dirs_t = np.ascontiguousarray(dirs.T, np.float64)
    for start in range(0, flat.shape[0], 256):
        cos = np.maximum(flat[start : start + 256] @ dirs_t, 0.0)
        out[start : start + 256] = cos @ power
    return out.reshape(*normals.shape[:-1], 3)


def irradiance_map(
    env: np.ndarray, size: int = IRRADIANCE_SIZE, light_rows: int = LIGHT_ROWS
) -> np.ndarray:
    """(size, 2 size, 3) float32 equirect of E(d), in the HDRI's orientation (rotation 0)."""
    power, light_dirs, _ = point_lights(env, light_rows)
    dirs = pixel_directions(size, 2 * size)
    return (
        irradiance_from_lights(dirs, power, light_dirs)
        .reshape(size, 2 * size, 3)
        .astype(np.float32)
    )


def lookup_irradiance(
    irradiance: np.ndarray, normals: np.ndarray, rotation: float = 0.0
) -> np.ndarray:
    return sample(irradiance, normals, rotation)


def vmf_kappa(roughness: float) -> float:
    alpha = roughness**2
    return 1.0 / max(alpha * alpha, 1e-8)


def prefiltered_map(env: np.ndarray, roughness: float) -> np.ndarray:
    """The HDRI blurred by the reflection lobe of ``roughness`` (> 0), as a small equirect whose
    pixels are at most half the lobe's angular spread (64 rows at most, for speed)."""
    kappa = vmf_kappa(roughness)
    spread = 1.0 / np.sqrt(kappa)  # angular standard deviation, radians
    rows = int(np.clip(np.pi / (spread / 2), 8, 64))
    power, light_dirs, omega = point_lights(env, min(rows, env.shape[0]))
    power, omega = power.astype(np.float32), omega.astype(np.float32)
    light_dirs_t = np.ascontiguousarray(light_dirs.T, np.float32)
    dirs = pixel_directions(rows, 2 * rows).reshape(-1, 3)
    out = np.empty((dirs.shape[0], 3), np.float64)
    for start in range(0, dirs.shape[0], _CHUNK):
        weight = np.exp(kappa * (dirs[start : start + _CHUNK] @ light_dirs_t - 1.0))
        out[start : start + _CHUNK] = (weight @ power) / np.maximum(weight @ omega, 1e-30)[:, None]
    return out.reshape(rows, 2 * rows, 3).astype(np.float32)


def roughness_weights(roughness: float) -> list[tuple[int, float]]:
    """(level index, weight) of the one or two tabulated levels that make up ``roughness``."""
    r = float(np.clip(roughness, 0.0, 1.0))
    levels = ROUGHNESS_LEVELS
    upper = int(np.searchsorted(levels, r))
    if upper == 0 or levels[upper] == r:
        return [(upper, 1.0)]
    t = (r - levels[upper - 1]) / (levels[upper] - levels[upper - 1])
    return [(upper - 1, 1.0 - t), (upper, t)]


def fresnel_schlick(cos_theta, f0):
    return f0 + (1.0 - f0) * (1.0 - np.clip(cos_theta, 0.0, 1.0))[..., None] ** 5
