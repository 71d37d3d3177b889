"""Angular error of normal maps, summarised the way photometric stereo papers report it."""

import numpy as np

THRESHOLDS_DEG = (11.25, 22.5, 30.0)


def angular_errors(predicted: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Degrees between unit normals at the masked pixels (both maps are renormalised first)."""
    p = predicted[mask].astype(np.float64)
    t = truth[mask].astype(np.float64)
    p /= np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-12)
    t /= np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-12)
    return np.degrees(np.arccos(np.clip((p * t).sum(axis=1), -1.0, 1.0)))


def summarise(errors: np.ndarray) -> dict:
    summary = {
        "mean_deg": float(errors.mean()),
        "median_deg": float(np.median(errors)),
        "pixels": int(errors.size),
    }
    for threshold in THRESHOLDS_DEG:
        summary[f"under_{threshold:g}_deg"] = float((errors < threshold).mean())
    return summary
