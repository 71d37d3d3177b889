"""The material trainer: it learns, resumes, records its runs, exports weights that rebuild the
model, and its GPU burst path (--device, larger batches) runs on a CPU with a tiny budget."""

import json

import numpy as np
import pytest
import torch
from photonormals.errors import UserError
from photonormals.models.weights import load_model, read_metadata
from photonormals.synthetic.material.batches import MaterialBatches
from photonormals.synthetic.material.validation import render_set
from photonormals.training.material import (
    MaterialTrainConfig,
    export,
    material_losses,
    prepare,
    train,
    validate,
)

TINY = {"widths": [8, 8, 16, 16], "blocks": [1, 1, 1, 1]}


class Fixed:
    """One engine batch, served every step: a network must be able to fit it."""

    def __init__(self, size=32, batch=4):
        self.batch = MaterialBatches(size=size).sample(batch, torch.Generator().manual_seed(0))

    def sample(self, batch, generator):
        return self.batch


def _config(tmp_path, **kw):
    kw = {"val_every": 0, "size": 32, "lr": 3e-3, "batch": 4, "model": "material_fast",
          "run_dir": str(tmp_path / "runs"), "overrides": TINY, "precision": "fp32",
          "log_every": 5, **kw}
    return MaterialTrainConfig(**kw)


def test_losses_are_zero_for_the_truth_and_positive_otherwise():
    sample = Fixed().batch
    image, truth = prepare(sample)
    assert image.shape == sample["image"].shape
    losses = material_losses(truth, truth, MaterialTrainConfig())
    assert all(v.item() < 1e-3 for v in losses.values())
    flat = {**truth, "normal": torch.zeros_like(truth["normal"])}
    flat["normal"][:, 2] = 1
    assert material_losses(flat, truth, MaterialTrainConfig())["normal"] > 0.01


def test_training_fits_a_batch_resumes_and_records_its_runs(tmp_path):
    source = Fixed()
    first = train(_config(tmp_path, steps=40), batches=source)
    losses = [r["normal"] for r in first["history"]]
    assert losses[-1] < losses[0]
    second = train(_config(tmp_path, steps=50), batches=source)
    assert second["step"] == 50
    meta = read_metadata(second["checkpoint"])
    runs = meta["extra"]["runs"]
    assert [(r["from_step"], r["to_step"]) for r in runs] == [(0, 40), (40, 50)]

    target = tmp_path / "material.safetensors"
    export(tmp_path / "runs" / "material_fast" / "last.safetensors", target)
    info = read_metadata(target)
    assert info["steps"] == 50 and info["config"]["name"] == "material_fast"
    assert info["data"].startswith("procedural material engine")
    model = load_model(target)
    with torch.inference_mode():
        assert model(torch.rand(1, 3, 20, 28))["normal"].shape == (1, 3, 20, 28)


def test_validation_reports_the_flat_guess_per_family(tmp_path):
    data = render_set(1, 32, seed=0, families=("bricks", "flat"))
    model = load_model_tiny()
    metrics = validate(model, data, torch.device("cpu"))
    assert set(metrics["per_family"]) == {"bricks", "flat"}
    assert metrics["flat_deg"] > 0 and np.isfinite(metrics["normal_deg"])
    # the untrained net's last layer starts at zero: it answers "flat", exactly the guess
    assert metrics["normal_deg"] == pytest.approx(metrics["flat_deg"], abs=1e-3)


def load_model_tiny():
    from photonormals.models import create_model

    return create_model("material_fast", **TINY)


def test_the_cli_trains_on_the_engine_with_the_burst_options(cli, tmp_path, monkeypatch):
    """--device, --batch and --size as a GPU burst would pass them, on a CPU, for two steps."""
    import photonormals.training.material as trainer

    small = render_set(1, 32, seed=0, families=("tiles",))
    monkeypatch.setattr(trainer, "validation_set", lambda *args, **kw: small)  # not the cache
    out = tmp_path / "w.safetensors"
    code, stdout, stderr = cli(
        "train", "--model", "material_fast", "--steps", "2", "--batch", "3", "--size", "32",
        "--device", "cpu", "--precision", "fp32", "--run-dir", tmp_path / "runs",
        "--export", out)
    assert code == 0, stderr
    assert read_metadata(out)["train_config"]["batch"] == 3
    log = (tmp_path / "runs" / "material_fast" / "log.jsonl").read_text().splitlines()
    assert json.loads(log[-1])["step"] == 2 and "val_normal_deg" in json.loads(log[-1])


def test_asking_for_a_missing_gpu_is_a_clear_error(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(UserError, match="CUDA"):
        train(_config(tmp_path, steps=1, device="cuda"), batches=Fixed())


def test_a_log_input_and_a_live_head_build_and_run():
    from photonormals.models import create_model

    model = create_model("material_fast", input="log", head_std=0.01, **TINY).eval()
    assert model.config["input"] == "log" and "head_std" not in model.config
    with torch.inference_mode():
        normal = model(torch.rand(2, 3, 40, 40))["normal"]
    assert normal.shape == (2, 3, 40, 40) and normal[:, :2].abs().max() > 0  # not exactly flat
    with pytest.raises(ValueError):
        create_model("material_fast", input="gamma", **TINY)
