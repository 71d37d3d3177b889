"""Rasterised geometry buffers, both engines' first step: orientation, coverage, depth order."""

from __future__ import annotations

import numpy as np
import pytest
from photonormals.synthetic.meshes import icosphere
from photonormals.synthetic.rasterize import rasterize_mesh


def _sphere(size: int, radius: float, level: int = 5):
    d, f = icosphere(level)
    centre = np.array([size / 2, size / 2, radius])
    return d * radius + centre, f


def _analytic(size: int, radius: float):
    rows, cols = np.mgrid[0:size, 0:size] + 0.5
    x, y = (cols - size / 2) / radius, (size - rows - size / 2) / radius  # y up: row 0 on top
    r2 = x**2 + y**2
    return np.stack([x, y, np.sqrt(np.clip(1 - r2, 0, None))], -1), r2


def _angle_deg(a, b):
    return np.degrees(np.arccos(np.clip(np.sum(a * b, -1), -1, 1)))


def test_sphere_normals_orientation_and_area():
    size, radius = 96, 40.0
    v, f = _sphere(size, radius)
    b = rasterize_mesh(v, f, (size, size))
    ref, r2 = _analytic(size, radius)
    inner = b.mask & (r2 < 0.9)
    assert _angle_deg(b.normals[inner], ref[inner]).max() < 2.0
    assert abs(b.mask.sum() / (np.pi * radius**2) - 1) < 0.02
    # Right side n_x > 0, top rows n_y > 0, facing the camera, depth = height toward it.
    assert b.normals[size // 2, size // 2 + 30, 0] > 0.5
    assert b.normals[size // 2 - 30, size // 2, 1] > 0.5
    assert (b.normals[b.mask][:, 2] > -0.05).all()
    assert b.depth[size // 2, size // 2] == pytest.approx(2 * radius, abs=0.5)
    assert np.allclose(np.linalg.norm(b.normals[b.mask], axis=-1), 1, atol=1e-5)
    assert not b.normals[~b.mask].any() and not b.depth[~b.mask].any()


def test_winding_does_not_change_orientation():
    size, radius = 48, 20.0
    v, f = _sphere(size, radius, level=4)
    a = rasterize_mesh(v, f, (size, size))
    b = rasterize_mesh(v, f[:, ::-1], (size, size))  # inward winding: inward vertex normals
    assert np.allclose(a.normals, b.normals, atol=1e-5)


def test_no_holes_with_sub_pixel_triangles():
    rng = np.random.default_rng(0)
    n = 150  # 150 x 150 vertex grid over 40 x 40 px: triangles of ~0.07 px^2, jittered
    gx, gy = np.meshgrid(np.linspace(4, 44, n), np.linspace(4, 44, n))
    jitter = rng.uniform(-0.08, 0.08, (2, n, n))
    jitter[:, [0, -1], :] = 0
    jitter[:, :, [0, -1]] = 0
    v = np.stack([gx + jitter[0], gy + jitter[1], np.sin(gx / 5) + 3], -1).reshape(-1, 3)
    i, j = np.meshgrid(np.arange(n - 1), np.arange(n - 1), indexing="ij")
    a, b, c, d = i * n + j, i * n + j + 1, (i + 1) * n + j + 1, (i + 1) * n + j
    f = np.concatenate([np.stack([a, b, c], -1), np.stack([a, c, d], -1)]).reshape(-1, 3)
    buf = rasterize_mesh(v, f, (48, 48))
    # Pixel centres 4.5 .. 43.5 in x and y are all inside the square [4, 44]^2.
    assert buf.mask[4:44, 4:44].all() and buf.mask.sum() == 40 * 40


def test_nearer_mesh_wins_and_labels():
    size = 64
    v1, f1 = _sphere(size, 20.0, level=4)
    v2 = v1 + np.array([10.0, 0.0, 15.0])  # shifted right and toward the camera
    v = np.concatenate([v1, v2])
    f = np.concatenate([f1, f1 + len(v1)])
    labels = np.r_[np.full(len(f1), 1), np.full(len(f1), 2)].astype(np.int16)
    b = rasterize_mesh(v, f, (size, size), labels=labels)
    r, c = size // 2, size // 2 + 10  # centre of the near sphere
    assert b.labels[r, c] == 2 and b.depth[r, c] == pytest.approx(55, abs=0.5)
    assert b.labels[r, size // 2 - 18] == 1  # far sphere's left edge is not covered
    assert b.labels[0, 0] == 0 and b.labels.dtype == np.int16
    # Same scene with the draw order swapped: identical result.
    swapped = rasterize_mesh(
        v, np.concatenate([f1 + len(v1), f1]), (size, size), labels=labels[::-1]
    )
    assert (swapped.labels == b.labels).all() and np.allclose(swapped.depth, b.depth)
