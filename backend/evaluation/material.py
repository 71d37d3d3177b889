"""Scores for surface maps: normals against the flat guess, height up to scale, how much
lighting leaks into the albedo, and how visible the seam of a tiled map is.

Every normal score comes with the flat guess's: a real wall is a plane with sparse relief, so
answering (0, 0, 1) everywhere is already a strong baseline (about 11 deg on scanned surfaces),
and a model is only useful where it beats it.
"""

from __future__ import annotations

import numpy as np

FLAT = np.array([0.0, 0.0, 1.0], np.float32)


def angular_error_deg(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-pixel angle in degrees between (..., 3, H, W) unit normal maps (channels first)."""
    cos = np.clip((predicted * truth).sum(-3), -1.0, 1.0)
    return np.degrees(np.arccos(cos))


def flat_error_deg(truth: np.ndarray) -> np.ndarray:
    """The flat guess's per-pixel error for (..., 3, H, W) normals."""
    norm = np.linalg.norm(truth, axis=-3).clip(1e-8)
    return np.degrees(np.arccos(np.clip(truth[..., 2, :, :] / norm, -1.0, 1.0)))


def height_error(predicted: np.ndarray, truth: np.ndarray) -> float:
    """RMS error of a (H, W) height after removing both means and fitting the best scale,
    relative to the true height's RMS: 0 is perfect, 1 is what a flat (zero) height scores."""
    p = predicted - predicted.mean()
    t = truth - truth.mean()
    scale = float((p * t).sum() / max((p * p).sum(), 1e-12))
    return float(np.sqrt(((scale * p - t) ** 2).mean() / max((t * t).mean(), 1e-12)))


def shading_leak(albedo: np.ndarray, shading: np.ndarray) -> float:
    """Correlation of the albedo's log-luminance with the true shading's (both (H, W) or
    (3, H, W) linear): 0 when no lighting is left in the albedo. The photo itself, taken as the
    albedo, scores high where the light varies; the true albedo scores about 0."""
    def grey(x):
        return x if x.ndim == 2 else np.tensordot([0.2126, 0.7152, 0.0722], x, 1)

    a = np.log(np.maximum(grey(albedo), 1e-4)).ravel()
    s = np.log(np.maximum(grey(shading), 1e-4)).ravel()
    a, s = a - a.mean(), s - s.mean()
    return float((a * s).sum() / max(np.sqrt((a * a).sum() * (s * s).sum()), 1e-12))


def seam_score(texture: np.ndarray) -> float:
    """How visible the seam is when a (H, W) or (H, W, C) map is tiled: the mean jump across
    the wrap-around (last column to first, last row to first) over the mean jump between
    neighbouring pixels inside. About 1: no seam to see; a photo's own edges score several."""
    t = texture.astype(np.float64)
    inner = np.abs(np.diff(t, axis=1)).mean() + np.abs(np.diff(t, axis=0)).mean()
    wrap = np.abs(t[:, 0] - t[:, -1]).mean() + np.abs(t[0] - t[-1]).mean()
    return float(wrap / max(inner, 1e-12))


LUMA_STRENGTHS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0)  # px of height per unit of band-passed log-luma


def luminance_normals(image: np.ndarray, strength: float, sigma: float = 12.0) -> np.ndarray:
    """The classical reference (Materialize, CrazyBump): height = the photo's band-passed
    log-luminance (a 1 px blur against noise minus a ``sigma`` px one against the light's
    gradient; bright = high) times ``strength``; (3, H, W) normals of it in the engine's frame
    (x right, y up: n ~ (-dh/dx, +dh/drow, 1)). ``image``: (H, W, 3) or (3, H, W) linear."""
    import cv2

    x = np.asarray(image, np.float32)
    if x.ndim == 3 and x.shape[0] == 3 and x.shape[-1] != 3:
        x = np.moveaxis(x, 0, -1)
    grey = np.log(np.maximum(x[..., :3] @ np.float32([0.2126, 0.7152, 0.0722]), 1e-3))
    band = (cv2.GaussianBlur(grey, (0, 0), 1.0, borderType=cv2.BORDER_REFLECT)
            - cv2.GaussianBlur(grey, (0, 0), sigma, borderType=cv2.BORDER_REFLECT))
    h = np.pad(band * strength, 1, mode="edge")
    dx = (h[1:-1, 2:] - h[1:-1, :-2]) / 2
    drow = (h[2:, 1:-1] - h[:-2, 1:-1]) / 2
    n = np.stack([-dx, drow, np.ones_like(dx)])
    return n / np.linalg.norm(n, axis=0, keepdims=True)
