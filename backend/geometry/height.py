"""Integrate a normal map into a height map (for displacement).

Sign conventions. Normals are in the OpenGL camera frame (x right, y up, z toward the
camera) and the camera is orthographic, so a surface z = f(x, y) has normal proportional to
(-f_x, -f_y, 1): f_x = -nx/nz and f_y = -ny/nz. Image rows grow downward (row = -y), hence
dz/d(row) = +ny/nz. Heights are in pixel units (one pixel step = one unit of x), larger = closer
to the camera, so a normal tilted toward +x means the height falls toward +x.

Slope clamping. At silhouettes nz -> 0 and nx/nz blows up; one such pixel would put a cliff
of arbitrary height into the least-squares solution and tilt everything around it. Clamping nz
from below caps the slope magnitude at ``max_slope`` (about 84 degrees for 10) while keeping the
gradient direction.

Why the mask-restricted Poisson. Integrating across the mask border would chain the object
to whatever the background normals say (usually garbage or a constant). Writing one equation
per pair of 4-neighbours that are both inside the mask (z[j] - z[i] = mean of their two
gradients, i.e. trapezoid integration) makes the object's border a natural Neumann boundary,
and separate mask components become independent problems. The normal equations D^T D z = D^T g
are the graph Laplacian of the mask; it is singular (one constant per component), so one pixel
per component is pinned. Each component's minimum is then moved to 0: components carry no
relative height information, so all of them rest on the same base plane.

The "fft" method is Frankot-Chellappa, i.e. the same least-squares problem on the whole
(periodic) frame solved in Fourier space. The gradients are mirror-extended to 2H x 2W first,
which makes them periodic without a seam, and the Fourier symbols are those of the discrete
trapezoid scheme above, not i*omega, so a tilted plane comes out exact instead of flattened.
"""

from __future__ import annotations

import numpy as np
import pyamg
import scipy.ndimage as ndi
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ..errors import UserError

_METHODS = ("poisson", "fft")
# Systems up to this many unknowns are solved directly.
_DIRECT_SIZE = 4000


def _check_inputs(normals, mask, method, max_slope):
    normals = np.asarray(normals)
    if normals.ndim != 3 or normals.shape[2] != 3:
        raise UserError(f"normal map must have shape (H, W, 3), got {normals.shape}")
    h, w = normals.shape[:2]
    if h < 1 or w < 1:
        raise UserError(f"normal map is empty: shape {normals.shape}")
    if method not in _METHODS:
        raise UserError(f"unknown integration method {method!r}; use one of {', '.join(_METHODS)}")
    if not (np.isfinite(max_slope) and max_slope > 0):
        raise UserError(f"max_slope must be a positive number, got {max_slope}")
    if mask is None:
        mask = np.ones((h, w), bool)
    else:
        mask = np.asarray(mask)
        if mask.shape != (h, w):
            raise UserError(f"mask shape {mask.shape} does not match the normal map's {(h, w)}")
        mask = mask.astype(bool)
    if not mask.any():
        raise UserError("mask is empty: no pixel to integrate")
    normals = normals.astype(np.float64)
    # Only pixels inside the mask matter: background pixels may legitimately be NaN.
    if not np.isfinite(normals[mask]).all():
        raise UserError("normal map has NaN or infinite values inside the mask")
    return normals, mask


def _gradients(normals, max_slope):
    """(p, q) = (dz/dx, dz/d(row)) in pixel units, slope magnitude capped at max_slope."""
    nx, ny, nz = normals[..., 0], normals[..., 1], normals[..., 2]
    t = np.hypot(nx, ny)
    nz = np.maximum(nz, np.maximum(t / max_slope, 1e-12))
    return -nx / nz, ny / nz


def _poisson(p, q, mask, labels):
    h, w = mask.shape
    idx = np.full((h, w), -1, np.int64)
    n = int(mask.sum())
    idx[mask] = np.arange(n)

    # One row of D per 4-neighbour pair inside the mask: horizontal pairs, then vertical.
    hm = mask[:, :-1] & mask[:, 1:]
    vm = mask[:-1, :] & mask[1:, :]
    i0 = np.concatenate([idx[:, :-1][hm], idx[:-1, :][vm]])
    i1 = np.concatenate([idx[:, 1:][hm], idx[1:, :][vm]])
    g = np.concatenate([0.5 * (p[:, :-1] + p[:, 1:])[hm], 0.5 * (q[:-1, :] + q[1:, :])[vm]])
    m = g.size
    rows = np.repeat(np.arange(m), 2)
    cols = np.column_stack([i0, i1]).ravel()
    d = sp.csr_matrix((np.tile([-1.0, 1.0], m), (rows, cols)), shape=(m, n))

    # D^T D is singular (a free constant per component): pin the first pixel of each
    # component at 0 by dropping its column. Pinning, unlike adding eps*I, biases nothing.
    _, first = np.unique(labels[mask], return_index=True)
    free = np.ones(n, bool)
    free[first] = False
    d = d[:, free]
    a = (d.T @ d).tocsr()
    b = d.T @ g
    z = np.zeros(n)
    if a.shape[0]:
        z[free] = _solve_spd(a, b)

    out = np.zeros((h, w))
    out[mask] = z
    return out


