"""Metrics of the single-portrait model: normal error on the face, mask IoU, shading error.

Arrays are channel-first batches, as the networks and the synthetic engine produce them:
normals (N, 3, H, W), shading (N, 3, H, W), masks/regions (N, 1, H, W) or (N, H, W).
"""

from __future__ import annotations

import numpy as np

from .metrics import angular_errors


def _region(mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    return (mask[:, 0] if mask.ndim == 4 else mask) > 0.5


def normal_error_deg(predicted: np.ndarray, truth: np.ndarray, region: np.ndarray) -> float:
    """Mean angular error (degrees) over the region's pixels of all images."""
    inside = _region(region)
    if not inside.any():
        return float("nan")
    errors = angular_errors(np.moveaxis(predicted, 1, -1), np.moveaxis(truth, 1, -1), inside)
    return float(errors.mean())


def mask_iou(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union of two binary masks, pooled over the batch (1 if both empty)."""
    p, t = _region(predicted), _region(truth)
    union = np.logical_or(p, t).sum()
    return float(np.logical_and(p, t).sum() / union) if union else 1.0


def shading_si_error(predicted: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    """Scale-invariant shading error: per image, the relative squared error
    |a p - t|^2 / |t|^2 inside the mask after the best single scale a; mean over images.

    The absolute level of shading versus albedo is ambiguous from one photo (a brighter light on
    a darker skin looks the same), so only the shading's shape and colour balance are scored."""
    inside = _region(mask)
    errors = []
    for p, t, m in zip(predicted.astype(np.float64), truth.astype(np.float64), inside, strict=True):
        p, t = p[:, m].ravel(), t[:, m].ravel()
        denominator = (t * t).sum()
        if not m.any() or denominator <= 0:
            continue
        scale = (p * t).sum() / max((p * p).sum(), 1e-20)
        errors.append(((scale * p - t) ** 2).sum() / denominator)
    return float(np.mean(errors)) if errors else float("nan")


def portrait_metrics(predicted: dict, truth: dict) -> dict:
    """predicted: "normal", "shading", "mask" (binary); truth: the synthetic sample's keys
    ("normal", "shading", "mask", and "face" for the normal-error region)."""
    face = truth.get("face", truth["mask"])
    return {
        "normal_face_deg": normal_error_deg(predicted["normal"], truth["normal"], face),
        "mask_iou": mask_iou(predicted["mask"], truth["mask"]),
        "shading_si_error": shading_si_error(predicted["shading"], truth["shading"], truth["mask"]),
    }
