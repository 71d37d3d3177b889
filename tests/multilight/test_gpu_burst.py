"""The GPU burst runs end to end on a CPU with a tiny budget: bank, fine-tune, before/after."""

import json

from photonormals.models import create_model
from photonormals.models.weights import read_metadata, save_weights
from photonormals.training import burst


def test_the_burst_fine_tunes_and_writes_weights_and_a_table(tmp_path):
    init = tmp_path / "start.safetensors"
    save_weights(init, create_model("fused", light_size=32), steps=7)
    out = tmp_path / "out"
    code = burst.main(["--out", str(out), "--init", str(init), "--device", "cpu",
                       "--minutes", "0.01", "--batch", "2", "--crop", "32", "--bank-size", "4",
                       "--bank-resolution", "32", "--val-count", "1", "--val-size", "32"])
    assert code == 0
    result = json.loads((out / "validation.json").read_text())
    assert result["steps"][0] == 7 and result["steps"][1] > 7
    assert set(result["before"]) == set(result["after"]) >= {"matte narrow", "metal wide", "all"}
    assert 0 <= result["after"]["all"]["normal"] <= 180
    assert read_metadata(out / "fused.safetensors")["steps"] == result["steps"][1]
    assert "| metal wide |" in (out / "validation.md").read_text()
    assert (out / "runs" / "fused" / "log.csv").is_file() and not (out / "cache").exists()