def _solve_spd(a, b):
    """Solve the SPD masked-Laplacian system a x = b.

    A direct sparse LU needs ~10 s for a 1.5 MP mask; conjugate gradients preconditioned by
    classical (Ruge-Stuben) algebraic multigrid from pyamg handles any mask shape, islands
    included, in about 3 s per megapixel on two cores (smoothed aggregation took twice as long).
    """
    if a.shape[0] <= _DIRECT_SIZE:
        return spla.spsolve(a.tocsc(), b)
    return pyamg.ruge_stuben_solver(a).solve(b, tol=1e-8, accel="cg", maxiter=200)


def _fft(p, q):
    h, w = p.shape
    # Mirror extension: flipping across a vertical axis negates p and keeps q (and vice versa),
    # so the extended field is the gradient of the mirrored height and is seamlessly periodic.
    pe = np.block([[p, -p[:, ::-1]], [p[::-1, :], -p[::-1, ::-1]]])
    qe = np.block([[q, q[:, ::-1]], [-q[::-1, :], -q[::-1, ::-1]]])
    wx = 2 * np.pi * np.fft.rfftfreq(2 * w)[None, :]
    wy = 2 * np.pi * np.fft.fftfreq(2 * h)[:, None]
    # Symbols of the trapezoid scheme z[j+1] - z[j] = (g[j] + g[j+1]) / 2.
    dx, ax = np.exp(1j * wx) - 1, (1 + np.exp(1j * wx)) / 2
    dy, ay = np.exp(1j * wy) - 1, (1 + np.exp(1j * wy)) / 2
    num = np.conj(dx) * ax * np.fft.rfft2(pe) + np.conj(dy) * ay * np.fft.rfft2(qe)
    den = np.abs(dx) ** 2 + np.abs(dy) ** 2
    den[0, 0] = 1.0  # the mean height is free; num[0, 0] is 0 anyway
    z = np.fft.irfft2(num / den, s=pe.shape)
    return z[:h, :w]


def integrate_normals(
    normals: np.ndarray,
    mask: np.ndarray | None = None,
    method: str = "poisson",
    max_slope: float = 10.0,
) -> np.ndarray:
    """Height map (H, W) float32 in pixel units from a unit normal map; 0 outside the mask.

    "poisson" (default) integrates inside the mask only; use it for objects. "fft" treats the
    whole frame as one surface (gradients outside the mask are taken as 0); use it for full-frame
    relief. Raises UserError for bad shapes, non-finite normals inside the mask, an empty mask
    or an unknown method.
    """
    normals, mask = _check_inputs(normals, mask, method, max_slope)
    p, q = _gradients(normals, max_slope)
    p[~mask] = 0.0
    q[~mask] = 0.0
    if method == "poisson":
        labels, count = ndi.label(mask)  # 4-connectivity, same as the equations
        z = _poisson(p, q, mask, labels)
        mins = ndi.minimum(z, labels, np.arange(1, count + 1))
        z = z - np.concatenate([[0.0], mins])[labels]
    else:
        z = _fft(p, q)
        z = z - z[mask].min()
    z[~mask] = 0.0
    return z.astype(np.float32)


def height_to_png16(height: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, dict]:
    """uint16 image of the height, stretched to [0, 65535] over the mask (0 outside).

    The returned {"min", "max", "units": "pixels"} lets a consumer map the codes back to
    heights: h = min + code / 65535 * (max - min), e.g. to set a displacement strength.
    """
    height = np.asarray(height, dtype=np.float64)
    if height.ndim != 2:
        raise UserError(f"height map must have shape (H, W), got {height.shape}")
    if mask is None:
        mask = np.ones(height.shape, bool)
    else:
        mask = np.asarray(mask)
        if mask.shape != height.shape:
            raise UserError(
                f"mask shape {mask.shape} does not match the height map's {height.shape}"
            )
        mask = mask.astype(bool)
    if not mask.any():
        raise UserError("mask is empty: nothing to encode")
    vals = height[mask]
    if not np.isfinite(vals).all():
        raise UserError("height map has NaN or infinite values inside the mask")
    lo, hi = float(vals.min()), float(vals.max())
    out = np.zeros(height.shape, np.uint16)
    if hi > lo:
        out[mask] = np.round((vals - lo) / (hi - lo) * 65535).astype(np.uint16)
    return out, {"min": lo, "max": hi, "units": "pixels"}


