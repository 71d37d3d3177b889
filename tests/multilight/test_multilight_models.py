"""Multi-light models: light logits, set invariance, given lights, sizes, light bins."""

import copy
import math

import pytest
import torch
from photonormals.models import MULTILIGHT, create_model, list_models
from photonormals.models.light_bins import (
    bin_to_intensity,
    bins_to_direction,
    direction_to_bins,
    intensity_to_bin,
)

MODELS = list_models(MULTILIGHT)


def n_params(module):
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return {name: create_model(name).eval() for name in MODELS}


def one_hot(index, n):
    return torch.nn.functional.one_hot(index, n).float()


def _unit(x, dim=-1):
    return torch.nn.functional.normalize(x, dim=dim)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("k,h,w", [(1, 32, 32), (2, 37, 45), (5, 48, 40)])
def test_shapes_and_unit_outputs(models, name, k, h, w):
    images = torch.rand(2, k, 3, h, w)
    mask = (torch.rand(2, 1, h, w) > 0.2).float()
    with torch.inference_mode():
        out = models[name](images, mask)
    assert out["normal"].shape == (2, 3, h, w)
    assert out["light_dir"].shape == (2, k, 3) and out["light_int"].shape == (2, k, 3)
    assert {key: v.shape for key, v in out["logits"].items()} == {
        "azimuth": (2, k, 36),
        "elevation": (2, k, 36),
        "intensity": (2, k, 20),
    }
    assert torch.allclose(out["normal"].norm(dim=1), torch.ones(2, h, w), atol=1e-5)
    assert torch.allclose(out["light_dir"].norm(dim=-1), torch.ones(2, k), atol=1e-5)
    assert (out["light_int"] >= 0.2).all() and (out["light_int"] <= 2.0).all()


@pytest.mark.parametrize("name", MODELS)
def test_permuting_images_permutes_lights_and_keeps_normals(models, name):
    torch.manual_seed(1)
    images, order = torch.rand(1, 5, 3, 36, 44, dtype=torch.float64), torch.tensor([3, 0, 4, 1, 2])
    # In float64: SetNorm sums over the images, so a new order changes the rounding, and in
    # float32 an untrained net can amplify that past 1e-4 at a pixel whose normal is near zero.
    model = copy.deepcopy(models[name]).double()
    with torch.inference_mode():
        a = model(images)
        b = model(images[:, order])
    assert torch.allclose(a["normal"], b["normal"], atol=1e-8)
    assert torch.allclose(a["light_dir"][:, order], b["light_dir"], atol=1e-8)
    assert torch.allclose(a["light_int"][:, order], b["light_int"], atol=1e-8)


@pytest.mark.parametrize("name", MODELS)
def test_given_lights_drive_the_normal_branch(models, name):
    images = torch.rand(1, 3, 3, 32, 32)
    dirs = _unit(torch.tensor([[[0.3, 0.2, 1.0], [-0.4, 0.1, 1.0], [0.0, -0.5, 1.0]]]))
    with torch.inference_mode():
        free = models[name](images)
        forced = models[name](images, lights=(dirs, torch.ones(1, 3, 3)))
    assert torch.equal(free["light_dir"], forced["light_dir"])  # outputs report the estimate
    assert not torch.allclose(free["normal"], forced["normal"])


def test_fused_normal_loss_reaches_the_light_branch():
    model = create_model("fused").train()
    out = model(torch.rand(1, 2, 3, 32, 32))
    (1 - out["normal"][:, 2]).mean().backward()
    grad = model.light_heads["azimuth"][1].weight.grad
    assert grad is not None and grad.abs().sum() > 0


def test_param_counts():
    with torch.device("meta"):
        sdps, lite, fused = create_model("sdps"), create_model("sdps_lite"), create_model("fused")
    assert n_params(sdps.lcnet) == pytest.approx(4.41e6, rel=0.02)
    assert n_params(sdps.nenet) == pytest.approx(2.21e6, rel=0.03)
    assert n_params(lite) <= n_params(sdps) / 4
    assert n_params(fused) <= 1.5e6


def test_light_bins_round_trip():
    torch.manual_seed(2)
    dirs = _unit(torch.randn(500, 3) * torch.tensor([1.0, 1.0, 0.3]) + torch.tensor([0, 0, 1.0]))
    az, el = direction_to_bins(dirs)
    centres = bins_to_direction(az, el)
    error = torch.rad2deg(torch.acos((centres * dirs).sum(-1).clamp(-1, 1)))
    assert error.max() < 2.5 * math.sqrt(2) + 1e-3  # within half a bin on both angles
    assert torch.equal(direction_to_bins(centres)[0], az)
    assert torch.allclose(bins_to_direction(one_hot(az, 36), one_hot(el, 36)), centres, atol=1e-6)
    # Soft-argmax interpolates: half the mass on bins centred at 2.5 and 7.5 degrees -> 5.
    probs = torch.zeros(36)
    probs[[18, 19]] = 0.5
    c, s = math.cos(math.radians(5)), math.sin(math.radians(5))
    assert torch.allclose(bins_to_direction(probs, probs), torch.tensor([c * s, s, c * c]))

    ints = torch.linspace(0.2, 2.0, 101)
    centres = bin_to_intensity(intensity_to_bin(ints))
    assert (centres - ints).abs().max() <= 0.045 + 1e-6
    assert torch.equal(intensity_to_bin(centres), intensity_to_bin(ints.clamp(max=1.9999)))
    assert torch.allclose(bin_to_intensity(one_hot(intensity_to_bin(ints), 20)), centres)
