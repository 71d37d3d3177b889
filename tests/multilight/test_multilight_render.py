"""The multi-light renderer: physics, shadows, augmentations, camera, light bins."""

from __future__ import annotations

import math

import pytest
import torch
from photonormals.models.light_bins import (
    bin_to_intensity,
    bins_to_direction,
    direction_to_bins,
    intensity_to_bin,
)
from photonormals.synthetic.flips import hflip, rot90, vflip
from photonormals.synthetic.imaging import SRGB8_TABLE
from photonormals.synthetic.materials import random_albedo, random_materials
from photonormals.synthetic.multilight.camera import apply_camera, random_camera_mode
from photonormals.synthetic.multilight.lights import (
    sample_light_directions,
    sample_light_intensities,
)
from photonormals.synthetic.multilight.render import render_multilight
from photonormals.synthetic.shadows import cast_shadow_visibility


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def sphere(size=64, batch=1, radius_fraction=0.45):
    """Analytic sphere (normals, depth in pixels, mask) seen orthographically, row 0 at the top."""
    c = torch.arange(size, dtype=torch.float32) + 0.5
    rows, cols = torch.meshgrid(c, c, indexing="ij")
    radius = size * radius_fraction
    x, y = (cols - size / 2) / radius, -(rows - size / 2) / radius
    r2 = x * x + y * y
    mask = (r2 < 1).float()
    z = torch.sqrt((1 - r2).clamp_min(0))
    normals = torch.stack([x, y, z]) * mask
    rep = lambda t: t.expand(batch, *t.shape).contiguous()
    return rep(normals), rep((z * radius * mask)[None]), rep(mask[None])


def bumpy(size=48, batch=2, seed=0):
    """An asymmetric height field (bumps + a ridge) with its normals, filling the frame."""
    g = gen(seed)
    c = torch.arange(size, dtype=torch.float32)
    rows, cols = torch.meshgrid(c, c, indexing="ij")
    depth = torch.zeros(batch, 1, size, size)
    for _ in range(5):
        r0, c0 = torch.rand(2, generator=g) * size
        depth += 8 * torch.exp(-((rows - r0) ** 2 + (cols - c0) ** 2) / 40.0)
    depth += 6 * torch.exp(-((cols - 0.3 * rows - 10) ** 2) / 8.0)
    dz_dr, dz_dc = torch.gradient(depth[:, 0], dim=(1, 2))
    normals = torch.nn.functional.normalize(
        torch.stack([-dz_dc, dz_dr, torch.ones_like(dz_dc)], 1), dim=1
    )
    return normals, depth, torch.ones(batch, 1, size, size)


MATTE = {
    "roughness": torch.full((1, 1, 1, 1), 0.5),
    "metalness": torch.zeros(1, 1, 1, 1),
    "specular": torch.zeros(1, 1, 1, 1),
    "ambient": torch.zeros(1, 1, 1, 1),
}


def test_lambertian_limit_matches_analytic_shading():
    normals, depth, mask = sphere()
    albedo = torch.rand(1, 3, 64, 64, generator=gen(1)) * 0.9 + 0.05
    dirs = sample_light_directions(1, 6, gen(2))
    ints = sample_light_intensities(1, 6, gen(3))
    out = render_multilight(normals, depth, mask, albedo, MATTE, dirs, ints, cast_shadows=False)
    shading = torch.einsum("bchw,bkc->bkhw", normals, dirs).clamp_min(0)[:, :, None]
    expected = albedo[:, None] * ints[..., None, None] * shading * mask[:, None]
    assert out.shape == (1, 6, 3, 64, 64)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_specular_peak_is_at_half_vector():
    normals, depth, mask = sphere(96)
    material = dict(
        MATTE, roughness=torch.full((1, 1, 1, 1), 0.2), specular=torch.full((1, 1, 1, 1), 0.04)
    )
    light = torch.nn.functional.normalize(torch.tensor([[[0.5, 0.3, 0.8]]]), dim=-1)
    out = render_multilight(
        normals,
        depth,
        mask,
        torch.full((1, 3, 96, 96), 0.02),
        material,
        light,
        torch.ones(1, 1, 3),
        cast_shadows=False,
    )
    lum = out[0, 0].sum(0)
    peak = torch.argmax(lum)
    n_peak = normals[0].reshape(3, -1)[:, peak]
    half = torch.nn.functional.normalize(light[0, 0] + torch.tensor([0.0, 0.0, 1.0]), dim=0)
    angle = math.degrees(math.acos(float((n_peak * half).sum().clamp(-1, 1))))
    assert angle < 2.0
    assert lum.max() > 5 * lum[mask[0, 0] > 0].median()  # a real highlight, not a diffuse bump


def pillar_scene(size=64):
    depth = torch.zeros(1, 1, size, size)
    depth[..., 28:36, 28:36] = 20.0
    normals = torch.zeros(1, 3, size, size)
    normals[:, 2] = 1.0
    return normals, depth, torch.ones(1, 1, size, size)


