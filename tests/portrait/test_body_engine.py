"""The portrait engine's upper body (trunk, arms, hands) and body framing, on the tiny fake face
model of test_portrait_engine (no ../shared needed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from photonormals.synthetic.portrait.bank import cached_bank
from photonormals.synthetic.portrait.batches import PortraitBatches
from photonormals.synthetic.portrait.body import body_parts
from photonormals.synthetic.portrait.geometry import BODY_SKIN, NUM_LABELS, TORSO, build_portrait
from photonormals.synthetic.portrait.skin import portrait_albedo
from test_portrait_engine import fake_face_model, tiny_envs

SIZE = 64


@pytest.fixture(scope="module")
def model():
    return fake_face_model()


@pytest.fixture(scope="module")
def bodies(model):
    return [
        build_portrait(np.random.default_rng([11, i]), SIZE, model, framing="body")
        for i in range(6)
    ]


def body_share(sample) -> float:
    return float(np.isin(sample["labels"], (TORSO, BODY_SKIN)).mean())


def test_body_framing_fills_the_frame_with_body_not_face(model, bodies):
    faces = [build_portrait(np.random.default_rng([11, i]), SIZE, model) for i in range(6)]
    body = np.mean([body_share(s) for s in bodies])
    face = np.mean([body_share(s) for s in faces])
    assert body > 0.1 and body > 2 * face, (body, face)
    assert np.mean([s["face"].mean() for s in bodies]) < 0.5 * np.mean(
        [s["face"].mean() for s in faces]
    )


def test_body_normals_are_unit_and_face_the_camera(bodies):
    for s in bodies:
        mask = s["labels"] > 0
        n = s["normals"][mask].astype(np.float64)
        np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1.0, atol=1e-3)
        # Perspective lets a surface seen from above (shoulder tops) tilt a little away from z.
        assert (n[:, 2] >= -0.05).mean() > 0.97
        # and toward the viewer along each pixel's own ray (as batches' view directions)
        rows, cols = np.nonzero(mask)
        x, y = cols + 0.5, SIZE - rows - 0.5
        view = np.stack([s["principal"][0] - x, s["principal"][1] - y, np.full(len(x), s["focal"])])
        view /= np.linalg.norm(view, axis=0)
        assert ((n * view.T).sum(1) >= -0.05).mean() > 0.99


def test_every_part_has_a_canonical_frame_and_hands_are_skin():
    rng = np.random.default_rng(3)
    parts = body_parts(rng, BODY_SKIN, TORSO)
    assert len(parts) == 1 + 2 * (2 + 6)  # trunk, then per arm: two segments, palm, 5 fingers
    for v, t, lab, c in parts:
        assert v.shape == c.shape and len(t) == len(lab) and t.max() < len(v)
        assert set(np.unique(lab)) <= {TORSO, BODY_SKIN}
    assert (parts[0][2] == TORSO).all()  # the trunk is clothing (or bare, painted in `skin`)
    for arm in (parts[1:9], parts[9:17]):
        for _, _, lab, _ in arm[2:]:
            assert (lab == BODY_SKIN).all()  # hands


def test_bare_arms_and_hands_are_painted_as_skin(bodies):
    s = next(s for s in bodies if (s["labels"] == BODY_SKIN).any())
    canon = torch.from_numpy(s["canonical"]).float().permute(2, 0, 1)[None]
    labels = torch.from_numpy(s["labels"].astype(np.int64))[None, None]
    tone = torch.tensor([[0.4, 0.25, 0.18]])
    app = portrait_albedo(canon, labels, torch.Generator().manual_seed(0), skin_tone=tone)
    bare = labels[0, 0] == BODY_SKIN
    torch.testing.assert_close(app["albedo"][0][:, bare], tone.T.expand(-1, int(bare.sum())))
    assert (app["skin"][0, 0][bare] == 1).all()


def test_same_seed_same_body(model, bodies):
    again = build_portrait(np.random.default_rng([11, 2]), SIZE, model, framing="body")
    for k, v in bodies[2].items():
        np.testing.assert_array_equal(np.asarray(v), np.asarray(again[k]), err_msg=k)


# Built with the engine before bodies existed (default_rng([7, i]), 64 px, the fake model):
# label counts, sum of the normals, focal length. Face framing must keep its random draws.
BEFORE_BODIES = [
    ([2447, 1238, 91, 0, 0, 0, 25, 0, 211, 84], 1172.2436, 162.0457),
    ([3098, 918, 67, 0, 0, 0, 13, 0, 0, 0], 692.5906, 280.8224),
    ([2394, 1074, 96, 0, 0, 0, 23, 0, 509, 0], 1097.0920, 199.8999),
]


def test_face_framing_is_unchanged(model):
    for i, (counts, normals, focal) in enumerate(BEFORE_BODIES):
        s = build_portrait(np.random.default_rng([7, i]), SIZE, model)
        assert np.bincount(s["labels"].ravel(), minlength=NUM_LABELS).tolist() == counts + [0]
        assert s["normals"].astype(np.float64).sum() == pytest.approx(normals, abs=2e-3)
        assert float(s["focal"]) == pytest.approx(focal, abs=1e-3)


def test_body_banks_are_cached_apart_and_batch(tmp_path, model):
    bank = cached_bank(2, 32, 1, model, cache_dir=tmp_path, framing="body")
    names = sorted(p.name for p in tmp_path.glob("*.npz"))
    assert len(names) == 1 and names[0].startswith("portraits_body_v")
    face = cached_bank(2, 32, 1, model, cache_dir=tmp_path)
    assert not np.array_equal(face["labels"], bank["labels"])
    assert len(list(tmp_path.glob("portraits_v*_n2_s32_seed1_*.npz"))) == 1  # the old name
    s = PortraitBatches(bank, tiny_envs(), size=16).sample(2, torch.Generator().manual_seed(0))
    assert torch.isfinite(s["image"]).all() and s["mask"].mean() > 0


def test_body_windows_cut_the_frame_and_keep_each_pixels_view(model):
    """A window is the frame's pixels, and the optical axis moves with it: every window pixel
    has the view direction its pixel has in the whole frame."""
    bank = {k: np.stack([v]) for k, v in
            build_portrait(np.random.default_rng([12, 0]), 48, model, framing="body").items()}
    whole = PortraitBatches(bank, tiny_envs(), size=48)
    windows = PortraitBatches(bank, tiny_envs(), size=16, window=True)
    index = torch.zeros(3, dtype=torch.long)
    geo = {k: v[index] for k, v in windows.geo.items() if v.dim() == 4}
    cut, principal = windows._windows(geo, windows.geo["principal"][index],
                                      torch.Generator().manual_seed(1))
    assert cut["normals"].shape == (3, 3, 16, 16)
    assert (cut["coverage"].float() > 0.5).any(dim=(1, 2, 3)).all()  # on the person
    frame_view = whole._view_dirs(whole.geo["focal"][:1], whole.geo["principal"][:1])[0]
    view = windows._view_dirs(windows.geo["focal"][index], principal)
    for b in range(3):
        # find the window in the frame by its normals, then compare the view directions there
        hits = [(y, x) for y in range(33) for x in range(33)
                if torch.equal(whole.geo["normals"][0, :, y:y + 16, x:x + 16], cut["normals"][b])
                and torch.equal(whole.geo["coverage"][0, :, y:y + 16, x:x + 16],
                                cut["coverage"][b])]
        assert hits
        y, x = hits[0]
        torch.testing.assert_close(view[b], frame_view[:, y:y + 16, x:x + 16])
    s = windows.sample(4, torch.Generator().manual_seed(2))
    assert s["image"].shape == (4, 3, 16, 16) and torch.isfinite(s["image"]).all()
    assert (s["mask"].flatten(1).sum(1) > 0).all()
