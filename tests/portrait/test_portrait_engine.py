"""The synthetic portrait engine on a tiny fake face model (an icosphere head; no ../shared)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from photonormals.relight import envmap
from photonormals.synthetic import faces
from photonormals.synthetic.flips import mirror_maps
from photonormals.synthetic.meshes import icosphere
from photonormals.synthetic.portrait.bank import cached_bank
from photonormals.synthetic.portrait.batches import PortraitBatches, env_lookup
from photonormals.synthetic.portrait.geometry import HAIR, TORSO
from photonormals.synthetic.portrait.validation import validation_set

BANK = 32  # bank resolution of the tests


def fake_face_model() -> faces.FaceModel:
    """A 9 cm sphere head around the ICT head centre with eyes and teeth patches, few modes.

    ``sample_expression`` activates up to five groups, so the model needs at least five."""
    v, t = icosphere(3)
    neutral = (v * 9.0 + np.array([0.0, 2.0, 1.5])).astype(np.float32)
    centroid = neutral[t].mean(1)
    labels = np.full(len(t), faces.SKIN, np.int16)
    eyes = (
        (np.abs(np.abs(centroid[:, 0]) - 3.1) < 1.5)
        & (np.abs(centroid[:, 1] - 3.6) < 1.2)
        & (centroid[:, 2] > 6)
    )
    labels[eyes] = faces.EYE
    labels[
        (np.abs(centroid[:, 0]) < 2) & (np.abs(centroid[:, 1] + 3.5) < 1) & (centroid[:, 2] > 6)
    ] = faces.TEETH
    rng = np.random.default_rng(0)
    identity = (rng.normal(size=(2, len(neutral) * 3)) * 0.2).astype(np.float32)
    names = [
        "jawOpen",
        "eyeBlink_L",
        "eyeBlink_R",
        "browInnerUp",
        "cheekPuff",
        "mouthPucker",
        "noseSneer",
    ]
    expression = (rng.normal(size=(len(names), len(neutral) * 3)) * 0.2).astype(np.float32)
    (x0, x1), (y0, y1) = faces.FACE_BOX
    n = neutral
    box = (n[:, 0] > x0) & (n[:, 0] < x1) & (n[:, 1] > y0) & (n[:, 1] < y1) & (n[:, 2] > 3)
    return faces.FaceModel(neutral, identity, expression, names, t, labels, np.flatnonzero(box))


def tiny_envs() -> list[np.ndarray]:
    """A sky (bright above, warm sun patch) and a uniform grey room."""
    rows = np.arange(16)[:, None] + np.zeros((1, 32), int)
    sky = np.where(rows[..., None] < 8, [1.0, 1.0, 1.2], [0.2, 0.15, 0.1]).astype(np.float32)
    sky[3:5, 10:12] = [40.0, 35.0, 30.0]
    return [sky, np.full((16, 32, 3), 0.5, np.float32)]


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    return cached_bank(6, BANK, 3, fake_face_model(), cache_dir=tmp_path_factory.mktemp("cache"))


def test_bank_cache_round_trip(tmp_path):
    model = fake_face_model()
    first = cached_bank(3, BANK, 1, model, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("portraits_v*_n3_s32_seed1_*.npz"))) == 1
    again = cached_bank(3, BANK, 1, model, cache_dir=tmp_path)
    assert first.keys() == again.keys()
    for k in first:
        np.testing.assert_array_equal(first[k], again[k])
    assert first["normals"].shape == (3, BANK, BANK, 3) and first["canonical"].shape == (
        3,
        BANK,
        BANK,
        3,
    )
    mask = first["labels"] > 0
    assert mask.any() and (first["face"] <= mask).all()
    assert set(np.unique(first["labels"])) <= set(range(10))
    assert TORSO in first["labels"] or HAIR in first["labels"]


def test_a_bigger_bank_extends_a_cached_one(tmp_path):
    model = fake_face_model()
    small = cached_bank(2, BANK, 5, model, cache_dir=tmp_path)
    extended = cached_bank(3, BANK, 5, model, cache_dir=tmp_path)
    direct = cached_bank(3, BANK, 5, model, cache_dir=tmp_path / "fresh")
    for k in direct:
        assert extended[k].shape[0] == 3
        np.testing.assert_array_equal(extended[k], direct[k])
        np.testing.assert_array_equal(extended[k][:2], small[k])


def test_sample_shapes_ranges_and_normals(bank):
    batches = PortraitBatches(bank, tiny_envs(), size=16)  # area-downsampled from the bank
    s = batches.sample(4, torch.Generator().manual_seed(0))
    assert set(s) == {"image", "normal", "shading", "albedo", "mask", "face"}
    for k, c in (
        ("image", 3),
        ("normal", 3),
        ("shading", 3),
        ("albedo", 3),
        ("mask", 1),
        ("face", 1),
    ):
        assert s[k].shape == (4, c, 16, 16) and s[k].dtype == torch.float32, k
        assert torch.isfinite(s[k]).all(), k
    assert set(torch.unique(s["mask"]).tolist()) <= {0.0, 1.0}
    assert (s["face"] <= s["mask"]).all()
    assert float(s["image"].min()) >= 0 and float(s["image"].max()) <= 1.0  # decoded 8-bit
    assert float(s["albedo"].min()) >= 0 and float(s["albedo"].max()) <= 1.0
    assert float(s["shading"].min()) >= 0
    inside = s["mask"][:, 0] > 0
    length = s["normal"].norm(dim=1)
    assert torch.allclose(length[inside], torch.ones_like(length[inside]), atol=1e-2)
    assert (length[~inside] == 0).all()
    assert (s["normal"][:, 2][inside] > 0).float().mean() > 0.9  # seen surfaces face the camera


def test_diffuse_only_image_is_albedo_times_shading(bank):
    batches = PortraitBatches(
        bank, tiny_envs(), size=BANK, camera=False, specular=False, subsurface=False, soften=False
    )
    s = batches.sample(3, torch.Generator().manual_seed(1))
    inside = s["mask"].expand(-1, 3, -1, -1) > 0
    assert inside.any()
    torch.testing.assert_close(
        s["image"][inside], (s["albedo"] * s["shading"])[inside], rtol=1e-4, atol=1e-6
    )
    # With specular on, the image only gains light.
    spec = PortraitBatches(
        bank, tiny_envs(), size=BANK, camera=False, subsurface=False, soften=False
    )
    t = spec.sample(3, torch.Generator().manual_seed(1))
    assert ((t["image"] - t["albedo"] * t["shading"])[inside] >= -1e-5).all()


def test_determinism_with_a_fixed_generator(bank):
    batches = PortraitBatches(bank, tiny_envs(), size=BANK)
    a = batches.sample(3, torch.Generator().manual_seed(5))
    b = batches.sample(3, torch.Generator().manual_seed(5))
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_hflip_negates_normal_x_and_mirrors(bank):
    s = PortraitBatches(bank, tiny_envs(), size=BANK).sample(2, torch.Generator().manual_seed(2))
    f = mirror_maps(s)
    assert torch.equal(f["image"], torch.flip(s["image"], [-1]))
    assert torch.equal(f["mask"], torch.flip(s["mask"], [-1]))
    assert torch.equal(f["normal"][:, 0], -torch.flip(s["normal"][:, 0], [-1]))
    assert torch.equal(f["normal"][:, 1:], torch.flip(s["normal"][:, 1:], [-1]))


def test_backplate_lookup_matches_envmap_convention():
    env = np.random.default_rng(0).random((16, 32, 3)).astype(np.float32)
    dirs = np.random.default_rng(1).normal(size=(1, 4, 5, 3)).astype(np.float32)
    dirs /= np.linalg.norm(dirs, axis=-1, keepdims=True)
    for rotation in (0.0, 50.0):
        ours = (
            env_lookup(
                torch.from_numpy(env).permute(2, 0, 1)[None],
                torch.from_numpy(dirs).permute(0, 3, 1, 2),
                torch.tensor([rotation]),
            )[0]
            .permute(1, 2, 0)
            .numpy()
        )
        # envmap.sample goes through cv2.remap, whose bilinear weights are quantised to 1/32.
        np.testing.assert_allclose(ours, envmap.sample(env, dirs[0], rotation), atol=0.03)


def test_validation_set_is_cached_and_seeded(tmp_path):
    kwargs = {
        "count": 2,
        "size": 16,
        "seed": 4,
        "faces": fake_face_model(),
        "envs": tiny_envs(),
        "cache_dir": tmp_path,
    }
    a = validation_set(**kwargs)
    b = validation_set(**kwargs)
    assert a["image"].shape == (2, 3, 16, 16) and a["mask"].shape == (2, 1, 16, 16)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_bystanders_change_only_the_background(bank, monkeypatch):
    from photonormals.synthetic.portrait import batches as portrait_batches

    batches = PortraitBatches(bank, tiny_envs(), size=BANK, camera=False)
    bg = torch.full((4, 3, BANK, BANK), 0.3)
    coeffs = torch.zeros(4, 9, 3)
    coeffs[:, 0] = 3.0
    monkeypatch.setattr(portrait_batches, "BYSTANDER_SHARE", 1.0)
    crowded = batches._bystanders(bg, torch.Generator().manual_seed(0), coeffs)
    changed = (crowded != bg).any(1)
    assert changed.flatten(1).any(1).all(), "every sample gets someone behind"
    # Smaller and off to one side: the bystander never fills the frame.
    assert (changed.flatten(1).float().mean(1) < 0.6).all()
    monkeypatch.setattr(portrait_batches, "BYSTANDER_SHARE", 0.0)
    assert torch.equal(batches._bystanders(bg, torch.Generator().manual_seed(0), coeffs), bg)


def test_soft_focus_blurs_the_photo_not_the_truth(bank, monkeypatch):
    from photonormals.synthetic.portrait import batches as portrait_batches

    batches = PortraitBatches(bank, tiny_envs(), size=BANK, camera=False)
    monkeypatch.setattr(portrait_batches, "SOFT_SIGMA", (4.0, 4.0))  # 1 px at the tests' 32^2
    draws = {}
    for share in (0.0, 1.0):  # the same draw, sharp and softened
        monkeypatch.setattr(portrait_batches, "SOFT_SHARE", share)
        draws[share] = batches.sample(3, torch.Generator().manual_seed(4))
    sharp, soft = draws[0.0], draws[1.0]
    for k in ("normal", "shading", "albedo", "mask", "face"):
        assert torch.equal(sharp[k], soft[k]), k

    def detail(x):
        return (x[..., 1:, :] - x[..., :-1, :]).abs().mean((1, 2, 3)) + (
            x[..., 1:] - x[..., :-1]
        ).abs().mean((1, 2, 3))

    assert (detail(soft["image"]) < 0.7 * detail(sharp["image"])).all()
    torch.testing.assert_close(
        soft["image"].mean((2, 3)), sharp["image"].mean((2, 3)), rtol=0.05, atol=1e-3
    )


def test_suits_are_dark_with_a_light_shirt_opening():
    from photonormals.synthetic.portrait.skin import _suit

    y, x = torch.meshgrid(torch.linspace(15, -15, 64), torch.linspace(-20, 20, 64), indexing="ij")
    c = torch.stack([x, y, torch.ones_like(x)])[None].expand(8, -1, -1, -1)
    suit = _suit(8, c, torch.Generator().manual_seed(0))
    jacket = suit[:, :, -1, 0]  # bottom corner: jacket everywhere
    neck = suit[:, :, 0, 32]  # top centre: shirt or tie
    assert (jacket.mean(1) < 0.06).all()  # below sRGB ~0.27
    assert (neck.mean(1) > jacket.mean(1)).float().mean() >= 0.5


def test_a_view_turn_moves_the_head_off_axis_and_turns_its_normals():
    """Benchmarks see faces off the optical axis: the same face, the scene turned about the
    camera. The crop still frames the face; its normals are turned with it, and the principal
    point (the axis) moves out to the side the head moved away from."""
    from photonormals.inference.camera import turn_to_ray
    from photonormals.synthetic.portrait.geometry import build_portrait

    model = fake_face_model()
    turn = turn_to_ray([np.sin(np.radians(25)), 0.0, -np.cos(np.radians(25))])  # head to the right
    plain = build_portrait(np.random.default_rng([5, 0]), 64, model)
    turned = build_portrait(np.random.default_rng([5, 0]), 64, model, view_turn=turn)
    assert turned["face"].sum() > 0.5 * plain["face"].sum()  # still framed
    mean = {
        k: b["normals"][b["face"]].astype(np.float64).mean(0)
        for k, b in (("plain", plain), ("turned", turned))
    }
    back = turn.T @ mean["turned"]
    cosine = back @ mean["plain"] / np.linalg.norm(back) / np.linalg.norm(mean["plain"])
    assert np.degrees(np.arccos(min(cosine, 1.0))) < 5  # the face's normals turned by 25 deg
    assert turned["principal"][0] < plain["principal"][0] - 0.3 * 64  # the axis is off to the left
