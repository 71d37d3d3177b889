"""Lights fitted to known normals (photometric.light_fit)."""

from __future__ import annotations

import numpy as np
from conftest import render_lambertian, specular_lobe, sphere_normals, spread_lights
from photonormals.evaluation.lights import direction_errors
from photonormals.photometric.light_fit import fit_lights


def _scene(count=8):
    normals, mask = sphere_normals(96)
    directions = spread_lights(count, seed=3)
    intensities = np.linspace(0.5, 1.5, count, dtype=np.float32)[:, None].repeat(3, 1)
    albedo = np.random.default_rng(0).uniform(0.3, 0.9, (96, 96, 3)).astype(np.float32)
    return (
        render_lambertian(normals, mask, directions, intensities, albedo),
        normals,
        mask,
        directions,
        intensities,
    )


def _tilt(directions, degrees):
    """Every direction rotated by ``degrees`` about the x axis: a network's systematic error."""
    a = np.radians(degrees)
    rotation = np.array(
        [[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]], np.float32
    )
    return directions @ rotation.T


def test_a_lambertian_scene_gives_back_its_lights():
    images, normals, mask, directions, intensities = _scene()
    start = _tilt(directions, 15)
    fit = fit_lights(images, normals, mask, start, np.ones(len(directions)))
    assert direction_errors(start, directions).mean() > 10
    assert direction_errors(fit.directions, directions).mean() < 1.0
    truth = intensities[:, 0] / intensities[:, 0].mean()
    assert np.abs(fit.intensities - truth).max() < 0.02
    assert fit.residual < 0.02 and fit.fitted.all()


def test_the_residual_flags_images_the_lambertian_model_does_not_explain():
    images, normals, mask, directions, _ = _scene()
    lambertian = fit_lights(images, normals, mask, directions).residual
    # A broad specular lobe (a glossy surface) is no albedo times n.l.
    gloss = specular_lobe(normals, directions, 8) * mask
    glossy = fit_lights(images + gloss[..., None], normals, mask, directions).residual
    # A global linear distortion of the normals (bas-relief) would not show: the lights absorb it.
    assert glossy > 5 * lambertian
