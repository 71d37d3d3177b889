"""Portrait trainer on a tiny fake batch source (Lambertian spheres), metrics, export."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from photonormals.device import training_precision
from photonormals.errors import UserError
from photonormals.evaluation.portrait import (
    mask_iou,
    normal_error_deg,
    portrait_metrics,
    shading_si_error,
)
from photonormals.inference.portrait import PortraitModel
from photonormals.models.weights import load_model, read_metadata
from photonormals.synthetic.flips import mirror_where
from photonormals.training.losses import angular_normal_loss
from photonormals.training.portrait import (
    PortraitTrainConfig,
    export,
    portrait_losses,
    prepare,
    train,
    validate,
)


class Spheres:
    """Random spheres, coloured light from a random direction, grey-noise background: the
    engine's sample format ("image", "normal", "shading", "albedo", "mask", "face")."""

    def __init__(self, size=32):
        self.size = size

    def sample(self, batch, generator):
        s = self.size
        g = lambda *shape: torch.rand(*shape, generator=generator)
        centre = 0.35 + 0.3 * g(batch, 2, 1, 1)
        radius = 0.2 + 0.15 * g(batch, 1, 1, 1)
        grid = (torch.arange(s) + 0.5) / s
        x = ((grid.view(1, 1, 1, s) - centre[:, :1]) / radius).expand(-1, -1, s, s)
        y = (-(grid.view(1, 1, s, 1) - centre[:, 1:]) / radius).expand(-1, -1, s, s)
        r2 = x**2 + y**2
        mask = (r2 < 1).float()
        normal = torch.cat([x, y, (1 - r2).clamp_min(0).sqrt()], 1) * mask
        light = F.normalize(torch.cat([g(batch, 2) * 2 - 1, 0.5 + g(batch, 1)], 1), dim=1)
        colour = 0.5 + g(batch, 3)
        shading = (normal * light[..., None, None]).sum(1, keepdim=True).clamp_min(0) * colour[
            ..., None, None
        ]
        shading = (shading + 0.05) * mask
        albedo = (0.2 + 0.6 * g(batch, 3, 1, 1)).expand(-1, -1, s, s) * mask
        image = albedo * shading + (1 - mask) * 0.3 * g(batch, 1, s, s)
        face = mask * (r2 < 0.5).float()
        return {
            "image": image,
            "normal": normal,
            "shading": shading,
            "albedo": albedo,
            "mask": mask,
            "face": face,
        }


class Fixed:
    def __init__(self, source, batch=4):
        self.batch = source.sample(batch, torch.Generator().manual_seed(0))

    def sample(self, batch, generator):
        return self.batch


def _config(tmp_path, **kw):
    kw = {"val_every": 0, "size": 32, "lr": 3e-3, **kw}
    return PortraitTrainConfig(
        model="portrait_lite",
        batch=4,
        warmup=1,
        device="cpu",
        run_dir=str(tmp_path),
        log_every=1,
        overrides={"widths": [8, 16, 32]},
        **kw,
    )


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_short_run_lowers_the_loss(tmp_path, precision):
    torch.manual_seed(0)
    history = train(
        _config(tmp_path, steps=20, flip_prob=0.0, precision=precision), Fixed(Spheres())
    )["history"]
    assert (
        read_metadata(tmp_path / "portrait_lite" / "last.safetensors")["extra"]["precision"]
        == precision
    )
    first, last = (
        np.mean([r["total"] for r in history[:3]]),
        np.mean([r["total"] for r in history[-3:]]),
    )
    assert last < 0.7 * first
    assert history[-1]["normal"] < history[0]["normal"]


