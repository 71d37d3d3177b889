"""Light-direction calibration from photos of a mirror (chrome) sphere.

A mirror ball reflects each distant light as a small highlight at the one point whose normal
bisects the light and the view direction. Knowing the ball's silhouette gives the normal at
every pixel, so the highlight position alone gives the light direction: no radiometry needed,
which is why this works with any exposure as long as the highlight is visible.

We assume an orthographic camera (view vector v = (0, 0, 1) everywhere). With a long lens and a
ball that fills a small part of the frame the perspective error is well under a degree, and the
assumption lets the silhouette be a circle and the normal a closed-form function of the pixel.

Camera frame: x right, y up, z toward the camera. Image rows grow downward, hence the minus
sign on y.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike

import cv2
import numpy as np

from ..errors import UserError

__all__ = [
    "Sphere",
    "calibrate_lights",
    "find_highlight",
    "fit_sphere",
    "light_from_highlight",
    "write_light_directions",
]

_MIN_RADIUS = 10.0  # px; below this one pixel of highlight error is several degrees of light.
_VIEW = np.array([0.0, 0.0, 1.0])


@dataclass(frozen=True)
class Sphere:
    """The ball's image circle. Pixel centres are at integer (col, row) coordinates."""

    cx: float  # column of the centre
    cy: float  # row of the centre
    radius: float


def _kasa_fit(pts: np.ndarray) -> tuple[float, float, float]:
    """Algebraic least-squares circle: linear, so no start point and no iterations."""
    x, y = pts[:, 0], pts[:, 1]
    a = np.column_stack([x, y, np.ones_like(x)])
    b = x * x + y * y
    (p, q, c), *_ = np.linalg.lstsq(a, b, rcond=None)
    cx, cy = p / 2.0, q / 2.0
    return cx, cy, float(np.sqrt(max(c + cx * cx + cy * cy, 0.0)))


