"""Orthographic z-buffer rasteriser producing per-pixel geometry buffers.

Conventions (shared by every module in this package):

* Vertices are given in *pixel units of the camera frame*: x right, y up, z toward the camera.
  Pixel ``(row, col)`` of an ``(H, W)`` image covers ``x in [col, col+1]`` and
  ``y in [H-row-1, H-row]``; its centre, where coverage and attributes are sampled, is
  ``x = col + 0.5``, ``y = H - row - 0.5``. So ``row = H - y`` at pixel edges and a mesh
  spanning ``[0, W] x [0, H]`` fills the frame exactly.
* ``depth`` is the surface z (height toward the camera, in pixels) of the nearest surface; it is
  *not* re-based here: shape generators shift their meshes so that z >= 0.

Design: only pixel centres are tested, with exact edge functions, so adjacent triangles never
leave cracks (a shared edge gives bit-identical, negated edge values in both triangles and a
centre exactly on it is taken by both), and a tessellated surface has no holes however small its
triangles are: every centre lies in *some* triangle even if most triangles cover none. Triangles
are binned by bounding-box size (rounded up to powers of two) so each bin is one vectorised
numpy block; the nearest fragment per pixel is found by one sort. Rendering is two-sided: the
interpolated normal is flipped to the camera's side of the winning triangle, so open meshes seen
from behind (a face mask's inside, a torn shell) still get camera-facing normals, and the winding
of a mesh does not matter for orientation (it does matter for the area-weighted vertex normals,
which assume a consistently wound mesh).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_MAX_BLOCK = 1 << 22  # candidate pixels evaluated per numpy block (bounds peak memory)


@dataclass
class GeometryBuffers:
    """Per-pixel geometry of one view; everything is zero / False outside ``mask``."""

    normals: np.ndarray  # (H, W, 3) float32, unit camera-frame normals
    depth: np.ndarray  # (H, W) float32, height toward the camera in pixels
    mask: np.ndarray  # (H, W) bool
    labels: np.ndarray | None = None  # (H, W) int16, 0 outside the mask
    attributes: np.ndarray | None = None  # (H, W, C) float32 interpolated per-vertex values


def vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals (sum of un-normalised face normals), unit length."""
    v = np.asarray(vertices, np.float64)
    t = np.asarray(triangles, np.int64)
    fn = np.cross(v[t[:, 1]] - v[t[:, 0]], v[t[:, 2]] - v[t[:, 0]])
    n = np.zeros_like(v)
    for corner in range(3):
        for c in range(3):
            n[:, c] += np.bincount(t[:, corner], weights=fn[:, c], minlength=len(v))
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-20)


def _edges(x, y, px, py):
    """Edge functions e_i (twice the signed area of the sub-triangle opposite vertex i)."""
    e0 = (x[:, 1] - px) * (y[:, 2] - py) - (x[:, 2] - px) * (y[:, 1] - py)
    e1 = (x[:, 2] - px) * (y[:, 0] - py) - (x[:, 0] - px) * (y[:, 2] - py)
    e2 = (x[:, 0] - px) * (y[:, 1] - py) - (x[:, 1] - px) * (y[:, 0] - py)
    return e0, e1, e2


