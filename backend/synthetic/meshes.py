"""Mesh helpers both engines build geometry with: a unit sphere, random rotations, and the map
from model units to pixels."""

from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=8)
def icosphere(level: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit icosphere (outward CCW winding); level 4 has 2562 vertices, 5120 triangles."""
    t = (1 + 5**0.5) / 2
    v = np.array(
        [
            [-1, t, 0],
            [1, t, 0],
            [-1, -t, 0],
            [1, -t, 0],
            [0, -1, t],
            [0, 1, t],
            [0, -1, -t],
            [0, 1, -t],
            [t, 0, -1],
            [t, 0, 1],
            [-t, 0, -1],
            [-t, 0, 1],
        ],
        float,
    )
    f = np.array(
        [
            [0, 11, 5],
            [0, 5, 1],
            [0, 1, 7],
            [0, 7, 10],
            [0, 10, 11],
            [1, 5, 9],
            [5, 11, 4],
            [11, 10, 2],
            [10, 7, 6],
            [7, 1, 8],
            [3, 9, 4],
            [3, 4, 2],
            [3, 2, 6],
            [3, 6, 8],
            [3, 8, 9],
            [4, 9, 5],
            [2, 4, 11],
            [6, 2, 10],
            [8, 6, 7],
            [9, 8, 1],
        ]
    )
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    for _ in range(level):
        edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
        uniq, inv = np.unique(edges, axis=0, return_inverse=True)
        mid = v[uniq].mean(1)
        mid /= np.linalg.norm(mid, axis=1, keepdims=True)
        m = inv.reshape(3, -1) + len(v)  # midpoints of edges 01, 12, 20 per face
        v = np.concatenate([v, mid])
        a, b, c = f.T
        f = np.concatenate(
            [
                np.stack(s, 1)
                for s in ([a, m[0], m[2]], [b, m[1], m[0]], [c, m[2], m[1]], [m[0], m[1], m[2]])
            ]
        )
    v.setflags(write=False)
    f.setflags(write=False)
    return v, f


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """Uniformly random 3x3 rotation (normalised Gaussian quaternion)."""
    w, x, y, z = (q := rng.normal(size=4)) / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def fit_to_frame(
    vertices: np.ndarray,
    size: int | tuple[int, int],
    fill: float,
    rng: np.random.Generator | None = None,
    anchor: np.ndarray | None = None,
) -> np.ndarray:
    """Map model-space vertices (y up) to pixel units.

    The xy bounding box of ``anchor`` (default: all vertices) gets its larger side equal to
    ``fill`` times the image side, and is centred, or, with ``rng``, placed uniformly at random
    where it stays inside the frame (for ``fill > 1``, where it cannot, placed so the frame stays
    inside it: a tight crop). z is scaled alike and shifted so the farthest vertex is at 0.
    """
    H, W = (size, size) if np.isscalar(size) else size
    a = vertices if anchor is None else anchor
    lo, hi = a[:, :2].min(0), a[:, :2].max(0)
    scale = fill * min(H, W) / max((hi - lo).max(), 1e-12)
    half = (hi - lo) * scale / 2
    frame = np.array([W, H], float)
    if rng is None:
        centre = frame / 2
    else:
        lo_c, hi_c = np.minimum(half, frame - half), np.maximum(half, frame - half)
        centre = rng.uniform(lo_c, hi_c)
    out = np.empty_like(vertices, dtype=np.float64)
    out[:, :2] = (vertices[:, :2] - (lo + hi) / 2) * scale + centre
    out[:, 2] = (vertices[:, 2] - vertices[:, 2].min()) * scale
    return out
