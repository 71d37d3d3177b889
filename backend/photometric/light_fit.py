"""Light directions fitted to known normals: the physics check on a network's light estimate.

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
ITERATIONS = 10
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
    pixels = np.flatnonzero(mask)
    if len(pixels) > MAX_PIXELS:
        pixels = np.sort(np.random.default_rng(0).choice(pixels, MAX_PIXELS, replace=False))
    k = len(images)
    observed = images.reshape(k, -1, 3)[:, pixels].mean(-1).astype(np.float64)  # (K, P) grey
    n = normals.reshape(-1, 3)[pixels].astype(np.float64)
    scale = np.ones(k) if intensities is None else np.asarray(intensities, np.float64).reshape(k)
    lights = np.asarray(directions, np.float64) * scale[:, None]
    start = lights.copy()
    fitted = np.zeros(k, bool)
    for _ in range(ITERATIONS):
        albedo = _albedo(observed, n, lights)
        for i in range(k):
            bright = np.percentile(observed[i], HIGHLIGHT_QUANTILE)
            lit = (observed[i] > SHADOW_FRACTION * bright) & (observed[i] < bright) & (albedo > 0)
            if lit.sum() < MIN_LIT:
                continue
            light = np.linalg.lstsq(albedo[lit, None] * n[lit], observed[i, lit], rcond=None)[0]
            if light[2] > 0:  # a light behind the surface is a failed fit
                lights[i], fitted[i] = light, True
            else:
                lights[i], fitted[i] = start[i], False
    albedo = _albedo(observed, n, lights)
    residual = np.abs(observed - albedo * np.clip(lights @ n.T, 0, None)).sum() / max(observed.sum(), 1e-12)
    norms = np.linalg.norm(lights, axis=1)
    return LightFit((lights / norms[:, None]).astype(np.float32), (norms / norms.mean()).astype(np.float32),
                    float(residual), fitted)


def _albedo(observed: np.ndarray, normals: np.ndarray, lights: np.ndarray) -> np.ndarray:
    shading = np.clip(lights @ normals.T, 0, None)  # (K, P)
    return (observed * shading).sum(0) / ((shading * shading).sum(0) + 1e-12)