def rasterize_mesh(
    vertices: np.ndarray,
    triangles: np.ndarray,
    size: tuple[int, int],
    vertex_normals: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    attributes: np.ndarray | None = None,
) -> GeometryBuffers:
    """Rasterise a triangle mesh (pixel-unit camera-frame vertices) into ``size = (H, W)``.

    ``attributes`` (V, C), if given, are interpolated barycentrically (in screen space) into
    ``GeometryBuffers.attributes`` (H, W, C), e.g. canonical positions or true camera-space
    normals of a perspective projection.
    """
    H, W = int(size[0]), int(size[1])
    v = np.asarray(vertices, np.float64)
    tri = np.asarray(triangles, np.int64).reshape(-1, 3)
    vn = (
        _vertex_normals(v, tri)
        if vertex_normals is None
        else np.asarray(vertex_normals, np.float64)
    )
    x, y, z = v[tri, 0], v[tri, 1], v[tri, 2]  # (F, 3) each
    area2 = (x[:, 1] - x[:, 0]) * (y[:, 2] - y[:, 0]) - (x[:, 2] - x[:, 0]) * (y[:, 1] - y[:, 0])
    # Range of pixel centres inside each bounding box (x = col + .5, y = H - row - .5).
    c0 = np.maximum(np.ceil(x.min(1) - 0.5), 0).astype(np.int64)
    c1 = np.minimum(np.floor(x.max(1) - 0.5), W - 1).astype(np.int64)
    r0 = np.maximum(np.ceil(H - 0.5 - y.max(1)), 0).astype(np.int64)
    r1 = np.minimum(np.floor(H - 0.5 - y.min(1)), H - 1).astype(np.int64)
    live = np.nonzero((area2 != 0) & (c1 >= c0) & (r1 >= r0) & np.isfinite(area2))[0]
    bw = c1[live] - c0[live] + 1
    bh = r1[live] - r0[live] + 1
    bin_w = 1 << np.ceil(np.log2(bw)).astype(np.int64)
    bin_h = 1 << np.ceil(np.log2(bh)).astype(np.int64)
    key = bin_h * 65536 + bin_w
    order = np.argsort(key, kind="stable")
    live, key = live[order], key[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    ends = np.r_[starts[1:], len(key)]

    frag_pix, frag_z, frag_tri = [], [], []
    for s, e in zip(starts, ends, strict=True):
        gh, gw = int(key[s] // 65536), int(key[s] % 65536)
        step = max(1, _MAX_BLOCK // (gh * gw))
        oy, ox = np.divmod(np.arange(gh * gw), gw)
        for b in range(s, e, step):
            t = live[b : min(b + step, e)]
            rows = r0[t, None] + oy[None]
            cols = c0[t, None] + ox[None]
            ok = (rows <= r1[t, None]) & (cols <= c1[t, None])
            ti, k = np.nonzero(ok)
            tt, rr, cc = t[ti], rows[ti, k], cols[ti, k]
            e0, e1, e2 = _edges(x[tt], y[tt], cc + 0.5, H - 0.5 - rr)
            sgn = np.sign(area2[tt])
            inside = (e0 * sgn >= 0) & (e1 * sgn >= 0) & (e2 * sgn >= 0)
            tt, rr, cc = tt[inside], rr[inside], cc[inside]
            a = area2[tt]
            zz = (e0[inside] * z[tt, 0] + e1[inside] * z[tt, 1] + e2[inside] * z[tt, 2]) / a
            frag_pix.append(rr * W + cc)
            frag_z.append(zz)
            frag_tri.append(tt)

    normals = np.zeros((H, W, 3), np.float32)
    depth = np.zeros((H, W), np.float32)
    mask = np.zeros((H, W), bool)
    label_img = None if labels is None else np.zeros((H, W), np.int16)
    attr_img = None
    if attributes is not None:
        attributes = np.asarray(attributes, np.float64).reshape(len(v), -1)
        attr_img = np.zeros((H, W, attributes.shape[1]), np.float32)
    if not frag_pix:
        return GeometryBuffers(normals, depth, mask, label_img, attr_img)
    pix = np.concatenate(frag_pix)
    fz = np.concatenate(frag_z)
    ftri = np.concatenate(frag_tri)
    srt = np.lexsort((-fz, pix))  # per pixel, nearest (largest z) first
    pix, fz, ftri = pix[srt], fz[srt], ftri[srt]
    first = np.r_[True, pix[1:] != pix[:-1]]
    pix, fz, t = pix[first], fz[first], ftri[first]

    # Attributes of the winners only: barycentrics recomputed at their pixel centres.
    rr, cc = np.divmod(pix, W)
    e0, e1, e2 = _edges(x[t], y[t], cc + 0.5, H - 0.5 - rr)
    bary = np.stack([e0, e1, e2], 1) / area2[t, None]
    n = np.einsum("pk,pkc->pc", bary, vn[tri[t]])
    p0, p1, p2 = v[tri[t, 0]], v[tri[t, 1]], v[tri[t, 2]]
    geo = np.cross(p1 - p0, p2 - p0)
    geo *= np.where(geo[:, 2:3] < 0, -1.0, 1.0)  # geometric normal on the camera's side
    n = np.where(np.sum(n * geo, 1, keepdims=True) < 0, -n, n)
    length = np.linalg.norm(n, axis=1, keepdims=True)
    geo /= np.linalg.norm(geo, axis=1, keepdims=True)
    n = np.where(length > 1e-8, n / np.maximum(length, 1e-12), geo)

    normals.reshape(-1, 3)[pix] = n
    depth.reshape(-1)[pix] = fz
    mask.reshape(-1)[pix] = True
    if label_img is not None:
        label_img.reshape(-1)[pix] = np.asarray(labels)[t]
    if attr_img is not None:
        attr_img.reshape(-1, attr_img.shape[2])[pix] = np.einsum(
            "pk,pkc->pc", bary, attributes[tri[t]]
        )
    return GeometryBuffers(normals, depth, mask, label_img, attr_img)


_vertex_normals = vertex_normals  # the argument name shadows the function inside rasterize_mesh