def test_pillar_casts_shadow_away_from_light():
    _, depth, mask = pillar_scene()
    s = math.sqrt(0.5)
    lights = torch.tensor([[[s, 0.0, s], [-s, 0.0, s], [0.0, s, s], [0.0, 0.0, 1.0]]])
    vis = cast_shadow_visibility(depth, mask, lights)[0, :, 0]
    assert vis.shape == (4, 64, 64)
    # light from +x (right): shadow to the left of the pillar (cols < 28), about 20 px long
    assert vis[0, 32, 10:26].max() < 0.05 and vis[0, 32, 38:].min() > 0.95
    assert vis[0, 32, 5].item() > 0.95  # beyond the shadow's length
    # light from -x: mirrored
    assert vis[1, 32, 38:54].max() < 0.05 and vis[1, 32, :28].min() > 0.95
    # light from +y (up): shadow below, at larger rows
    assert vis[2, 38:54, 32].max() < 0.05 and vis[2, :28, 32].min() > 0.95
    # top of the pillar is lit; a light along +z casts nothing
    assert vis[:, 30:34, 30:34].min() > 0.95
    assert vis[3].min() > 0.99


def test_convex_sphere_does_not_shadow_its_lit_side():
    normals, depth, mask = sphere(64, batch=2)
    dirs = sample_light_directions(2, 8, gen(4))
    vis = cast_shadow_visibility(depth, mask, dirs)
    n_dot_l = torch.einsum("bchw,bkc->bkhw", normals, dirs)[:, :, None]
    lit = (n_dot_l > 0.15) & (normals[:, None, 2:3] > 0.3)
    assert vis[lit].min() > 0.95


def _random_scene(batch=2, size=48, count=5, seed=0):
    g = gen(seed)
    normals, depth, mask = bumpy(size, batch, seed)
    mask[:, :, :3] = 0  # an asymmetric mask, so flips really move things
    albedo = random_albedo(batch, size, size, g)
    material = random_materials(batch, g, size, size)
    material["metalness"] = torch.tensor([0.0, 0.8]).view(2, 1, 1, 1)
    dirs = sample_light_directions(batch, count, g)
    ints = sample_light_intensities(batch, count, g)
    return normals * mask, depth * mask, mask, albedo, material, dirs, ints


@pytest.mark.parametrize("augment", [hflip, vflip, rot90, lambda *a: rot90(*a, k=3)])
def test_augmentations_commute_with_rendering(augment):
    normals, depth, mask, albedo, material, dirs, ints = _random_scene()
    images = render_multilight(normals, depth, mask, albedo, material, dirs, ints)
    assert (images.amax((2, 3, 4)) > 0).all()
    aug_images, aug_normals, aug_depth, aug_mask, aug_dirs = augment(
        images, normals, depth, mask, dirs
    )
    aug_albedo = augment(albedo[:, None], None, None, None, None)[0][
        :, 0
    ]  # pixels move, colours don't
    aug_material = {
        k: v if v.shape[-1] == 1 else augment(None, None, v, None, None)[2]
        for k, v in material.items()
    }
    rendered = render_multilight(
        aug_normals, aug_depth, aug_mask, aug_albedo, aug_material, aug_dirs, ints
    )
    torch.testing.assert_close(rendered, aug_images, atol=2e-4, rtol=1e-3)


def test_hflip_negates_x_only():
    normals, depth, mask, _, _, dirs, _ = _random_scene()
    _, n2, _, _, d2 = hflip(None, normals, depth, mask, dirs)
    torch.testing.assert_close(n2[:, 0], -torch.flip(normals[:, 0], [-1]))
    torch.testing.assert_close(n2[:, 1:], torch.flip(normals[:, 1:], [-1]))
    torch.testing.assert_close(d2, dirs * torch.tensor([-1.0, 1.0, 1.0]))


