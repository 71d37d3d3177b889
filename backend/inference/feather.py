"""Feathered blending of a face pass into the whole-frame pass (bpy-free).

The portrait network runs twice on a photo of a person: once on the whole frame (the body, the
hair and clothes) and once per face on a square crop around it (the detail it was trained on).
Pasting the face pass in with a hard edge leaves a straight seam along the crop square, because
the two passes disagree a little everywhere (different context, different exposure level). A
weight that is 1 in the middle of the crop and falls smoothly (raised cosine) to 0 at its edge
over a wide band hides the disagreement: the change is spread over FEATHER_SHARE of the crop's
side instead of one pixel.
"""

from __future__ import annotations

import numpy as np

from .face_crop import CropBox, Window

FEATHER_SHARE = 0.25  # width of the ramp, as a share of the crop square's side
SHADING_EPS = 1e-6  # shading is blended in log space (products of light and albedo)


def feather_weight(
    box: CropBox, shape: tuple[int, ...], share: float = FEATHER_SHARE,
    window: Window | None = None,
) -> np.ndarray:
    """(H, W) float32: 1 deeper than share * side inside the box, a raised-cosine ramp to 0 at
    its edge, 0 outside; or only its part ``window``. The box may extend past the image."""
    h, w = shape[:2]
    rows, cols = window or (slice(0, h), slice(0, w))
    band = max(share * box.side, 1.0)
    xs = np.arange(cols.start, cols.stop, dtype=np.float32) + 0.5
    ys = np.arange(rows.start, rows.stop, dtype=np.float32) + 0.5
    dx = np.minimum(xs - box.x, box.x + box.side - xs)  # distance to the nearer vertical edge
    dy = np.minimum(ys - box.y, box.y + box.side - ys)
    ramp_x = _ramp(dx / band)
    ramp_y = _ramp(dy / band)
    return (ramp_y[:, None] * ramp_x[None, :]).astype(np.float32)


def _ramp(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * t)


def blend_pass(base: dict[str, np.ndarray], layer: dict[str, np.ndarray],
               weight: np.ndarray, window: Window | None = None) -> dict[str, np.ndarray]:
    """base: full-size "normal" (H, W, 3), "shading" (H, W, 3) and "mask" (H, W)
    probabilities; layer and weight: the same over ``window`` of it (default: all of it). The
    layer wins where weight is 1. Normals are averaged and renormalised, shading is blended in
    log space, the mask probability linearly. Returns base, changed in place in the window
    (outside it the weight is 0: nothing to blend)."""
    rows, cols = window or (slice(None), slice(None))
    w2, w3 = weight, weight[..., None]
    normal = (1 - w3) * base["normal"][rows, cols] + w3 * layer["normal"]
    normal /= np.maximum(np.linalg.norm(normal, axis=2, keepdims=True), 1e-8)
    log_base = np.log(np.maximum(base["shading"][rows, cols], SHADING_EPS))
    log_layer = np.log(np.maximum(layer["shading"], SHADING_EPS))
    shading = np.exp((1 - w3) * log_base + w3 * log_layer)
    mask = (1 - w2) * base["mask"][rows, cols] + w2 * layer["mask"]
    for name, values in (("normal", normal), ("shading", shading), ("mask", mask)):
        base[name][rows, cols] = values
    return base