def test_resume_validation_log_and_export(tmp_path):
    validation = {
        k: v.numpy() for k, v in Spheres().sample(6, torch.Generator().manual_seed(5)).items()
    }
    config = _config(tmp_path, steps=3, val_every=3)
    train(config, Spheres(), validation)
    result = train(_config(tmp_path, steps=5, val_every=3), Spheres(), validation)
    assert result["step"] == 5
    log = [
        json.loads(line)
        for line in (tmp_path / "portrait_lite" / "log.jsonl").read_text().splitlines()
    ]
    # resumed at 3, validated at the end
    assert [r["step"] for r in log if "val_mask_iou" in r] == [3, 5]
    assert {"val_normal_face_deg", "val_shading_si_error"} <= set(log[-1])

    target = tmp_path / "weights" / "portrait_lite.safetensors"
    export(tmp_path / "portrait_lite" / "last.safetensors", target)
    meta = read_metadata(target)
    assert meta["steps"] == 5 and meta["input_size"] == 32 and meta["metrics"]["step"] == 5
    assert (
        "CPU" in meta["hardware"]
        and "synthetic" in meta["data"]
        and meta["precision"] in ("fp32", "bf16")
    )
    assert [(r["from_step"], r["to_step"], r["lr"]) for r in meta["runs"]] == [
        (0, 3, 3e-3),
        (3, 5, 3e-3),
    ]
    # the data can change between runs
    assert {r["bank_size"] for r in meta["runs"]} == {config.bank_size}
    assert load_model(target).config["name"] == "portrait_lite"
    est = PortraitModel(target).estimate(
        np.random.default_rng(0).uniform(0, 1, (40, 50, 3)).astype(np.float32)
    )
    assert est.normals.shape == (40, 50, 3)

    with pytest.raises(UserError, match="trained at 32 px, not 64: pass --size 32"):
        train(_config(tmp_path, steps=6, size=64), Spheres(64), validation)
    with pytest.raises(UserError, match="trained at 32 px"):
        train(
            _config(tmp_path / "fresh", steps=1, size=64, init=str(target)), Spheres(64), validation
        )
    # the run's 32 px
    assert train(_config(tmp_path, steps=6, size=None), Spheres(), validation)["step"] == 6

    # A warm start from shipped weights carries their run history on.
    train(_config(tmp_path / "warm", steps=7, lr=1e-3, init=str(target)), Spheres(), validation)
    runs = read_metadata(tmp_path / "warm" / "portrait_lite" / "last.safetensors")["extra"]["runs"]
    assert [(r["from_step"], r["to_step"], r["lr"]) for r in runs] == [
        (0, 3, 3e-3),
        (3, 5, 3e-3),
        (5, 7, 1e-3),
    ]


def test_training_precision_resolves_auto_by_hardware(monkeypatch):
    import photonormals.device as device

    assert training_precision(torch.device("cuda"), "auto") == "bf16"
    assert training_precision(torch.device("cpu"), "fp32") == "fp32"
    monkeypatch.setattr(device, "cpu_has_bf16", lambda: False)
    # emulated bf16 only costs time
    assert training_precision(torch.device("cpu"), "auto") == "fp32"
    monkeypatch.setattr(device, "cpu_has_bf16", lambda: True)
    assert training_precision(torch.device("cpu"), "auto") == "bf16"
    with pytest.raises(UserError, match="unknown precision 'fp16'"):
        training_precision(torch.device("cpu"), "fp16")


def test_mirrored_samples_flip_pixels_and_negate_normal_x():
    sample = Spheres().sample(2, torch.Generator().manual_seed(1))
    flipped = mirror_where(sample, torch.tensor([True, False]))
    assert torch.equal(flipped["mask"][0], sample["mask"][0].flip(-1))
    assert torch.equal(flipped["normal"][0, 0], -sample["normal"][0, 0].flip(-1))
    assert torch.equal(flipped["normal"][0, 1:], sample["normal"][0, 1:].flip(-1))
    assert torch.equal(flipped["image"][1], sample["image"][1])


def test_losses_vanish_for_the_truth_and_shading_loss_ignores_half_the_scale():
    sample = Spheres().sample(2, torch.Generator().manual_seed(2))
    _, truth = prepare(sample)
    config = PortraitTrainConfig()
    log_truth = torch.log(truth["shading"] + 1e-3)
    perfect = {
        "normal": truth["normal"],
        "log_shading": log_truth,
        "mask_logits": (truth["mask"] * 2 - 1) * 30,
    }
    losses = portrait_losses(perfect, truth, config)
    assert losses["normal"] < 1e-6 and losses["shading"] < 1e-9 and losses["mask_bce"] < 1e-6
    scaled = portrait_losses({**perfect, "log_shading": log_truth + 1.0}, truth, config)["shading"]
    assert scaled == pytest.approx(1.0 - config.shading_scale_invariance, abs=1e-5)


