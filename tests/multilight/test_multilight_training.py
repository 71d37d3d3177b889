"""Training loop, checkpoints and the learned multi-light path, on tiny synthetic data."""

import json

import numpy as np
import pytest
import torch
from conftest import render_lambertian, sphere_normals, spread_lights
from photonormals.cli.main import main
from photonormals.models import create_model
from photonormals.models.weights import save_weights
from photonormals.synthetic.multilight.bank import build_bank
from photonormals.synthetic.multilight.batches import MultiLightBatches
from photonormals.training.multilight import MultiLightTrainConfig, train


@pytest.fixture(scope="module")
def batches():
    return MultiLightBatches(build_bank(12, 48, seed=3))


class FixedBatch:
    """Always the same batch: the loss on it must fall if the loop is wired right."""

    def __init__(self, batches):
        self.batch = batches.sample(2, 3, 32, torch.Generator().manual_seed(0))

    def sample(self, *args):
        return self.batch


def _config(tmp_path, **kw):
    return MultiLightTrainConfig(
        model="fused",
        batch=2,
        images=(3, 3),
        crop=32,
        lr=2e-3,
        warmup=1,
        run_dir=str(tmp_path),
        log_every=1,
        overrides={"light_size": 32},
        **kw,
    )


def _total(record):
    return record["normal"] + record["azimuth"] + record["elevation"] + record["intensity"]


def test_batches_are_consistent(batches):
    sample = batches.sample(3, 5, 32, torch.Generator().manual_seed(1))
    assert sample["images"].shape == (3, 5, 3, 32, 32)
    assert sample["normals"].shape == (3, 3, 32, 32) and sample["mask"].shape == (3, 1, 32, 32)
    norms = sample["normals"].norm(dim=1)[sample["mask"][:, 0] > 0]
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-4)
    assert (sample["images"] * (1 - sample["mask"][:, None])).abs().max() == 0  # black background
    assert torch.allclose(sample["light_dirs"].norm(dim=-1), torch.ones(3, 5))
    assert sample["light_ints"].min() >= 0.2 and sample["light_ints"].max() <= 2.0


def test_zoomed_crops_show_smoother_surfaces(batches):
    """max_zoom magnifies crops past 1:1, so neighbouring normals differ less: the network
    also sees objects larger than the bank's, as in real photos."""

    def roughness(max_zoom):
        geometry = batches.geometry(64, 32, torch.Generator().manual_seed(2), max_zoom)
        normals, mask = geometry[0], geometry[2]
        both = mask[..., 1:] * mask[..., :-1]
        step = (normals[..., 1:] - normals[..., :-1]).norm(dim=1, keepdim=True)
        return (step * both).sum() / both.sum()

    assert roughness(8.0) < 0.8 * roughness(1.0)  # measured: 0.65x (half the crops zoom in)


def test_a_short_run_lowers_the_loss(tmp_path, batches):
    torch.manual_seed(0)
    result = train(_config(tmp_path, steps=25), FixedBatch(batches))
    history = result["history"]
    assert np.mean([_total(r) for r in history[-3:]]) < 0.8 * np.mean(
        [_total(r) for r in history[:3]]
    )


def test_training_resumes_from_its_checkpoint(tmp_path, batches, capsys):
    train(_config(tmp_path, steps=3), batches)
    result = train(_config(tmp_path, steps=5), batches)
    assert "resumed fused at step 3" in capsys.readouterr().out
    assert result["step"] == 5 and [r["step"] for r in result["history"]] == [4, 5]


def test_predict_multi_uses_the_shipped_model(tmp_path, monkeypatch, capsys):
    weights = tmp_path / "weights"
    weights.mkdir()
    save_weights(weights / "tiny.safetensors", create_model("fused", light_size=32).eval(), steps=1)
    (weights / "index.json").write_text(json.dumps({"multi": "tiny.safetensors"}))
    monkeypatch.setenv("PHOTONORMALS_WEIGHTS", str(weights))

    normals, mask = sphere_normals(40)
    directions = spread_lights(4, seed=2)
    images = render_lambertian(normals, mask, directions, np.ones((4, 3), np.float32),
                               np.full(normals.shape, 0.6, np.float32))
    paths = []
    for k, image in enumerate(images):
        from photonormals.io.images import write_linear_png

        write_linear_png(tmp_path / f"{k}.png", image)
        paths.append(str(tmp_path / f"{k}.png"))
    out = tmp_path / "out"
    assert main(["predict", "--out", str(out), *paths]) == 0, capsys.readouterr().err
    lights = json.loads((out / "lights.json").read_text())
    assert lights["source"] == "estimated" and len(lights["lights"]) == 4
    assert all(abs(np.linalg.norm(light["direction"]) - 1) < 1e-4 for light in lights["lights"])
    report = json.loads((out / "report.json").read_text())
    assert report["method"] == "uncalibrated_photometric_stereo" and report["model"] == "fused"
    predicted = np.load(out / "normal.npy")
    assert np.allclose(np.linalg.norm(predicted[mask], axis=1), 1, atol=1e-4)