def test_light_sampling_ranges_and_bins_round_trip():
    dirs = sample_light_directions(4, 256, gen(5), max_polar_deg=80.0)
    assert dirs.shape == (4, 256, 3)
    torch.testing.assert_close(dirs.norm(dim=-1), torch.ones(4, 256))
    assert (dirs[..., 2] >= math.cos(math.radians(80.0)) - 1e-6).all()
    ints = sample_light_intensities(4, 256, gen(6))
    assert ints.shape == (4, 256, 3) and ints.min() >= 0.2 and ints.max() <= 2.0
    assert (ints[..., 0] != ints[..., 1]).any()  # per channel
    white = sample_light_intensities(4, 8, gen(6), white_prob=1.0)
    assert (white[..., 0] == white[..., 2]).all()

    az, el = direction_to_bins(dirs)
    assert az.dtype == torch.long and az.min() >= 0 and az.max() < 36 and el.max() < 36
    back = bins_to_direction(az, el)
    angle = torch.rad2deg(torch.acos((back * dirs).sum(-1).clamp(-1, 1)))
    assert angle.max() <= 2.5 * math.sqrt(2) + 1e-3
    # soft-argmax: one-hot probabilities decode like hard bins; a split between two
    # neighbouring bins decodes to their shared edge
    one_hot = torch.nn.functional.one_hot(az, 36).float()
    torch.testing.assert_close(
        bins_to_direction(one_hot, torch.nn.functional.one_hot(el, 36).float()), back
    )
    probs = torch.zeros(36)
    probs[18] = probs[19] = 0.5  # azimuth edge at +5 deg
    el_probs = torch.zeros(36)
    el_probs[17] = el_probs[18] = 0.5  # elevation edge at 0 deg
    d = bins_to_direction(probs, el_probs)
    torch.testing.assert_close(
        d, torch.tensor([math.sin(math.radians(5)), 0.0, math.cos(math.radians(5))])
    )

    levels = torch.linspace(0.2, 2.0, 101)
    bins = intensity_to_bin(levels)
    assert bins.min() == 0 and bins.max() == 19
    assert (bin_to_intensity(bins) - levels).abs().max() <= 0.045 + 1e-6
    logits = torch.randn(7, 20, requires_grad=True)
    bin_to_intensity(torch.softmax(logits, -1)).sum().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_srgb8_mode_gives_exact_decoded_codes():
    normals, depth, mask, albedo, material, dirs, ints = _random_scene(seed=3)
    images = render_multilight(normals, depth, mask, albedo, material, dirs, ints)
    out = apply_camera(images, gen(7), "srgb8")
    assert out.shape == images.shape
    assert torch.isin(out, SRGB8_TABLE).all()
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert (out > 0.99).float().mean() < 0.05  # mostly below clipping
    lin16 = apply_camera(images, gen(7), "linear16", mask=mask)
    torch.testing.assert_close(lin16 * 65535.0, torch.round(lin16 * 65535.0), atol=1e-3, rtol=0)
    assert (lin16 * (1 - mask[:, None]) == 0).all()
    flt, gain = apply_camera(images, gen(7), "float", return_exposure=True)
    assert gain.shape == (2,)
    # noise is small relative to signal and unbiased on average
    err = flt - images * gain.view(-1, 1, 1, 1, 1)
    assert err.abs().mean() < 0.02
    assert random_camera_mode(gen(0)) in ("srgb8", "linear16", "float")


def test_linear8_mode_is_linear_codes_read_as_srgb():
    """A data set's linear 8-bit file read by our default (sRGB) reader: the same exposure and
    noise as "float", then 8-bit linear codes decoded by the sRGB table, so about value^2.2."""
    normals, depth, mask, albedo, material, dirs, ints = _random_scene(seed=3)
    images = render_multilight(normals, depth, mask, albedo, material, dirs, ints)
    out = apply_camera(images, gen(7), "linear8")
    flt = apply_camera(images, gen(7), "float")
    assert torch.isin(out, SRGB8_TABLE).all()
    codes = (flt.clamp(0, 1) * 255).round().long()
    torch.testing.assert_close(out, SRGB8_TABLE[codes])
    mid = (flt > 0.2) & (flt < 0.8)
    assert (out[mid] < flt[mid]).all()  # sRGB decoding darkens mid-tones
    modes = [random_camera_mode(gen(seed), p_linear8=0.5) for seed in range(200)]
    assert 60 < modes.count("linear8") < 140
    assert {"srgb8", "linear16", "float"} <= set(modes)
    # without linear codes the draw is what it always was (runs resume on the same data)
    assert [random_camera_mode(gen(s)) for s in range(20)] == [
        random_camera_mode(gen(s), p_linear8=0.0) for s in range(20)]


def test_same_seed_reproduces_sample():
    def sample(seed):
        g = gen(seed)
        albedo = random_albedo(2, 32, 32, g)
        material = random_materials(2, g, 32, 32)
        dirs = sample_light_directions(2, 4, g)
        ints = sample_light_intensities(2, 4, g)
        normals, depth, mask = sphere(32, 2)
        images = render_multilight(normals, depth, mask, albedo, material, dirs, ints)
        return apply_camera(images, g, random_camera_mode(g)), albedo, material["roughness"]

    a, b, c = sample(11), sample(11), sample(12)
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x, y)
    assert not torch.equal(a[1], c[1])


def test_albedo_and_materials_ranges():
    g = gen(8)
    albedo = random_albedo(16, 40, 56, g)
    assert albedo.shape == (16, 3, 40, 56)
    assert albedo.min() >= 0.02 and albedo.max() <= 0.95
    assert (albedo.std((2, 3)).mean(1) > 1e-3).sum() >= 8  # most samples are textured
    chroma = (albedo.amax(1) - albedo.amin(1)).mean((1, 2))
    assert (chroma > 0.05).sum() >= 8  # colourful, not grey
    m = random_materials(200, g)
    assert m["roughness"].min() >= 0.05 and m["roughness"].max() <= 0.9
    assert m["ambient"].min() >= 0 and m["ambient"].max() <= 0.15
    assert m["specular"].min() >= 0.02 and m["specular"].max() <= 0.08
    metal = m["metalness"].flatten()
    assert ((metal == 0) | (metal > 0.5)).all() and 0.03 < (metal > 0).float().mean() < 0.35