def test_angular_loss_is_the_weighted_mean_angle_and_trains_small_errors():
    truth = torch.zeros(1, 3, 2, 2)
    truth[:, 2] = 1.0
    angles = torch.tensor([[0.0, 0.05], [0.5, 1.5]]).view(1, 1, 2, 2)
    predicted = torch.cat(
        [torch.sin(angles), torch.zeros_like(angles), torch.cos(angles)], 1
    ).requires_grad_()
    weight = torch.tensor([[1.0, 1.0], [3.0, 0.0]]).view(1, 1, 2, 2)
    loss = angular_normal_loss(predicted, truth, weight)
    assert loss.item() == pytest.approx((0.05 + 3 * 0.5) / 5, abs=1e-5)
    loss.backward()
    grad = predicted.grad[0, 0]
    assert torch.isfinite(predicted.grad).all()  # including the zero-error pixel
    # A 3-degree error pulls as hard as a 29-degree one (1 - cos would pull 9x less): per
    # unit of weight, the gradient along the tangent (x is cos(angle) of it) is the same.
    along = grad / torch.cos(angles[0, 0])
    assert along[0, 1] == pytest.approx(along[1, 0].item() / 3, rel=1e-3)
    assert grad[1, 1] == 0  # zero weight


def test_face_weight_counts_face_pixels_more():
    sample = Spheres().sample(2, torch.Generator().manual_seed(4))
    _, truth = prepare(sample)
    bent = F.normalize(
        truth["normal"] + torch.tensor([0.3, 0.0, 0.0]).view(1, 3, 1, 1) * truth["face"], dim=1
    )
    out = {
        "normal": bent,
        "log_shading": torch.log(truth["shading"] + 1e-3),
        "mask_logits": truth["mask"] * 60 - 30,
    }
    plain = portrait_losses(out, truth, PortraitTrainConfig(face_weight=0.0))["normal"]
    weighted = portrait_losses(out, truth, PortraitTrainConfig(face_weight=2.0))["normal"]
    assert 0 < plain < weighted  # the error sits on the face only
    cosine = portrait_losses(out, truth, PortraitTrainConfig(normal_loss="cosine"))["normal"]
    assert 0 < cosine < plain  # 1 - cos is far smaller than the angle for small errors


def test_metrics_on_exact_and_known_errors():
    truth = {k: v.numpy() for k, v in Spheres().sample(3, torch.Generator().manual_seed(3)).items()}
    perfect = {
        "normal": truth["normal"],
        "shading": 2.5 * truth["shading"],
        "mask": truth["mask"] > 0.5,
    }
    metrics = portrait_metrics(perfect, truth)
    assert metrics["normal_face_deg"] < 1e-3 and metrics["mask_iou"] == 1.0
    assert metrics["shading_si_error"] < 1e-10  # a global scale is forgiven
    tilted = np.zeros_like(truth["normal"])
    tilted[:, 2] = 1.0
    flat = np.zeros_like(truth["normal"])
    flat[:, 0] = 1.0
    assert normal_error_deg(flat, tilted, np.ones((3, 1, 32, 32))) == pytest.approx(90.0)
    half = np.zeros((1, 1, 4, 4), bool)
    half[..., :2] = True
    assert mask_iou(half, np.ones((1, 1, 4, 4))) == 0.5
    assert (
        shading_si_error(np.ones((1, 3, 4, 4)), 1 + half.repeat(3, 1), np.ones((1, 1, 4, 4))) > 0.05
    )


def test_validate_reads_channels_last_arrays_too():
    model = load_model_for_validation()
    data = {k: v.numpy() for k, v in Spheres().sample(3, torch.Generator().manual_seed(4)).items()}
    channels_last = {k: np.moveaxis(v, 1, -1) for k, v in data.items()}
    assert validate(model, data, "cpu") == pytest.approx(validate(model, channels_last, "cpu"))


def load_model_for_validation():
    from photonormals.models import create_model

    torch.manual_seed(0)
    return create_model("portrait_lite", widths=[8, 16, 32])


def test_body_share_mixes_body_windows_into_the_batches():
    from types import SimpleNamespace

    from photonormals.training.portrait import MixedBatches, config_from_args

    args = SimpleNamespace(size=64, normal_loss="angular", face_weight=2.0, body_share=0.3)
    assert config_from_args(args, model="portrait_lite").body_share == 0.3
    assert config_from_args(SimpleNamespace(**{**vars(args), "body_share": None}),
                            model="portrait_lite").body_share == 0.0

    class Source:
        def __init__(self, name):
            self.name = name

        def sample(self, batch, generator):
            return self.name

    mixed = MixedBatches(Source("face"), Source("body"), 0.3)
    g = torch.Generator().manual_seed(0)
    picks = [mixed.sample(8, g) for _ in range(400)]
    assert 80 < picks.count("body") < 160
