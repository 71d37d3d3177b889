"""benchmarks/gpu_latency.py, prepared for a GPU, runs end to end on the CPU (--smoke sizes)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_latency.py"


def test_gpu_latency_script_smoke_on_cpu(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("gpu_latency", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "gpu.json"
    assert module.main(["--device", "cpu", "--smoke", "--repeat", "1", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert [row["workload"].split()[0] for row in result["rows"]] == ["portrait", "multi-light"]
    for row in result["rows"]:
        assert row["fp32"]["model_ms"] > 0 and row["bf16"]["request_ms"] > 0
        assert 0 <= row["bf16_normal_error_deg"]["mean"] < 45
    assert "bf16 vs fp32 normals" in capsys.readouterr().out
