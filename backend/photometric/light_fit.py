"""Light directions fitted to known normals: the physics check on a network's light estimate.

(Not `inference.sh_lighting`, which fits a portrait's low-order environment lighting.)

With the normals fixed, I_k(p) = albedo(p) * max(n(p) . L_k, 0) is linear in each light L_k
(direction times intensity) once the albedo is known, and linear in the albedo once the lights
are, so a few alternations of two least-squares steps fit both. Each light uses only its lit,
non-highlight pixels. Fixing the normals removes the generalised bas-relief ambiguity that
makes uncalibrated photometric stereo ill-posed.

The fit is only as good as the Lambertian model: on glossy metal, strong interreflection or
wrong normals it is worse than the network, and its residual says so (see `fit_lights`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_PIXELS = 20000  # a seeded subset is plenty for 3 unknowns per light and bounds the cost
MAX_ITERATIONS = 30  # alternation converges linearly: ~20 from 11 deg off on the ball (18 ms each)
TOLERANCE = 1e-4  # relative change of the lights that ends it
SHADOW_FRACTION = 0.05  # of an image's bright level: darker pixels are in shadow
HIGHLIGHT_QUANTILE = 98  # brighter pixels (per image) are likely specular
MIN_LIT = 20


@dataclass(frozen=True)
class LightFit:
    directions: np.ndarray  # (K, 3) unit, camera frame
    intensities: np.ndarray  # (K,) relative, mean 1
    residual: float  # sum |I - albedo * shading| / sum I over the masked pixels: 0 is Lambertian
    fitted: np.ndarray  # (K,) bool: False where a light kept its initial estimate


def fit_lights(images: np.ndarray, normals: np.ndarray, mask: np.ndarray, directions: np.ndarray,
               intensities: np.ndarray | None = None) -> LightFit:
    """images (K, H, W, 3) linear; normals (H, W, 3); mask (H, W) bool; directions (K, 3) and
    relative intensities (K,) start the fit (the network's estimate)."""
    pixels = sample_pixels(mask)
    k = len(images)
    observed = images.reshape(k, -1, 3)[:, pixels].mean(-1).astype(np.float64)  # (K, P) grey
    n = normals.reshape(-1, 3)[pixels].astype(np.float64)
    scale = np.ones(k) if intensities is None else np.asarray(intensities, np.float64).reshape(k)
    start = np.asarray(directions, np.float64) * scale[:, None]
    bright = np.percentile(observed, HIGHLIGHT_QUANTILE, axis=1, keepdims=True)
    lit = (observed > SHADOW_FRACTION * bright) & (observed < bright)
    fitted = lit.sum(1) >= MIN_LIT
    lights = start.copy()
    outer = (n[:, :, None] * n[:, None, :]).reshape(-1, 9)
    for _ in range(MAX_ITERATIONS):
        albedo = _albedo(observed, n, lights)
        # Per light, the 3x3 normal equations of sum over its lit pixels (I - albedo n.L)^2.
        weight = lit * (albedo > 0)
        lhs = ((weight * albedo**2) @ outer).reshape(k, 3, 3) + 1e-12 * np.eye(3)
        rhs = (weight * albedo * observed) @ n
        new = np.where(fitted[:, None], np.linalg.solve(lhs, rhs[..., None])[..., 0], start)
        change = np.abs(new - lights).max() / max(np.abs(new).max(), 1e-12)
        lights = new
        if change < TOLERANCE:
            break
    behind = lights[:, 2] <= 0  # a light behind the surface is a failed fit
    lights[behind], fitted = start[behind], fitted & ~behind
    albedo = _albedo(observed, n, lights)
    residual = np.abs(observed - albedo * np.clip(lights @ n.T, 0, None)).sum() / max(
        observed.sum(), 1e-12
    )
    norms = np.linalg.norm(lights, axis=1)
    return LightFit(
        (lights / norms[:, None]).astype(np.float32),
        (norms / norms.mean()).astype(np.float32),
        float(residual),
        fitted,
    )


def sample_pixels(mask: np.ndarray, limit: int = MAX_PIXELS) -> np.ndarray:
    """Flat indices of the mask's pixels in order; a seeded subset of ``limit`` if more."""
    pixels = np.flatnonzero(mask)
    if len(pixels) > limit:
        pixels = np.sort(np.random.default_rng(0).choice(pixels, limit, replace=False))
    return pixels


def _albedo(observed: np.ndarray, normals: np.ndarray, lights: np.ndarray) -> np.ndarray:
    shading = np.clip(lights @ normals.T, 0, None)  # (K, P)
    return (observed * shading).sum(0) / ((shading * shading).sum(0) + 1e-12)
