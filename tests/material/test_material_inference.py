"""Material inference without a trained model: surface integration, tiling, the coarse pass,
seamless maps, and the BatchNorm folding that makes it fast."""

import cv2
import numpy as np
import pytest
import torch
from photonormals.errors import UserError
from photonormals.evaluation.material import height_error, seam_score, shading_leak
from photonormals.geometry.height import integrate_surface
from photonormals.inference.material import (
    MaterialModel,
    fold_batchnorm,
    make_seamless,
    seam_blend_weight,
    surface_from_photometric,
)
from photonormals.models import create_model
from photonormals.models.weights import save_weights

TINY = {"widths": [8, 8, 16, 16], "blocks": [1, 1, 1, 1]}


def normals_of(z, periodic=False):
    if periodic:
        dx = (np.roll(z, -1, 1) - np.roll(z, 1, 1)) / 2
        dr = (np.roll(z, -1, 0) - np.roll(z, 1, 0)) / 2
    else:
        dx, dr = np.gradient(z, axis=1), np.gradient(z, axis=0)
    n = np.dstack([-dx, dr, np.ones_like(z)])
    return (n / np.linalg.norm(n, axis=2, keepdims=True)).astype(np.float32)


def smooth_field(shape, seed, sigma=4.0):
    noise = np.random.default_rng(seed).normal(size=shape).astype(np.float32)
    return cv2.GaussianBlur(noise, (0, 0), sigma) * sigma * 3


@pytest.mark.parametrize("periodic", [False, True])
def test_surface_integration_recovers_the_height(periodic):
    y, x = np.mgrid[0:60, 0:80].astype(np.float64)
    z = 3 * np.sin(2 * np.pi * x / 80 * 2) * np.cos(2 * np.pi * y / 60 * 3)
    if not periodic:
        z += 0.05 * x + 2 * np.exp(-((x - 30) ** 2 + (y - 20) ** 2) / 40)
    got = integrate_surface(normals_of(z, periodic), periodic=periodic)
    assert got.dtype == np.float32 and abs(float(got.mean())) < 1e-3
    assert height_error(got, z) < 0.02
    assert seam_score(got) < 2 if periodic else True


def test_integration_refuses_bad_maps():
    with pytest.raises(UserError, match="shape"):
        integrate_surface(np.zeros((4, 4)))
    bad = np.dstack([np.zeros((4, 4)), np.zeros((4, 4)), np.full((4, 4), np.nan)])
    with pytest.raises(UserError, match="NaN"):
        integrate_surface(bad)


def test_seamless_maps_tile_and_keep_the_middle():
    z = smooth_field((64, 96), 0)
    normals = normals_of(z)
    albedo = np.random.default_rng(1).uniform(0.2, 0.8, (64, 96, 3)).astype(np.float32)
    albedo = cv2.GaussianBlur(albedo, (0, 0), 3)
    assert seam_score(albedo) > 3  # a photo's own edges do not meet
    n2, a2 = make_seamless(normals, [albedo])
    assert seam_score(a2) < 1.5 and seam_score(n2) < 1.5
    assert np.allclose(np.linalg.norm(n2, axis=2), 1, atol=1e-5)
    assert np.allclose(a2[32, 48], albedo[32, 48])  # the middle is the photo's
    weight = seam_blend_weight(integrate_surface(normals), integrate_surface(normals)[::-1])
    assert (weight[0] == 0).all() and (weight[:, -1] == 0).all() and weight[32, 48] > 0.99


def test_surface_prior_removes_tilt_and_large_bends_but_keeps_relief():
    y, x = np.mgrid[0:96, 0:96]
    z = 2 * np.sin(2 * np.pi * x / 16) * np.cos(2 * np.pi * y / 12)  # relief of 12-16 px
    bent = z + 0.2 * x + 0.004 * (y - 48) ** 2  # a tilted plane, bent by a near lamp
    albedo = np.full((96, 96, 3), 0.5)
    estimate = surface_from_photometric(normals_of(bent), albedo)
    assert estimate.roughness is None and estimate.shading is None
    assert height_error(estimate.height, z) < 0.2  # the bend's remains sit at the edges
    assert height_error(integrate_surface(normals_of(bent)), z) > 0.9  # without the prior
    assert abs(estimate.normals[..., 0].mean()) < 0.01  # the tilt is gone
    assert seam_score(surface_from_photometric(normals_of(bent), albedo, True).height) < 1.5


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    torch.manual_seed(0)
    model = create_model("material_fast", **TINY)
    with torch.no_grad():
        model.head.weight.normal_(0, 0.02)  # an answer that varies, unlike the zero init
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    save_weights(path, model.eval(), steps=0)
    return path


