"""Does a photo set carry what photometric stereo needs: light that changes between photos?

Without this check a set of identical photos (the same shot saved twice, or a lamp that never
moved) still "solves": the network returns a shape and least squares a plausible-looking
map, and the user cannot tell it from a result.
"""

from __future__ import annotations

import numpy as np

from ..errors import UserError

# Median over the object of each pixel's spread across the photos, relative to its mean, after
# each photo is divided by its own mean level (so an exposure change alone does not count).
# Real sets score 0.27-0.36 (psm_uw, a narrow cone, 12 photos; 0.31-0.43 with 2 of them), our
# synthetic validation 0.05-0.9; identical photos with 2 % noise 0.008.
MIN_LIGHTING_CHANGE = 0.02
DARK = 0.05  # of a photo's mean level: darker pixels are shadow, noise in the ratio
MIN_LIT_FRACTION = 0.01  # of the object's pixels above DARK for a photo to count as lit


def lighting_change(stack: np.ndarray, mask: np.ndarray) -> float:
    """stack (K, H, W, 3) linear, mask (H, W) bool -> the relative spread described above."""
    grey = stack.mean(-1)[:, mask].astype(np.float64)  # (K, P)
    grey /= np.maximum(grey.mean(1, keepdims=True), 1e-12)
    mean = grey.mean(0)
    lit = mean > DARK
    if not lit.any():
        return 0.0
    return float(np.median(grey.std(0)[lit] / mean[lit]))


def require_solvable(stack: np.ndarray, mask: np.ndarray, minimum: int) -> None:
    """UserError unless at least ``minimum`` photos light the object and the light changes."""
    level = stack.mean(-1)[:, mask]  # (K, P)
    peak = max(float(level.max()), 1e-12)
    lit = int(((level > DARK * peak).mean(1) > MIN_LIT_FRACTION).sum())
    if lit < minimum:
        raise UserError(f"only {lit} of the {len(stack)} photos light the object; photometric "
                        f"stereo needs at least {minimum} lit photos from different lamp "
                        "positions")
    change = lighting_change(stack, mask)
    if change < MIN_LIGHTING_CHANGE:
        raise UserError(f"the photos show the same lighting (they differ by {100 * change:.1f} "
                        "% across the object): move the lamp between shots; photometric "
                        "stereo reads the shape from how the shading changes")
