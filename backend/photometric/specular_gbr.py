"""The bas-relief ambiguity of uncalibrated photometric stereo, resolved by specular highlights.

Lambertian images fix normals and lights only up to a generalised bas-relief (GBR) transform
G = [[1, 0, 0], [0, 1, 0], [mu, nu, lam]]: scaled pseudo-normals b -> G^-T b and lights
l -> G l render the same images, shadows included (Belhumeur, Kriegman and Yuille 1999). A
network's normals carry exactly such a bias (it flattens: on the DiLiGenT ball the best GBR
correction takes them from 6-7 deg to 4), and lights fitted to them inherit it. A specular
highlight is not GBR-invariant: at the peak of light k's lobe the normal is the half vector of
l_k and the view direction (Drbohlav and Sara 2002), so a few highlights pin down the three
parameters.

It applies only where highlights show: objects with some gloss under several lights. A matte
object gives no pixel far enough above the Lambertian prediction, and the caller keeps what it
had.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

VIEW = np.array([0.0, 0.0, 1.0])  # toward the (orthographic) camera
PEAK_PIXELS = 5  # per light: the top of its lobe, where the half-vector condition holds
HIGHLIGHT_RATIO = 1.5  # a peak pixel must be this much brighter than its Lambertian prediction
MIN_LIGHTS = 4  # lights whose highlight agrees with the fit: three unknowns, one to check them
INLIER_DEG = 4.0  # a light's highlight agrees when its peak normals' median misfit is below this
MIN_INLIER_SHARE = 0.5  # of the lights with a highlight-like peak: fewer agreeing is chance
ROBUST_SCALE_DEG = 3.0  # Cauchy loss: a false peak (interreflection, a wrong normal) pulls little
BOUND = np.array([0.5, 0.5, 2.0])  # |mu|, |nu| and max(lam, 1/lam): beyond, the start was not near


@dataclass(frozen=True)
class GbrFit:
    transform: np.ndarray  # (3, 3) G
    directions: np.ndarray  # (K, 3) unit, G l
    intensities: np.ndarray  # (K,) relative, mean 1
    # over the agreeing lights, their peak normals' misfit to half vectors
    highlight_error_deg: float
    lights_with_highlights: int  # that agree with the fit

    def normals(self, normals: np.ndarray) -> np.ndarray:
        """Unit normals (..., 3) carried through the same transform (b -> G^-T b)."""
        out = normals @ np.linalg.inv(self.transform)
        return out / np.maximum(np.linalg.norm(out, axis=-1, keepdims=True), 1e-12)


def resolve_gbr(
    observed: np.ndarray, pseudo_normals: np.ndarray, lights: np.ndarray
) -> GbrFit | None:
    """observed (K, P) grey linear radiance; pseudo_normals (P, 3) albedo * normal and lights
    (K, 3) direction * intensity, a Lambertian factorisation of it (e.g. lights fitted to a
    network's normals, normals solved for those lights). None when the highlights are too few
    or disagree."""
    peaks = _highlight_peaks(observed, pseudo_normals, lights)
    if len(peaks) < MIN_LIGHTS:
        return None
    index = np.array([k for k, _ in peaks])
    peak_b = np.stack([pseudo_normals[p] for _, p in peaks])  # (L, PEAK_PIXELS, 3)

    def per_light(params):
        """Median angle (deg) between each light's peak normals and its half vector."""
        g = _gbr(params)
        half = _unit(_unit(lights[index] @ g.T) + VIEW)
        n = _unit(peak_b @ np.linalg.inv(g))
        return np.median(np.degrees(np.arccos(np.clip((n * half[:, None]).sum(-1), -1, 1))), axis=1)

    def loss(params):
        return np.log1p((per_light(params) / ROBUST_SCALE_DEG) ** 2).mean()

    options = {"xatol": 1e-4, "fatol": 1e-5, "maxiter": 800}
    # From the identity: the factorisation's frame is the network's, near the truth but flattened.
    best = minimize(loss, [0.0, 0.0, 1.0], method="Nelder-Mead", options=options)
    inliers = per_light(best.x) < INLIER_DEG
    # the robust loss still feels the outliers a little: refit without
    if inliers.sum() >= MIN_LIGHTS:
        best = minimize(
            lambda p: per_light(p)[inliers].mean(), best.x, method="Nelder-Mead", options=options
        )
    errors = per_light(best.x)
    inliers = errors < INLIER_DEG
    mu, nu, lam = best.x
    if (inliers.sum() < max(MIN_LIGHTS, MIN_INLIER_SHARE * len(peaks))
            or abs(mu) > BOUND[0] or abs(nu) > BOUND[1] or not 1 / BOUND[2] < lam < BOUND[2]):
        return None
    g = _gbr(best.x)
    new = lights @ g.T
    norms = np.linalg.norm(new, axis=1)
    return GbrFit(
        g,
        (new / norms[:, None]).astype(np.float32),
        (norms / norms.mean()).astype(np.float32),
        float(errors[inliers].mean()),
        int(inliers.sum()),
    )


def _highlight_peaks(observed, pseudo_normals, lights) -> list[tuple[int, np.ndarray]]:
    """Per light with a highlight, the pixels furthest above the Lambertian prediction."""
    prediction = np.clip(lights @ pseudo_normals.T, 0, None)  # (K, P)
    excess = observed - prediction
    peaks = []
    for k in range(len(observed)):
        top = np.argpartition(excess[k], -PEAK_PIXELS)[-PEAK_PIXELS:]
        if (observed[k, top] > HIGHLIGHT_RATIO * prediction[k, top]).all() and (
            prediction[k, top] > 0
        ).all():
            peaks.append((k, top))
    return peaks


def _gbr(params) -> np.ndarray:
    mu, nu, lam = params
    return np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [mu, nu, lam]])


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)