HEIGHT_FILES = ("height.png", "height.exr", "height.json")


def write_height_maps(out_dir, normals: np.ndarray, mask: np.ndarray | None,
                      method: str = "poisson") -> list:
    """Integrate the normals and write HEIGHT_FILES into out_dir: height.png (16-bit, stretched
    over the mask), height.exr (float32 heights in pixels, 0 outside the mask, one channel Y)
    and height.json (the range). Used by the service's `height` job option."""
    import json
    import os
    import tempfile
    from pathlib import Path

    import OpenEXR

    from ..io.images import write_atomic, write_png

    out_dir = Path(out_dir)
    height = integrate_normals(normals, mask, method=method)
    encoded, meta = height_to_png16(height, mask)
    write_png(out_dir / "height.png", encoded)
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    with tempfile.TemporaryDirectory() as scratch:
        exr = os.path.join(scratch, "height.exr")
        with OpenEXR.File(header, {"Y": np.ascontiguousarray(height, np.float32)}) as file:
            file.write(exr)
        write_atomic(out_dir / "height.exr", Path(exr).read_bytes())
    meta.update(method=method, source="normal.npy", mask="mask.png" if mask is not None else None)
    write_atomic(out_dir / "height.json", (json.dumps(meta, indent=2) + "\n").encode())
    return [out_dir / name for name in HEIGHT_FILES]


def integrate_surface(normals: np.ndarray, periodic: bool = False,
                      max_slope: float = 10.0) -> np.ndarray:
    """Zero-mean height (H, W) float32 in pixel units of a whole-frame surface's unit normals.

    The least-squares problem of "fft" above (trapezoid differences between 4-neighbours), but
    in float32 at the frame's own size, so a 4096² material map stays a few hundred MB: with
    ``periodic`` the frame wraps around (the differences across its edges count, the Laplacian
    is diagonal in Fourier space, and the height tiles exactly like its normals); without, the
    edges are free (Neumann) and a DCT-II diagonalises the Laplacian, which is what the mirror
    extension does at four times the size.
    """
    import scipy.fft as sfft

    normals = np.asarray(normals, np.float32)  # float32 throughout: 4096² maps stay small
    if normals.ndim != 3 or normals.shape[2] != 3 or not normals.size:
        raise UserError(f"normal map must have shape (H, W, 3), got {normals.shape}")
    if not np.isfinite(normals).all():
        raise UserError("normal map has NaN or infinite values")
    p, q = _gradients(normals, np.float32(max_slope))
    h, w = p.shape
    if periodic:
        gx = (p + np.roll(p, -1, 1)) / 2  # z[:, j+1] - z[:, j], j+1 wrapping to 0
        gy = (q + np.roll(q, -1, 0)) / 2
        rhs = np.roll(gx, 1, 1) - gx + np.roll(gy, 1, 0) - gy  # D^T g
        ky = 2 - 2 * np.cos(2 * np.pi * np.fft.fftfreq(h)).astype(np.float32)
        kx = 2 - 2 * np.cos(2 * np.pi * np.fft.rfftfreq(w)).astype(np.float32)
        spectrum = sfft.rfft2(rhs, workers=-1)
        eigen = ky[:, None] + kx[None, :]
        eigen[0, 0] = 1.0
        spectrum /= eigen
        spectrum[0, 0] = 0.0
        z = sfft.irfft2(spectrum, s=(h, w), workers=-1)
    else:
        gx = (p[:, :-1] + p[:, 1:]) / 2
        gy = (q[:-1] + q[1:]) / 2
        rhs = np.zeros((h, w), np.float32)
        rhs[:, 1:] += gx
        rhs[:, :-1] -= gx
        rhs[1:] += gy
        rhs[:-1] -= gy
        ky = 2 - 2 * np.cos(np.pi * np.arange(h) / h).astype(np.float32)
        kx = 2 - 2 * np.cos(np.pi * np.arange(w) / w).astype(np.float32)
        spectrum = sfft.dctn(rhs, type=2, norm="ortho", workers=-1)
        eigen = ky[:, None] + kx[None, :]
        eigen[0, 0] = 1.0
        spectrum /= eigen
        spectrum[0, 0] = 0.0
        z = sfft.idctn(spectrum, type=2, norm="ortho", workers=-1)
    # The Laplacian's sign: D^T D z = D^T g with D^T g as built above equals -div g; solving
    # (-Laplacian) z = rhs needs rhs = -div g, which the subtraction order gives.
    return (z - z.mean()).astype(np.float32)
