"""The multi-light engine's geometry: shape families, faces and the cached bank."""

from __future__ import annotations

import numpy as np
import pytest
from photonormals.synthetic import faces
from photonormals.synthetic.multilight import bank, geometry
from photonormals.synthetic.rasterize import rasterize_mesh

FACES_NPZ = faces.DEFAULT_PATH


def _angle_deg(a, b):
    return np.degrees(np.arccos(np.clip(np.sum(a * b, -1), -1, 1)))


@pytest.mark.parametrize("name", sorted(geometry.FAMILIES))
def test_families_give_unit_camera_facing_normals(name):
    for seed in range(3):
        b = geometry.FAMILIES[name](np.random.default_rng(seed), 64)
        n = b.normals[b.mask]
        assert b.normals.shape == (64, 64, 3) and b.normals.dtype == np.float32
        assert 0.05 < b.mask.mean() <= 1.0
        assert np.allclose(np.linalg.norm(n, axis=-1), 1, atol=1e-4)
        assert (n[:, 2] >= -0.05).mean() > 0.99
        assert not b.normals[~b.mask].any() and (b.depth[b.mask] >= 0).all()


def test_families_are_deterministic_and_varied():
    a = geometry.sculpture(np.random.default_rng(5), 48)
    b = geometry.sculpture(np.random.default_rng(5), 48)
    c = geometry.sculpture(np.random.default_rng(6), 48)
    assert np.array_equal(a.normals, b.normals) and not np.array_equal(a.normals, c.normals)


def test_relief_normals_follow_height_gradient():
    for seed in range(4):
        b = geometry.relief(np.random.default_rng(seed), 64)
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
    a = bank.build_bank(6, 32, seed=3, mix=mix)
    b = bank.build_bank(6, 32, seed=3, mix=mix)
    assert a["normals"].shape == (6, 32, 32, 3) and a["normals"].dtype == np.float16
    assert (
        a["depth"].dtype == np.float16 and a["mask"].dtype == bool and a["kind"].dtype == np.uint8
    )
    assert bank.KINDS.index("face") not in a["kind"]
    for k in a:
        assert np.array_equal(a[k], b[k])

    first = bank.cached_bank(4, 32, seed=1, mix=mix, cache_dir=tmp_path)
    files = list(tmp_path.glob("geometry_v*.npz"))
    assert len(files) == 1 and f"v{bank.VERSION}_" in files[0].name
    again = bank.cached_bank(4, 32, seed=1, mix=mix, cache_dir=tmp_path)
    assert all(np.array_equal(first[k], again[k]) for k in first)


@pytest.mark.skipif(not FACES_NPZ.is_file(), reason="ICT-FaceKit model not in ../shared")
def test_face_sample_rasterises_with_labels():
    model = faces.FaceModel.load(FACES_NPZ)
    v, tris, labels = model.sample(np.random.default_rng(0))
    assert tris.shape[1] == 3 and len(labels) == len(tris) and tris.max() < len(v)
    pix = geometry.frame_face(v, model.face_vertices, 96, margin=0.1)  # centred, frontal-ish
    b = rasterize_mesh(pix, tris, (96, 96), labels=labels)
    assert 0.3 < b.mask.mean() < 0.95
    present = set(np.unique(b.labels[b.mask]))
    assert {faces.SKIN, faces.EYE} <= present and faces.BACKGROUND not in present
    assert (b.normals[b.mask][:, 2] >= -0.05).mean() > 0.99
    # Upright: the top of the face (forehead) is above the chin, i.e. at smaller rows.
    rows = np.nonzero(b.labels == faces.EYE)[0]
    assert rows.mean() < 96 * 0.6
    buf = geometry.face(np.random.default_rng(1), 64, model)
    assert buf.labels is not None and buf.mask.any()