def fit_sphere(mask: np.ndarray) -> Sphere:
    """Fit the ball's circle to the silhouette boundary.

    Boundary points are taken half-way between each inside pixel and its outside 4-neighbour,
    which is where the true edge lies on average; fitting the boundary pixels themselves would
    shrink the radius by about half a pixel. A circle fit on the boundary (rather than area
    moments) tolerates a silhouette that is partly hidden, e.g. by the ball's stand: the
    boundary points of the hidden part do not lie on the circle and are trimmed as outliers.
    Only the largest connected blob is used, and holes in it are filled, so stray mask pixels
    and a highlight that a matting step left out do not matter.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise UserError(f"chrome ball mask must be a 2-D (H, W) array, got shape {mask.shape}")
    m = (mask > 0).astype(np.uint8)
    if not m.any():
        raise UserError("chrome ball mask is empty: no pixel marks the ball")

    # Largest blob, holes filled (drawing its outer contour filled does both).
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    largest = max(contours, key=cv2.contourArea)
    blob = np.zeros_like(m)
    cv2.drawContours(blob, [largest], -1, 1, thickness=cv2.FILLED)
    b = blob.astype(bool)

    rows, cols = np.nonzero(b[:, :-1] != b[:, 1:])
    pts_h = np.column_stack([cols + 0.5, rows])
    rows, cols = np.nonzero(b[:-1, :] != b[1:, :])
    pts_v = np.column_stack([cols, rows + 0.5])
    pts = np.concatenate([pts_h, pts_v]).astype(np.float64)
    if len(pts) < 20:
        raise UserError(
            f"chrome ball mask is too small ({int(b.sum())} px); the ball should be at least "
            f"{2 * _MIN_RADIUS:.0f} px across"
        )

    keep = np.ones(len(pts), bool)
    for _ in range(4):
        cx, cy, r = _kasa_fit(pts[keep])
        resid = np.abs(np.hypot(pts[:, 0] - cx, pts[:, 1] - cy) - r)
        tol = max(1.0, 0.02 * r)
        new_keep = resid < tol
        if new_keep.sum() < 20 or np.array_equal(new_keep, keep):
            break
        keep = new_keep

    if r < _MIN_RADIUS:
        raise UserError(
            f"chrome ball is too small in the image (radius {r:.1f} px); it should be at least "
            f"{_MIN_RADIUS:.0f} px in radius for an accurate calibration"
        )
    inliers = float(np.mean(resid < tol))
    if inliers < 0.6:
        raise UserError(
            f"chrome ball mask is not a disk: only {inliers:.0%} of its outline lies on the "
            f"best-fitting circle (centre {cx:.1f}, {cy:.1f}, radius {r:.1f} px)"
        )
    return Sphere(float(cx), float(cy), float(r))


def _grey(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image, dtype=np.float32)
    if img.ndim == 3:
        return img.mean(axis=2)
    if img.ndim == 2:
        return img
    raise UserError(f"image must be (H, W) or (H, W, C), got shape {img.shape}")


def find_highlight(image: np.ndarray, sphere: Sphere) -> tuple[float, float]:
    """Sub-pixel (col, row) of the specular highlight on the ball.

    The intensity-weighted centroid of the brightest blob is used rather than the brightest
    pixel: real highlights are saturated plateaus where the argmax is arbitrary, and the
    centroid averages noise to a fraction of a pixel. The threshold sits half-way between the
    ball's typical (median) level and the peak so the blob does not depend on exposure. A
    slight blur first keeps a single hot pixel from being taken for the highlight. The outer
    2% of the disk is ignored: grazing reflections at the rim show things behind the ball,
    and lights there cannot be calibrated reliably anyway.
    """
    grey = _grey(image)
    h, w = grey.shape
    if not np.all(np.isfinite(grey)):
        grey = np.nan_to_num(grey, nan=0.0, posinf=0.0, neginf=0.0)
    grey = cv2.GaussianBlur(grey, (0, 0), 1.0)

    yy, xx = np.mgrid[0:h, 0:w]
    disk = np.hypot(xx - sphere.cx, yy - sphere.cy) < 0.98 * sphere.radius
    if not disk.any():
        raise UserError("the chrome ball lies outside the image")
    vals = grey[disk]
    peak, base = float(vals.max()), float(np.median(vals))
    if peak <= 1e-6 or (peak - base) < 0.25 * peak:
        raise UserError(
            "no specular highlight found on the chrome ball (the ball is dark or evenly lit; "
            f"peak {peak:.3g} vs typical {base:.3g}); check the exposure and that the light "
            "is in front of the ball"
        )

    thr = base + 0.5 * (peak - base)
    bright = (disk & (grey >= thr)).astype(np.uint8)
    _, labels = cv2.connectedComponents(bright, connectivity=8)
    masked = np.where(disk, grey, -np.inf)
    pr, pc = np.unravel_index(int(np.argmax(masked)), masked.shape)
    blob = labels == labels[pr, pc]

    wgt = np.where(blob, grey - thr, 0.0)
    wgt = np.clip(wgt, 0.0, None)
    total = float(wgt.sum())
    if total <= 0.0:  # the blob is a flat plateau exactly at the threshold
        wgt, total = blob.astype(np.float64), float(blob.sum())
    return float((wgt * xx).sum() / total), float((wgt * yy).sum() / total)


def light_from_highlight(col: float, row: float, sphere: Sphere) -> np.ndarray:
    """Unit light direction that puts a mirror highlight at (col, row).

    The highlight normal is the half-vector of light and view, so the light is the view vector
    reflected about it: l = 2 (n.v) n - v. A point just outside the fitted circle (sub-pixel
    noise at the rim) is pulled onto the silhouette instead of failing.
    """
    nx = (col - sphere.cx) / sphere.radius
    ny = -(row - sphere.cy) / sphere.radius
    rho2 = nx * nx + ny * ny
    if rho2 > 1.0:
        s = 1.0 / np.sqrt(rho2)
        nx, ny, rho2 = nx * s, ny * s, 1.0
    n = np.array([nx, ny, np.sqrt(max(0.0, 1.0 - rho2))])
    light = 2.0 * float(n @ _VIEW) * n - _VIEW
    return light / np.linalg.norm(light)


def calibrate_lights(images: Sequence[np.ndarray], mask: np.ndarray) -> np.ndarray:
    """(K, 3) float32 unit light directions, one per image, in order.

    The ball must not move between shots, so the circle is fitted once from the shared mask.
    """
    sphere = fit_sphere(mask)
    if len(images) == 0:
        raise UserError("no chrome ball images given")
    out = np.empty((len(images), 3), np.float32)
    for i, image in enumerate(images, start=1):
        shape = np.shape(image)
        if tuple(shape[:2]) != tuple(np.shape(mask)):
            raise UserError(
                f"chrome ball image {i}: size {shape[:2]} does not match the mask "
                f"{tuple(np.shape(mask))}"
            )
        try:
            col, row = find_highlight(image, sphere)
        except UserError as err:
            raise UserError(f"chrome ball image {i}: {err}") from err
        out[i - 1] = light_from_highlight(col, row, sphere)
    return out


def write_light_directions(path: str | PathLike[str], directions: np.ndarray) -> None:
    """Write DiLiGenT's `light_directions.txt`: one "x y z" line per light, 6 decimals."""
    d = np.asarray(directions, dtype=np.float64)
    if d.ndim != 2 or d.shape[1] != 3:
        raise UserError(f"light directions must have shape (K, 3), got {d.shape}")
    with open(path, "w", encoding="ascii") as f:
        f.writelines(f"{x:.6f} {y:.6f} {z:.6f}\n" for x, y, z in d)
