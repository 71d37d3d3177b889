"""Calibrated photometric stereo on synthetic spheres with known lights."""

import numpy as np
import pytest
from conftest import render_lambertian, sphere_normals, spread_lights
from photonormals.errors import UserError
from photonormals.evaluation.metrics import angular_errors, summarise
from photonormals.photometric.calibrated import solve_calibrated

ALBEDO_RGB = np.array([0.7, 0.45, 0.3], np.float32)


def _scene(size=96, count=12, seed=0):
    normals, mask = sphere_normals(size)
    directions = spread_lights(count, seed)
    rng = np.random.default_rng(seed)
    intensities = rng.uniform(0.2, 2.0, (count, 3)).astype(np.float32)
    albedo = np.broadcast_to(ALBEDO_RGB, normals.shape).copy()
    return normals, mask, directions, intensities, albedo


def test_lambertian_sphere_with_shadows_is_recovered_under_one_degree():
    normals, mask, directions, intensities, albedo = _scene()
    images = render_lambertian(normals, mask, directions, intensities, albedo)
    result = solve_calibrated(images, directions, intensities, mask)
    errors = angular_errors(result.normals, normals, mask)
    assert errors.mean() < 1.0
    assert np.allclose(np.median(result.albedo[mask], axis=0), ALBEDO_RGB, rtol=0.01)


def test_speculars_and_saturation_are_rejected():
    normals, mask, directions, intensities, albedo = _scene(count=20, seed=3)
    images = render_lambertian(normals, mask, directions, intensities, albedo)
    half = directions + np.array([0, 0, 1.0], np.float32)
    half /= np.linalg.norm(half, axis=1, keepdims=True)
    gloss = np.clip(np.einsum("hwc,kc->khw", normals, half), 0, None) ** 80
    images = np.clip(images + 3.0 * gloss[..., None] * mask[..., None], 0, 1)  # clipped highlights
    images += np.random.default_rng(0).normal(0, 0.002, images.shape).astype(np.float32)

    robust = solve_calibrated(images, directions, intensities, mask)
    assert angular_errors(robust.normals, normals, mask).mean() < 1.5


def test_unsolvable_pixels_are_left_out_of_the_mask():
    normals, mask, directions, intensities, albedo = _scene(count=6)
    images = render_lambertian(normals, mask, directions, intensities, albedo)
    result = solve_calibrated(images, directions, intensities)  # automatic mask
    assert not result.mask[0, 0]  # background stays out
    assert (result.mask & ~mask).sum() == 0
    assert np.all(result.normals[~result.mask] == 0)


def test_bad_light_sets_are_refused():
    normals, mask, directions, intensities, albedo = _scene(count=4)
    images = render_lambertian(normals, mask, directions, intensities, albedo)
    with pytest.raises(UserError, match="3 light directions for 4 images"):
        solve_calibrated(images, directions[:3], intensities, mask)
    coplanar = directions.copy()
    coplanar[:, 2] = 0.0
    coplanar /= np.linalg.norm(coplanar, axis=1, keepdims=True)
    with pytest.raises(UserError, match="coplanar"):
        solve_calibrated(images, coplanar, intensities, mask)


def test_summary_thresholds():
    scores = summarise(np.array([5.0, 15.0, 25.0, 40.0]))
    assert scores["mean_deg"] == 21.25 and scores["median_deg"] == 20.0
    assert (scores["under_11.25_deg"], scores["under_22.5_deg"], scores["under_30_deg"]) == (
        0.25,
        0.5,
        0.75,
    )