def test_batchnorm_folding_keeps_the_outputs():
    torch.manual_seed(0)
    model = create_model("material_fast", **TINY).eval()
    for m in model.modules():  # non-trivial running statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2)
    x = torch.rand(1, 3, 40, 56)
    with torch.inference_mode():
        before = model(x)
        after = fold_batchnorm(model)(x)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    for key in before:
        assert torch.allclose(before[key], after[key], atol=1e-5), key


def test_tiles_and_the_coarse_pass_give_whole_maps(tiny_weights):
    rng = np.random.default_rng(0)
    photo = cv2.GaussianBlur(rng.uniform(0.1, 0.6, (150, 170, 3)).astype(np.float32), (0, 0), 2)
    whole = MaterialModel(tiny_weights, tile=256).estimate(photo)
    tiled = MaterialModel(tiny_weights, tile=64).estimate(photo)
    assert whole.tiles == 1 and whole.coarse_pass_px is None
    assert tiled.tiles > 4 and tiled.coarse_pass_px == 64
    for e in (whole, tiled):
        assert e.normals.shape == (150, 170, 3) and e.height.shape == (150, 170)
        assert np.isfinite(e.normals).all() and np.isfinite(e.height).all()
        assert np.allclose(np.linalg.norm(e.normals, axis=2), 1, atol=1e-4)
        assert ((e.roughness > 0) & (e.roughness < 1)).all()
        # albedo x shading is the photo wherever the shading is above its floor
        lit = e.shading > 0.1 * e.shading.mean()
        assert np.allclose((e.albedo * e.shading[..., None])[lit], photo[lit], rtol=1e-3)
    # the ramps leave no step at the tile borders: the tiled normals are as smooth as the
    # untiled ones, column to column
    steps = [np.abs(np.diff(e.normals[..., 0], axis=1)).mean(0).max() for e in (whole, tiled)]
    assert steps[1] < 2 * steps[0] + 1e-3


def test_flip_average_mirrors_the_normals_back_and_keeps_the_direct_shading(tiny_weights):
    """The mirror pass's normals come back with x negated, so the averaged maps of a photo's
    mirror image are the photo's maps mirrored (x negated), which no single pass of an untrained
    network gives; shading and roughness are the direct pass's."""
    rng = np.random.default_rng(1)
    photo = cv2.GaussianBlur(rng.uniform(0.1, 0.6, (64, 64, 3)).astype(np.float32), (0, 0), 2)
    mirror = np.ascontiguousarray(photo[:, ::-1])
    back = lambda normals: normals[:, ::-1] * np.float32([-1, 1, 1])
    model, plain = MaterialModel(tiny_weights), MaterialModel(tiny_weights, flip_average=False)
    direct = model.estimate(photo)
    assert np.allclose(back(model.estimate(mirror).normals), direct.normals, atol=1e-4)
    assert not np.allclose(back(plain.estimate(mirror).normals), plain.estimate(photo).normals,
                           atol=1e-3)
    single = plain.estimate(photo)
    assert np.allclose(direct.shading, single.shading)
    assert np.allclose(direct.roughness, single.roughness)


def test_shading_leak_is_zero_for_the_truth_and_high_for_the_photo():
    rng = np.random.default_rng(0)
    albedo = rng.uniform(0.2, 0.8, (32, 32))
    shading = np.exp(smooth_field((32, 32), 3) / 3)
    assert abs(shading_leak(albedo, shading)) < 0.2
    assert shading_leak(albedo * shading, shading) > 0.5


def test_bad_photos_are_refused(tiny_weights):
    model = MaterialModel(tiny_weights)
    with pytest.raises(UserError, match="at least"):
        model.estimate(np.full((8, 40, 3), 0.5, np.float32))
    with pytest.raises(UserError, match="black"):
        model.estimate(np.zeros((32, 32, 3), np.float32))
