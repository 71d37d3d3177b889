"""Portrait networks and their inference wrapper: shapes, sizes, weights, albedo, flip symmetry."""

import numpy as np
import pytest
import torch
from photonormals.errors import ModelNotAvailable, UserError
from photonormals.inference.portrait import (
    PortraitModel,
    albedo_from_shading,
    predict_maps,
    subject_mask,
    unflip_outputs,
)
from photonormals.models import PORTRAIT, create_model, list_models, model_spec
from photonormals.models.portrait import normalise_portrait_exposure
from photonormals.models.weights import load_model, save_weights

MODELS = list_models(PORTRAIT)


def n_params(module):
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return {name: create_model(name).eval() for name in MODELS}


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("b,h,w", [(1, 33, 45), (2, 18, 27), (1, 16, 16)])
def test_shapes_at_odd_sizes_and_valid_outputs(models, name, b, h, w):
    with torch.no_grad():
        out = models[name](torch.rand(b, 3, h, w))
    assert out["normal"].shape == out["shading"].shape == (b, 3, h, w)
    assert out["mask_logits"].shape == (b, 1, h, w)
    assert torch.allclose(out["normal"].norm(dim=1), torch.ones(b, h, w), atol=1e-4)
    assert (out["shading"] > 0).all() and torch.isfinite(out["shading"]).all()
    assert torch.allclose(out["shading"].log(), out["log_shading"], atol=1e-4)


def test_lite_has_at_most_half_the_parameters(models):
    assert n_params(models["portrait_lite"]) <= n_params(models["portrait"]) / 2


def test_seed_layout_and_config_options():
    model = create_model("portrait")
    assert set(model.heads) == {"normal", "shading", "mask"}
    assert model.down[-1][0].out_channels == 128  # encoder ends at 128 features
    assert len(model.heads["normal"].blocks) == 3
    grey = create_model("portrait_lite", shading_channels=1).eval()
    with torch.no_grad():
        out = grey(torch.rand(1, 3, 20, 20))
    assert out["shading"].shape == (1, 3, 20, 20)
    assert torch.equal(out["shading"][:, 0], out["shading"][:, 2])  # grey shading, broadcast
    with pytest.raises(UserError, match="widths"):
        create_model("portrait", width=3)


def test_exposure_normalisation_is_scale_free():
    image = torch.rand(2, 3, 30, 40)
    a, level_a = normalise_portrait_exposure(image)
    b, level_b = normalise_portrait_exposure(image * torch.tensor([3.0, 0.01]).view(2, 1, 1, 1))
    assert torch.allclose(a, b, atol=1e-5) and torch.allclose(
        level_b / level_a, torch.tensor([3.0, 0.01])
    )


@pytest.fixture
def weights(tmp_path):
    torch.manual_seed(1)
    model = create_model("portrait_lite", widths=[8, 16, 32])
    with torch.no_grad():
        model.heads["mask"].tail[-1].bias.fill_(5.0)  # everything foreground: a non-empty mask
        model.heads["shading"].tail[-1].weight.mul_(1e-3)  # shading ~1.5x the exposure level:
        model.heads["shading"].tail[-1].bias.fill_(0.4)  # albedo mostly unclipped, yet varying
    path = tmp_path / "portrait_lite.safetensors"
    save_weights(path, model, input_size=48)
    return path


def photo(h=70, w=90, seed=0):
    return np.random.default_rng(seed).uniform(0.02, 0.6, (h, w, 3)).astype(np.float32)


def test_estimate_maps_and_albedo_times_shading_reconstructs_the_photo(weights, monkeypatch):
    from photonormals.inference import person

    # The network's own mask (all foreground here), as when ai-edge-litert is missing: MediaPipe's
    # segmentation rightly sees no person in noise (tests/portrait/test_person.py).
    monkeypatch.setattr(person, "available", lambda: False)
    model = PortraitModel(weights, flip_tta=False)
    assert model.name == "portrait_lite" and model.size == 48 and model.device.type == "cpu"
    image = photo()
    est = model.estimate(image)
    assert est.normals.shape == est.shading.shape == est.albedo.shape == image.shape
    assert est.mask.shape == image.shape[:2] and est.mask.dtype == bool
    assert not est.face_found and est.face_box is None  # noise has no face: whole frame
    assert est.mask.all()
    assert np.allclose(np.linalg.norm(est.normals, axis=2), 1, atol=1e-4)
    assert est.albedo.min() >= 0 and est.albedo.max() <= 1
    assert {"crop_s", "network_s", "paste_s"} <= set(est.timings)
    level = np.quantile(image.mean(2)[18:53, 23:68], 0.99)  # generous: floor is 2 % of it
    ok = est.mask[..., None] & (est.albedo < 1) & (est.shading > 0.05 * level)
    assert ok.mean() > 0.3
    assert np.allclose((est.albedo * est.shading)[ok], image[ok], rtol=1e-4, atol=1e-6)


