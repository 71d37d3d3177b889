"""The lighting fit that takes the photo's texture out of the predicted shading."""

import numpy as np
from photonormals.evaluation.portrait import shading_si_error
from photonormals.inference.shading_fit import MIN_PIXELS, blend_shading, fitted_shading
from photonormals.relight.sh import sh9_irradiance


def sphere(size=64):
    y, x = (np.mgrid[:size, :size] + 0.5) / size * 2 - 1
    y = -y
    inside = x * x + y * y < 0.95
    z = np.sqrt(np.clip(1 - x * x - y * y, 0, 1))
    return np.stack([x, y, z], -1) * inside[..., None], inside


def scene(seed=0):
    """A Lambertian sphere under smooth SH light, skin albedo with dark freckles, and a network
    shading that copied a third of the freckles (texture leaking into shading)."""
    rng = np.random.default_rng(seed)
    normals, inside = sphere()
    coeffs = np.zeros((9, 3))
    coeffs[0] = [2.0, 1.8, 1.6]  # warm ambient
    coeffs[1:4] = rng.normal(0, 0.8, 3)[:, None] * [1.0, 0.9, 0.8]
    truth = np.maximum(sh9_irradiance(normals, coeffs) / np.pi, 0.05) * inside[..., None]
    freckles = np.where(rng.random(inside.shape) < 0.08, 0.4, 1.0)[..., None]
    image = truth * np.array([0.7, 0.5, 0.4]) * freckles
    leaky = truth * freckles ** (1 / 3)
    return image, normals, truth, leaky, inside


def si(shading, truth, inside):
    return shading_si_error(np.moveaxis(shading, -1, 0)[None], np.moveaxis(truth, -1, 0)[None], inside[None])


def test_the_fit_removes_texture_the_network_copied():
    image, normals, truth, leaky, inside = scene()
    fitted = fitted_shading(image, normals, leaky, inside)
    blended = blend_shading(image, normals, leaky, inside)
    assert si(fitted, truth, inside) < 0.05 * si(leaky, truth, inside)  # the freckles are gone
    assert si(blended, truth, inside) < 0.5 * si(leaky, truth, inside)
    # the network keeps the colour: the blend only rescales each pixel
    ratio = blended[inside] / leaky[inside]
    assert np.allclose(ratio, ratio[:, :1], rtol=1e-5)
    assert np.array_equal(blended[~inside], leaky[~inside])


def test_mirrored_inputs_give_the_mirrored_shading():
    image, normals, _, leaky, inside = scene(1)
    mirrored = normals[:, ::-1] * [-1, 1, 1]
    blended = blend_shading(image, normals, leaky, inside)
    flipped = blend_shading(image[:, ::-1], mirrored, leaky[:, ::-1], inside[:, ::-1])
    assert np.allclose(flipped, blended[:, ::-1], rtol=1e-4, atol=1e-6)


def test_too_few_pixels_keep_the_network_shading():
    image, normals, _, leaky, inside = scene()
    tiny = np.zeros_like(inside)
    tiny.flat[np.flatnonzero(inside)[: MIN_PIXELS - 1]] = True
    assert fitted_shading(image, normals, leaky, tiny) is None
    assert blend_shading(image, normals, leaky, tiny) is leaky