def test_no_shipped_weights_means_model_not_available(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PHOTONORMALS_WEIGHTS", str(tmp_path))
    from photonormals.io.images import write_linear_png

    for k in range(2):
        write_linear_png(tmp_path / f"{k}.png", np.full((16, 16, 3), 0.5, np.float32))
    code = main(
        ["predict", "--out", str(tmp_path / "o"), str(tmp_path / "0.png"), str(tmp_path / "1.png")]
    )
    assert code == 3 and "model not available" in capsys.readouterr().err


def test_rig_lights_share_one_cone_near_the_view():
    from photonormals.synthetic.multilight.lights import CONE_DEG, sample_light_rigs

    dirs = sample_light_rigs(400, 9, torch.Generator().manual_seed(2), cone_prob=1.0)
    assert torch.allclose(dirs.norm(dim=-1), torch.ones(400, 9), atol=1e-5)
    assert dirs[..., 2].min() > 0  # every light in front of the surface
    axis = torch.nn.functional.normalize(dirs.mean(1), dim=-1)
    spread = torch.rad2deg(torch.acos((dirs * axis[:, None]).sum(-1).clamp(-1, 1))).amax(1)
    assert spread.max() < 2 * CONE_DEG[1] and spread.median() < CONE_DEG[1]
    hemisphere = sample_light_rigs(400, 9, torch.Generator().manual_seed(2), cone_prob=0.0)
    wide = torch.nn.functional.normalize(hemisphere.mean(1), dim=-1)
    wide_spread = torch.rad2deg(torch.acos((hemisphere * wide[:, None]).sum(-1))).amax(1)
    assert wide_spread.median() > spread.median() + 20


def test_the_intensity_range_reaches_the_batches(batches):
    sample = batches.sample(4, 6, 32, torch.Generator().manual_seed(3), light_rigs=0.5,
                            intensity_range=(1.0, 2.0))
    raw_ratio = sample["light_ints"].amax(dim=(1, 2)) / sample["light_ints"].amin(dim=(1, 2))
    assert raw_ratio.max() <= 2.0 + 1e-4  # relative intensities keep the range's max/min


def test_the_cli_takes_rigs_an_intensity_range_and_linear_codes():
    from types import SimpleNamespace

    from photonormals.errors import UserError
    from photonormals.training.multilight import config_from_args

    args = SimpleNamespace(images="3", crop=32, zoom=None, light_rigs=0.25,
                           intensity_range="1-2", light_size=None, stratified_intensities=True,
                           linear_codes=0.3)
    config = config_from_args(args, model="fused")
    assert config.light_rigs == 0.25 and config.intensity_range == (1.0, 2.0)
    assert config.linear_codes == 0.3
    assert config.stratified_intensities
    with pytest.raises(UserError, match="LOW-HIGH"):
        config_from_args(SimpleNamespace(**{**vars(args), "intensity_range": "a-b"}),
                         model="fused")


def test_stratified_intensities_span_the_range_in_every_set():
    from photonormals.synthetic.multilight.lights import sample_light_intensities

    ints = sample_light_intensities(50, 8, torch.Generator().manual_seed(4), stratified=True)
    strata = ((ints[..., 0] - 0.2) / 1.8 * 4).floor().sort(dim=1).values
    assert torch.equal(strata, torch.tensor([0.0, 0, 1, 1, 2, 2, 3, 3]).expand(50, 8))


def test_a_warm_start_near_its_last_step_says_the_schedule_is_nearly_over(tmp_path, capsys):
    """--steps is the run's last step, counted from 0: a warm start from weights that already
    have most of them would train at the cosine's floor, so the run says so."""
    from photonormals.training.checkpoint import start_run

    init = tmp_path / "shipped.safetensors"
    save_weights(init, create_model("sdps_lite"), steps=900)
    start_run("near", tmp_path, "sdps_lite", {}, 1e-3, "cpu", str(init), steps=1000)
    assert "warning: --steps 1000 is the step this run ends at" in capsys.readouterr().out
    start_run("far", tmp_path, "sdps_lite", {}, 1e-3, "cpu", str(init), steps=100_000)
    assert "warning" not in capsys.readouterr().out
