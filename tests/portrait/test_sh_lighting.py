"""The lighting fit that takes the photo's texture out of the predicted shading and nudges the
skin's normals to explain the photo's shading."""

import numpy as np
from photonormals.evaluation.portrait import shading_si_error
from photonormals.inference.sh_lighting import (
    MIN_PIXELS,
    blend_shading,
    fit_sh_lighting,
    fitted_shading,
    refine_normals,
    sh_lighting_maps,
)
from photonormals.relight.sh import sh9_basis, sh9_irradiance, sh9_quadratic


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
    return shading_si_error(
        np.moveaxis(shading, -1, 0)[None], np.moveaxis(truth, -1, 0)[None], inside[None]
    )


def test_the_fit_removes_texture_the_network_copied():
    image, normals, truth, leaky, inside = scene()
    fit = fit_sh_lighting(image, normals, leaky, inside)
    fitted = fitted_shading(fit, normals, leaky)
    blended = blend_shading(fit, normals, leaky)
    assert si(fitted, truth, inside) < 0.05 * si(leaky, truth, inside)  # the freckles are gone
    assert si(blended, truth, inside) < 0.5 * si(leaky, truth, inside)
    # the network keeps the colour: the blend only rescales each pixel
    ratio = blended[inside] / leaky[inside]
    assert np.allclose(ratio, ratio[:, :1], rtol=1e-5)
    assert np.array_equal(blended[~inside], leaky[~inside])


def test_mirrored_inputs_give_the_mirrored_shading():
    image, normals, _, leaky, inside = scene(1)
    mirrored = normals[:, ::-1] * [-1, 1, 1]
    refined, blended = sh_lighting_maps(image, normals, leaky, inside)
    refined_flipped, flipped = sh_lighting_maps(
        image[:, ::-1], mirrored, leaky[:, ::-1], inside[:, ::-1]
    )
    assert np.allclose(flipped, blended[:, ::-1], rtol=1e-4, atol=1e-6)
    assert np.allclose(refined_flipped, refined[:, ::-1] * [-1, 1, 1], atol=1e-6)


def test_too_few_pixels_keep_the_network_shading():
    image, normals, _, leaky, inside = scene()
    tiny = np.zeros_like(inside)
    tiny.flat[np.flatnonzero(inside)[: MIN_PIXELS - 1]] = True
    assert fit_sh_lighting(image, normals, leaky, tiny) is None
    refined, shading = sh_lighting_maps(image, normals, leaky, tiny)
    assert refined is normals and shading is leaky


def test_sh9_is_a_quadratic_form_in_the_normal():
    rng = np.random.default_rng(0)
    coeffs, n = rng.normal(size=9), rng.normal(size=(50, 3))
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    k, b, a = sh9_quadratic(coeffs)
    assert np.allclose(
        np.stack(sh9_basis(n), 1) @ coeffs, k + n @ b + np.einsum("pj,pj->p", n, n @ a)
    )


def test_refinement_pulls_wrong_normals_toward_the_photo():
    """Network normals ~11 deg off the truth on the skin: the photo's shading under the fitted
    light pulls them back part of the way; off the skin (dark eyes) they stay."""
    image, normals, truth, _, inside = scene(2)
    rng = np.random.default_rng(3)
    noisy = normals + rng.normal(0, 0.15, normals.shape) * inside[..., None]
    noisy /= np.maximum(np.linalg.norm(noisy, axis=-1, keepdims=True), 1e-12)
    eyes = inside & (np.hypot(*np.mgrid[:64, :64] - 20.0) < 4)
    image[eyes] *= 0.1
    fit = fit_sh_lighting(image, noisy, truth + 1e-3, inside)
    refined, loose = refine_normals(fit, noisy), refine_normals(fit, noisy, prior=0.1, steps=200)

    def error(n):
        return np.degrees(np.arccos(np.clip((n * normals).sum(-1), -1, 1)))[inside & ~eyes].mean()

    # Shading fixes one of a normal's two degrees of freedom, and the default prior trusts
    # the network a lot (the held-out faces gain ~0.2 deg): a small step; a loose prior, more.
    assert error(loose) < 0.9 * error(noisy) and error(refined) < error(noisy) - 0.05
    assert np.allclose(refined[eyes], noisy[eyes]) and np.allclose(
        np.linalg.norm(refined[inside], axis=-1), 1
    )
