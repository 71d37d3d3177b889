"""Order-2 spherical harmonics (9 coefficients) irradiance, after Ramamoorthi & Hanrahan 2001,
"An Efficient Representation for Irradiance Environment Maps".

Coefficients are in the camera frame (x right, y up, z toward the viewer), ordered
Y00, Y1-1 (y), Y10 (z), Y11 (x), Y2-2 (xy), Y2-1 (yz), Y20 (3z^2 - 1), Y21 (xz), Y22 (x^2 - y^2).

E(n) = integral of L(w) max(0, n.w) dw = sum_lm A_l L_lm Y_lm(n) with A_0 = pi, A_1 = 2 pi / 3,
A_2 = pi / 4. SH9 is exact for a constant environment and within about 1 % for smooth skies,
but a sharp sun needs the higher orders SH9 drops (the clamped cosine's kink at the terminator):
its error there reaches tens of percent, which is why relighting defaults to the pre-convolved
irradiance map of shading.py (numbers in docs/relight.md).
"""

from __future__ import annotations

import numpy as np

from .envmap import pixel_directions, solid_angles

_C0 = 0.282094791773878  # 1 / (2 sqrt(pi))
_C1 = 0.488602511902920  # sqrt(3 / (4 pi))
_C2 = 1.092548430592079  # sqrt(15 / (4 pi))
_C20 = 0.315391565252520  # sqrt(5 / (16 pi))
_C22 = 0.546274215296040  # sqrt(15 / (16 pi))
_BAND = (np.pi, 2 * np.pi / 3, 2 * np.pi / 3, 2 * np.pi / 3) + (np.pi / 4,) * 5


def sh9_basis(dirs):
    """The nine basis functions at (..., 3) directions, as a list (works on numpy and torch)."""
    x, y, z = dirs[..., 0], dirs[..., 1], dirs[..., 2]
    return [
        _C0 + 0 * x,
        _C1 * y,
        _C1 * z,
        _C1 * x,
        _C2 * x * y,
        _C2 * y * z,
        _C20 * (3 * z * z - 1),
        _C2 * x * z,
        _C22 * (x * x - y * y),
    ]


def sh9_quadratic(coeffs: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """(k, b, A) with sh9_basis(n) @ coeffs == k + b . n + n . A n for nine scalar ``coeffs``:
    order-2 harmonics are a quadratic form in the direction, so its gradient is b + 2 A n."""
    c = np.asarray(coeffs, np.float64)
    k = _C0 * c[0] - _C20 * c[6]
    b = _C1 * np.array([c[3], c[1], c[2]])
    a = np.array([[_C22 * c[8], _C2 * c[4] / 2, _C2 * c[7] / 2],
                  [_C2 * c[4] / 2, -_C22 * c[8], _C2 * c[5] / 2],
                  [_C2 * c[7] / 2, _C2 * c[5] / 2, 3 * _C20 * c[6]]])
    return float(k), b, a


def project_sh9(env: np.ndarray, rotation: float = 0.0) -> np.ndarray:
    """(9, 3) float32 radiance coefficients of an (H, W, 3) equirect, solid-angle weighted,
    in the camera frame; ``rotation`` as in envmap (the Mapping node's Z rotation, degrees)."""
    env = np.asarray(env)
    h, w = env.shape[:2]
    dirs = pixel_directions(h, w, rotation).astype(np.float64)
    weighted = env.astype(np.float64) * solid_angles(h, w)[..., None]  # (H, W, 3)
    return np.stack([np.einsum("hw,hwc->c", b, weighted) for b in sh9_basis(dirs)]).astype(
        np.float32
    )


def sh9_irradiance(normals, coeffs):
    """E(n), shape (..., 3), from radiance coefficients; numpy arrays or torch tensors.

    normals (..., 3) camera frame, unit length; coeffs (9, 3), or batched (B, 9, 3) with normals
    (B, ..., 3). Only elementwise arithmetic and indexing, so autograd and any device work."""
    extra = normals.ndim - coeffs.ndim + 1  # singleton axes that line coeffs up with the pixels
    index = (Ellipsis,) + (None,) * extra + (slice(None),)
    total = 0
    for k, basis in enumerate(sh9_basis(normals)):
        total = total + (_BAND[k] * basis)[..., None] * coeffs[..., k, :][index]
    return total
