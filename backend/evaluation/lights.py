"""Light-estimation metrics as SDPS-Net reports them."""

import numpy as np


def direction_errors(estimated: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(K,) degrees between estimated and true unit light directions."""
    cos = (estimated * truth).sum(axis=1) / (
        np.linalg.norm(estimated, axis=1) * np.linalg.norm(truth, axis=1)
    )
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def intensity_error(estimated: np.ndarray, truth: np.ndarray) -> float:
    """Mean relative error |s*e - t| / t after the best per-channel scale s: intensities are only
    known up to a global factor (it trades off against albedo and exposure)."""
    estimated = np.broadcast_to(estimated, truth.shape).astype(np.float64)
    scale = (estimated * truth).sum(axis=0) / np.maximum((estimated**2).sum(axis=0), 1e-12)
    return float(np.mean(np.abs(estimated * scale - truth) / truth))
