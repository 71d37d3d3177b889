"""`serve --ray` and `batch --ray` flags: checked before Ray is touched, and one clear line when
Ray is not installed. serve.yaml builds the deployment (no cluster needed)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("args, message", [
    (["serve", "--replicas", "2"], "--replicas is a --ray option"),
    (["serve", "--ray", "--replicas", "0"], "--replicas must be at least 1"),
    (["serve", "--ray", "--replicas", "3", "--max-replicas", "2"], "at least --replicas"),
    (["serve", "--ray", "--gpus-per-replica", "-1"], "must be 0 or more"),
    (["serve", "--ray", "--results-dir", "x"], "--results-dir does not go with --ray"),
    (["serve", "--ray", "--host", "0.0.0.0"], "without a token"),
])
def test_bad_ray_flags_exit_2_in_one_line(cli, args, message):
    code, out, err = cli(*args)
    assert code == 2 and message in err and err.count("\n") == 1 and out == ""


def test_ray_not_installed_says_how_to_install_it(cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    code, _, err = cli("serve", "--ray")
    assert code == 2 and "pip install 'photonormals[ray]'" in err


def test_serve_yaml_builds_the_deployment():
    pytest.importorskip("ray.serve")
    import yaml
    from photonormals.service import ray_serve

    config = yaml.safe_load((ROOT / "examples" / "serve.yaml").read_text())
    app = config["applications"][0]
    assert app["import_path"] == "photonormals.service.ray_serve:app_builder"
    built = ray_serve.app_builder(app["args"])
    assert type(built).__name__ == "Application"


def test_onnx_threads_follow_the_cores_ray_reserves(monkeypatch):
    from photonormals.ray_cluster import worker_threads

    monkeypatch.delenv("PHOTONORMALS_THREADS", raising=False)
    assert worker_threads(None, 1.0) == 1 and worker_threads(None, 0.5) == 1
    assert worker_threads(None, 4.0) == 4 and worker_threads(3, 1.0) == 3
    monkeypatch.setenv("PHOTONORMALS_THREADS", "2")
    assert worker_threads(None, 1.0) is None  # the variable reaches the workers and decides