def test_albedo_floor_and_clip():
    image = np.array([[[0.5, 0.2, 0.0]]], np.float32)
    shading = np.array([[[1.0, 0.1, 0.0]]], np.float32)
    assert np.allclose(albedo_from_shading(image, shading, 0.01), [[[0.5, 1.0, 0.0]]])


def test_subject_mask_keeps_the_largest_region_and_fills_only_small_holes():
    mask = np.zeros((100, 100), bool)
    mask[20:90, 20:80] = True  # the subject
    mask[80, 30] = False  # a pinhole: filled
    mask[30:60, 40:60] = False  # a gap of 600 px (> 2 % of the subject): kept as background
    mask[2:6, 2:6] = True  # a stray blob: dropped
    cleaned = subject_mask(mask)
    assert cleaned[80, 30] and not cleaned[45, 50] and not cleaned[3, 3]
    assert cleaned[20:90, 20:80].sum() == 70 * 60 - 600 and cleaned.sum() == 70 * 60 - 600
    assert not subject_mask(np.zeros((8, 8), bool)).any()
    # A face has no holes: inside the detector's box (x, y, w, h) even a large gap is filled.
    assert subject_mask(mask, face_box=(35, 25, 30, 40))[45, 50]
    assert not subject_mask(mask, face_box=(60, 60, 10, 10))[45, 50]
    # ...and the core of the face box is subject even where the network cut a bay into it.
    bay = mask.copy()
    bay[30:60, 20:60] = False  # open to the left edge of the subject: not a hole
    assert not subject_mask(bay)[45, 30]
    with_face = subject_mask(bay, face_box=(20, 25, 40, 40))
    assert (
        with_face[45, 30] and with_face[45, 40] and not with_face[45, 20] and not with_face[30, 22]
    )


def test_the_registry_decides_flip_tta_unless_told(weights):
    assert PortraitModel(weights).flip_tta is model_spec("portrait_lite").flip_tta is True
    assert PortraitModel(weights, flip_tta=False).flip_tta is False


def test_flip_tta_makes_the_wrapper_mirror_symmetric(weights):
    model = PortraitModel(weights, flip_tta=True)
    image = photo(64, 64, seed=3)
    est = model.estimate(image)
    mirrored = model.estimate(np.ascontiguousarray(image[:, ::-1]))
    back = mirrored.normals[:, ::-1] * np.float32([-1, 1, 1])
    assert np.allclose(back, est.normals, atol=2e-3)
    assert np.allclose(mirrored.shading[:, ::-1], est.shading, rtol=2e-3, atol=1e-5)
    assert np.array_equal(mirrored.mask[:, ::-1], est.mask)


def test_unflip_outputs_negates_normal_x():
    out = {"normal": torch.tensor([0.6, 0.0, 0.8]).view(1, 3, 1, 1).repeat(1, 1, 1, 2)}
    out["normal"][..., 1] = torch.tensor([0.0, 0.6, 0.8]).view(1, 3, 1)
    back = unflip_outputs(out)["normal"]
    assert torch.allclose(back[0, :, 0, 1], torch.tensor([-0.6, 0.0, 0.8]))
    assert torch.allclose(back[0, :, 0, 0], torch.tensor([0.0, 0.6, 0.8]))


def test_predict_maps_without_tta_is_the_plain_forward(weights):
    net = load_model(weights)
    x = torch.rand(1, 3, 20, 20)
    with torch.no_grad():
        assert torch.equal(predict_maps(net, x)["normal"], net(x)["normal"])


def test_no_shipped_weights_is_model_not_available(tmp_path, monkeypatch):
    monkeypatch.setenv("PHOTONORMALS_WEIGHTS", str(tmp_path))
    with pytest.raises(ModelNotAvailable, match="single"):
        PortraitModel()


def test_bad_images_are_user_errors(weights):
    model = PortraitModel(weights)
    with pytest.raises(UserError, match="RGB"):
        model.estimate(np.zeros((20, 20), np.float32))
    with pytest.raises(UserError, match="NaN"):
        model.estimate(np.full((20, 20, 3), np.nan, np.float32))
