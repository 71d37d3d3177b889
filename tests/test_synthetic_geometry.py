"""Geometry buffers for the synthetic photometric-stereo engine; nothing here needs ../shared."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from photonormals.synthetic import faces, geometry_bank, shapes
from photonormals.synthetic.rasterize import rasterize_mesh

FACES_NPZ = (
    Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "faces" / "ict_facekit.npz"
)


def _sphere(size: int, radius: float, level: int = 5):
    d, f = shapes.icosphere(level)
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


@pytest.mark.parametrize("name", sorted(shapes.FAMILIES))
def test_families_give_unit_camera_facing_normals(name):
    for seed in range(3):
        b = shapes.FAMILIES[name](np.random.default_rng(seed), 64)
        n = b.normals[b.mask]
        assert b.normals.shape == (64, 64, 3) and b.normals.dtype == np.float32
        assert 0.05 < b.mask.mean() <= 1.0
        assert np.allclose(np.linalg.norm(n, axis=-1), 1, atol=1e-4)
        assert (n[:, 2] >= -0.05).mean() > 0.99
        assert not b.normals[~b.mask].any() and (b.depth[b.mask] >= 0).all()


def test_families_are_deterministic_and_varied():
    a = shapes.sculpture(np.random.default_rng(5), 48)
    b = shapes.sculpture(np.random.default_rng(5), 48)
    c = shapes.sculpture(np.random.default_rng(6), 48)
    assert np.array_equal(a.normals, b.normals) and not np.array_equal(a.normals, c.normals)


def test_relief_normals_follow_height_gradient():
    for seed in range(4):
        b = shapes.relief(np.random.default_rng(seed), 64)
        gr, gc = np.gradient(b.depth.astype(np.float64))
        ref = np.stack([-gc, gr, np.ones_like(gr)], -1)  # dz/dx = dh/dcol, dz/dy = -dh/drow
        ref /= np.linalg.norm(ref, axis=-1, keepdims=True)
        inner = b.mask.copy()
        for axis in (0, 1):  # away from the mask edge, where depth drops to 0
            inner &= np.roll(b.mask, 1, axis) & np.roll(b.mask, -1, axis)
        inner[[0, -1], :] = inner[:, [0, -1]] = False
        assert _angle_deg(b.normals[inner], ref[inner]).max() < 0.5
        slope = np.degrees(np.arccos(b.normals[b.mask][:, 2]))
        assert 20 < np.percentile(slope, 99) < 80


def test_bank_deterministic_and_round_trip(tmp_path):
    mix = {"blobby": 1, "sculpture": 1, "relief": 1, "face": 5}  # no faces file: face share dropped
    a = geometry_bank.build_bank(6, 32, seed=3, mix=mix)
    b = geometry_bank.build_bank(6, 32, seed=3, mix=mix)
    assert a["normals"].shape == (6, 32, 32, 3) and a["normals"].dtype == np.float16
    assert (
        a["depth"].dtype == np.float16 and a["mask"].dtype == bool and a["kind"].dtype == np.uint8
    )
    assert geometry_bank.KINDS.index("face") not in a["kind"]
    for k in a:
        assert np.array_equal(a[k], b[k])
    path = tmp_path / "bank.npz"
    geometry_bank.save_bank(path, a)
    loaded = geometry_bank.load_bank(path)
    assert set(loaded) == set(a) and all(np.array_equal(a[k], loaded[k]) for k in a)

    first = geometry_bank.cached_bank(tmp_path, 4, 32, seed=1, mix=mix)
    files = list(tmp_path.glob("geometry_v*.npz"))
    assert len(files) == 1 and f"v{geometry_bank.VERSION}_" in files[0].name
    again = geometry_bank.cached_bank(tmp_path, 4, 32, seed=1, mix=mix)
    assert all(np.array_equal(first[k], again[k]) for k in first)


@pytest.mark.skipif(not FACES_NPZ.is_file(), reason="ICT-FaceKit model not in ../shared")
def test_face_sample_rasterises_with_labels():
    model = faces.FaceModel.load(FACES_NPZ)
    v, tris, labels = model.sample(np.random.default_rng(0))
    assert tris.shape[1] == 3 and len(labels) == len(tris) and tris.max() < len(v)
    pix = faces.frame_face(v, model.face_vertices, 96, margin=0.1)  # centred, frontal-ish
    b = rasterize_mesh(pix, tris, (96, 96), labels=labels)
    assert 0.3 < b.mask.mean() < 0.95
    present = set(np.unique(b.labels[b.mask]))
    assert {faces.SKIN, faces.EYE} <= present and faces.BACKGROUND not in present
    assert (b.normals[b.mask][:, 2] >= -0.05).mean() > 0.99
    # Upright: the top of the face (forehead) is above the chin, i.e. at smaller rows.
    rows = np.nonzero(b.labels == faces.EYE)[0]
    assert rows.mean() < 96 * 0.6
    buf = faces.face(np.random.default_rng(1), 64, model)
    assert buf.labels is not None and buf.mask.any()
