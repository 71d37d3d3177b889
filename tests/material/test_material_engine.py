"""The material engine: its samples' shapes and ranges, reproducibility, the physics tying the
photo to its maps, and the restraint it teaches (colour without relief)."""

import numpy as np
import pytest
import torch
from photonormals.geometry.height import integrate_surface
from photonormals.synthetic.material.batches import KEYS, MaterialBatches
from photonormals.synthetic.material.geometry import FAMILIES, normals_from_height, relief
from photonormals.synthetic.material.lighting import LIGHT_KINDS
from photonormals.synthetic.material.validation import render_set, validation_set


@pytest.fixture(scope="module")
def engine():
    return MaterialBatches(size=48)  # no HDRIs: the random-sky fallback


def test_a_sample_has_every_map_in_range(engine):
    s = engine.sample(6, torch.Generator().manual_seed(0))
    assert set(s) == set(KEYS)
    assert s["image"].shape == s["albedo"].shape == s["shading"].shape == (6, 3, 48, 48)
    assert s["height"].shape == s["roughness"].shape == (6, 1, 48, 48)
    assert torch.allclose(s["normal"].norm(dim=1), torch.ones(6, 48, 48), atol=1e-4)
    assert (s["normal"][:, 2] > 0).all()  # a surface faces the camera
    assert s["image"].min() >= 0 and s["image"].max() <= 1  # 8-bit codes, decoded
    assert s["albedo"].min() >= 0.02 and s["albedo"].max() <= 0.95
    assert s["roughness"].min() >= 0.1 and s["roughness"].max() <= 1
    assert (s["shading"] >= 0).all() and torch.isfinite(s["shading"]).all()
    assert s["family"].dtype == torch.long and s["family"].max() < len(FAMILIES)
    assert s["light"].dtype == torch.long and s["light"].shape == (6,)
    assert s["light"].min() >= 0 and s["light"].max() < len(LIGHT_KINDS)


def test_samples_are_reproducible_from_the_seed(engine):
    a = engine.sample(3, torch.Generator().manual_seed(5))
    b = engine.sample(3, torch.Generator().manual_seed(5))
    c = engine.sample(3, torch.Generator().manual_seed(6))
    assert all(torch.equal(a[k], b[k]) for k in KEYS)
    assert not torch.equal(a["height"], c["height"])


@pytest.mark.parametrize("family", FAMILIES)
def test_normals_are_the_heights_slopes(family):
    """Integrating the true normals gives back the true height (the convention the height map,
    the Normal Map node and the loss all share: x right, y up, heights toward the camera)."""
    r = relief(family, 2, 64, 64, torch.Generator().manual_seed(1))
    normals = normals_from_height(r.height)
    for b in range(2):
        truth = r.height[b, 0].numpy()
        got = integrate_surface(normals[b].permute(1, 2, 0).numpy())
        spread = max(truth.std(), 1e-3)
        assert np.sqrt(((got - (truth - truth.mean())) ** 2).mean()) < 0.25 * spread + 0.05


def test_the_flat_family_has_colour_but_no_relief(engine):
    s = engine.sample(8, torch.Generator().manual_seed(2), family="flat")
    tilt = torch.rad2deg(torch.acos(s["normal"][:, 2].clamp(max=1)))
    assert tilt.mean() < 2.0  # nearly flat...
    grey = s["albedo"].mean(1)
    assert (grey.std((1, 2)) / grey.mean((1, 2))).mean() > 0.1  # ...under a varied colour


def test_the_photo_is_albedo_times_shading_plus_gloss():
    engine = MaterialBatches(size=40, camera=False)
    s = engine.sample(4, torch.Generator().manual_seed(3))
    diffuse = s["albedo"] * s["shading"]
    # lens blur moves light between neighbours, gloss only adds: compare frame means
    ratio = s["image"].mean((2, 3)) / diffuse.mean((2, 3))
    assert (ratio > 0.97).all() and (ratio < 3.0).all()


def test_validation_set_covers_every_family_and_is_cached(tmp_path):
    data = validation_set(count=1, size=32, seed=0, cache_dir=tmp_path)
    assert list(data["family"]) == list(range(len(FAMILIES)))
    assert data["image"].dtype == np.float16 and data["shading"].shape[1] == 1
    assert len(list(tmp_path.glob("val_materials_*.npz"))) == 1
    again = validation_set(count=1, size=32, seed=0, cache_dir=tmp_path)
    assert np.array_equal(again["height"], data["height"])
    other = render_set(1, 32, seed=1, families=("bricks",))
    assert not np.array_equal(other["height"][0], data["height"][0])


def test_lamp_sets_light_the_same_surface_from_the_given_side(engine):
    g = torch.Generator().manual_seed(4)
    maps = engine.surfaces(2, g, family="cobbles")
    lamps = torch.tensor([[[0.8, 0.0, 0.6], [-0.8, 0.0, 0.6]]] * 2)
    photos = engine.lamp_sets(maps, lamps, g)
    assert photos.shape == (2, 2, 3, 48, 48) and (photos >= 0).all()
    # facets turned toward +x are brighter under the lamp on the +x side than under the other
    east = maps["normal"][:, 0] > 0.2
    grey = photos.mean(2)
    assert (grey[:, 0][east] > grey[:, 1][east]).float().mean() > 0.8


def test_light_from_above_lights_upward_slopes():
    """``light_up=1``: every sample lit from the image's upper side, so the diffuse shading rises
    with the normal's y (up) on every sample; by default the light's side is anyone's guess."""
    up = MaterialBatches(size=64, light_up=1.0)
    s = up.sample(8, torch.Generator().manual_seed(5), family="cobbles")
    shade = s["shading"].mean(1).flatten(1)
    ny = s["normal"][:, 1].flatten(1)
    shade, ny = shade - shade.mean(1, keepdim=True), ny - ny.mean(1, keepdim=True)
    corr = (shade * ny).sum(1) / (shade.norm(dim=1) * ny.norm(dim=1)).clamp_min(1e-8)
    assert (corr > 0).all(), corr
