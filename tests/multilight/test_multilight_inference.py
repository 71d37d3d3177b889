"""Multi-light inference around the network: the coarse shape pass for large objects."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from conftest import specular_lobe, sphere_normals, spread_lights
from photonormals.evaluation.lights import direction_errors
from photonormals.evaluation.metrics import angular_errors
from photonormals.inference.multilight import MultiLightModel
from photonormals.models import create_model
from photonormals.models.weights import save_weights

SIZE = 200


class ScaleDependentNet:
    """Stands in for a network that reads shape only at its training scale: at full size it
    sees a flat surface with fine ripples, at small sizes it sees the sphere."""

    def __init__(self):
        self.sizes = []

    def estimate_lights(self, images, mask):
        k = images.shape[1]
        return torch.tensor([[0.0, 0.0, 1.0]]).expand(1, k, 3), torch.ones(1, k, 3)

    def estimate_normals(self, images, mask, dirs, ints):
        h, w = images.shape[-2:]
        self.sizes.append((h, w))
        if max(h, w) >= SIZE:
            return _ripple(h, w) + torch.tensor([0.0, 0.0, 1.0]).view(1, 3, 1, 1)
        normals, _ = sphere_normals(h, radius_fraction=0.5)
        return torch.from_numpy(normals).permute(2, 0, 1)[None]


def _ripple(h, w):
    cols = torch.arange(w).float()
    x = 0.15 * torch.sin(cols * 2 * torch.pi / 6)  # a 6 px period: detail only the full pass has
    return torch.stack([x.expand(h, w), torch.zeros(h, w), torch.zeros(h, w)])[None]


def _estimator(tmp_path, coarse_size):
    path = tmp_path / "tiny.safetensors"
    save_weights(path, create_model("fused", light_size=32).eval(), steps=1)
    estimator = MultiLightModel(path, coarse_size=coarse_size)
    estimator.model = ScaleDependentNet()
    return estimator


def test_large_objects_take_their_shape_from_a_coarse_pass_and_keep_the_detail(tmp_path):
    # The whole frame is the object's box, so the network's crop is the frame.
    truth, _ = sphere_normals(SIZE, radius_fraction=0.5)
    mask = np.ones((SIZE, SIZE), bool)
    images = np.full((3, SIZE, SIZE, 3), 0.5, np.float32)
    expected = F.normalize(
        torch.from_numpy(truth).permute(2, 0, 1)[None] + _ripple(SIZE, SIZE), dim=1
    )
    expected = expected[0].permute(1, 2, 0).numpy()

    one_pass = _estimator(tmp_path, coarse_size=None).estimate(images, mask)
    estimator = _estimator(tmp_path, coarse_size=64)
    two_passes = estimator.estimate(images, mask)

    assert (
        sorted(estimator.model.sizes) == [(64, 64), (SIZE, SIZE)] and two_passes.coarse_size == 64
    )
    inside = truth[..., 2] > 0.45  # off the rim, which is too steep for 64 px
    assert angular_errors(one_pass.normals, expected, inside).mean() > 20
    assert angular_errors(two_passes.normals, expected, inside).mean() < 3


def test_small_objects_run_in_one_pass(tmp_path):
    normals, mask = sphere_normals(80)
    images = np.stack(
        [np.clip(normals @ d, 0, None)[..., None].repeat(3, -1) for d in spread_lights(4)]
    )
    estimator = _estimator(tmp_path, coarse_size=64)
    estimate = estimator.estimate(images.astype(np.float32), mask)
    assert len(estimator.model.sizes) == 1 and estimate.coarse_size is None


class KnownShapeNet:
    """Returns the true normals and lights tilted 15 degrees: a network with a light bias."""

    def __init__(self, normals, directions):
        self.normals, self.directions = normals, directions

    def estimate_lights(self, images, mask):
        tilted = F.normalize(
            torch.from_numpy(self.directions) + torch.tensor([0.0, 0.27, 0.0]), dim=-1
        )
        return tilted[None], torch.ones(1, len(self.directions), 3)

    def estimate_normals(self, images, mask, dirs, ints):
        return torch.from_numpy(self.normals).permute(2, 0, 1)[None]


def test_lights_are_refitted_when_the_images_are_lambertian(tmp_path):
    normals, mask = sphere_normals(80, radius_fraction=0.5)
    directions = spread_lights(6, seed=1)
    shading = np.clip(normals @ directions.T, 0, None).transpose(2, 0, 1)[..., None].repeat(3, -1)
    estimator = _estimator(tmp_path, coarse_size=None)
    estimator.model = KnownShapeNet(normals, directions)
    estimate = estimator.estimate((0.6 * shading).astype(np.float32), mask)
    assert estimate.lights_fitted and estimate.light_fit_residual < 0.05
    assert direction_errors(estimate.light_dirs, directions).mean() < 1.0

    gloss = specular_lobe(normals, directions, 8)[..., None] * mask[..., None]
    glossy = estimator.estimate((0.6 * shading + 2 * gloss).astype(np.float32), mask)
    assert not glossy.lights_fitted and glossy.light_fit_residual > 0.1
    network = estimator.model.estimate_lights(None, None)[0][0].numpy()
    assert np.allclose(glossy.light_dirs, network)
