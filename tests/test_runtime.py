"""The graph runtimes (inference/runtime.py): every shipped model's graphs give torch's outputs
in ONNX Runtime, the multi-light graphs in OpenVINO too, auto falls back from OpenVINO to ONNX
Runtime to torch, and the graph cache is reused and invalidated.

Tolerance: 1e-3 absolute on unit normals and light directions, 1e-3 relative on intensities
and shading, 1e-3 absolute on log-shading and mask logits (measured: ~1e-5 on these inputs; the
runtimes differ only in float32 summation order). The multi-light inputs are rendered spheres,
exposure-normalised as inference does: on uniform noise the set-norm statistics of some
channels are near zero and the light classifier amplifies rounding (up to 0.05 in a direction).
OpenVINO in float32 is held to the same tolerance; in bf16 (8 bits of mantissa) to a mean
normal difference. Exports cost 10-30 s per graph on 2 cores, so each graph is exported once per
session into one temporary cache.
"""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest
import torch
from conftest import render_lambertian, sphere_normals, spread_lights
from photonormals.errors import UserError
from photonormals.inference import runtime
from photonormals.inference.multilight import MultiLightModel
from photonormals.inference.portrait import PortraitModel
from photonormals.io.images import write_linear_png
from photonormals.models.registry import MULTILIGHT, PORTRAIT, list_models, model_spec
from photonormals.models.weights import load_tensors, read_metadata, save_safetensors, weights_dir
from photonormals.photometric.exposure import normalise_exposure

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

ATOL = 1e-3
# The networks the runtime covers: multi-light and portrait (the material model runs in torch).
SHIPPED = [name for name in list_models() if model_spec(name).weights
           and model_spec(name).task in (MULTILIGHT, PORTRAIT)
           and (weights_dir() / model_spec(name).weights).is_file()]


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PHOTONORMALS_ONNX_CACHE", str(folder))
        yield folder


def _estimator(name: str, **kwargs):
    cls = MultiLightModel if model_spec(name).task == MULTILIGHT else PortraitModel
    return cls(weights_dir() / model_spec(name).weights, **kwargs)


def _sphere_set(k: int, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(1, K, 3, H, W) exposure-normalised renders of a sphere and its (1, 1, H, W) mask."""
    normals, mask = sphere_normals(max(h, w))
    normals, mask = normals[:h, :w], mask[:h, :w]
    albedo = np.broadcast_to(np.float32([0.8, 0.6, 0.5]), normals.shape)
    stack = render_lambertian(normals, mask, spread_lights(k, seed=k), np.ones((k, 3), np.float32),
                              albedo)
    x = torch.from_numpy(stack).permute(0, 3, 1, 2)[None]
    m = torch.from_numpy(mask)[None, None].float()
    return normalise_exposure(x * m[:, None], m)[0], m


def test_shipped_models_are_found():
    assert {"fused_fast", "portrait"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_onnx_matches_torch(name, onnx_cache):
    estimator = _estimator(name, runtime="onnx")
    assert estimator.runtime == "onnx" and estimator.net is not estimator.model
    generator = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        if model_spec(name).task == MULTILIGHT:
            # sizes on and off the networks' strides, and two set sizes: the graphs are dynamic
            for k, h, w in ((2, 29, 35), (4, 48, 40)):
                x, m = _sphere_set(k, h, w)
                dirs, ints = estimator.model.estimate_lights(x, m)
                dirs2, ints2 = estimator.net.estimate_lights(x, m)
                assert torch.allclose(dirs2, dirs, atol=ATOL)
                assert torch.allclose(ints2, ints, rtol=ATOL, atol=ATOL * ints.abs().max())
                normal = estimator.model.estimate_normals(x, m, dirs, ints)
                normal2 = estimator.net.estimate_normals(x, m, dirs, ints)
                assert normal2.shape == normal.shape
                assert (normal2 - normal).abs().max() < ATOL
        else:
            for shape in ((1, 3, 32, 32), (2, 3, 30, 41)):
                x = torch.rand(*shape, generator=generator)
                ref, out = estimator.model(x), estimator.net(x)
                assert set(out) == set(ref)
                for key in ("normal", "log_shading", "mask_logits"):
                    assert (out[key] - ref[key]).abs().max() < ATOL, key
                assert torch.allclose(out["shading"], ref["shading"], rtol=ATOL, atol=1e-6)


def test_openvino_matches_torch(onnx_cache, monkeypatch):
    """The multi-light graphs (the ones auto runs in OpenVINO) in float32, then in bf16 where the
    CPU has bf16 hardware."""
    pytest.importorskip("openvino")
    bf16_here = runtime.cpu_has_bf16()
    monkeypatch.setattr(runtime, "cpu_has_bf16", lambda: False)
    estimator = _estimator("fused_fast", runtime="openvino")
    assert estimator.runtime == "openvino" and estimator.net is not estimator.model
    assert any(runtime.openvino_cache(estimator.net.lights.path).glob("*.blob"))
    x, m = _sphere_set(4, 48, 40)
    with torch.inference_mode():
        dirs, ints = estimator.model.estimate_lights(x, m)
        dirs2, _ = estimator.net.estimate_lights(x, m)
        assert torch.allclose(dirs2, dirs, atol=ATOL)
        normal = estimator.model.estimate_normals(x, m, dirs, ints)
        assert (estimator.net.estimate_normals(x, m, dirs, ints) - normal).abs().max() < ATOL
        if bf16_here:
            monkeypatch.setattr(runtime, "cpu_has_bf16", lambda: True)
            bf16 = _estimator("fused_fast", runtime="openvino")
            assert bf16.runtime == "openvino-bf16"
            out = bf16.net.estimate_normals(x, m, dirs, ints)
            assert out.dtype == torch.float32
            assert (out - normal).abs().mean() < 0.02


def test_estimates_agree_end_to_end(onnx_cache):
    """The whole multi-light pipeline (pre- and post-processing shared) on both runtimes."""
    rng = np.random.default_rng(1)
    images = rng.uniform(0.05, 0.9, (4, 40, 52, 3)).astype(np.float32)
    mask = np.zeros((40, 52), bool)
    mask[5:35, 6:46] = True
    torch_est = _estimator("fused_fast", runtime="torch").estimate(images, mask)
    onnx_est = _estimator("fused_fast", runtime="onnx").estimate(images, mask)
    assert np.abs(onnx_est.normals - torch_est.normals).max() < 0.01
    assert np.abs(onnx_est.light_dirs - torch_est.light_dirs).max() < 0.01


def test_auto_falls_back_to_torch_without_graph_runtimes(tmp_path, monkeypatch):
    monkeypatch.setenv("PHOTONORMALS_ONNX_CACHE", str(tmp_path))
    for name in ("onnxruntime", "openvino"):
        monkeypatch.setitem(sys.modules, name, None)  # import fails as if not installed
    lines = []
    estimator = _estimator("fused_fast", runtime="auto", log=lines.append)
    assert estimator.runtime == "torch" and estimator.net is estimator.model
    assert any("runtime: torch" in line and "onnxruntime" in line and "openvino" in line
               for line in lines)
    with pytest.raises(UserError, match="onnxruntime"):
        _estimator("portrait_lite", runtime="onnx")
    with pytest.raises(UserError, match="pip install openvino"):
        _estimator("fused_fast", runtime="openvino")
    assert not list(tmp_path.iterdir())  # nothing exported


def test_auto_without_openvino_runs_onnx_runtime(onnx_cache, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)
    lines = []
    estimator = _estimator("fused_fast", runtime="auto", log=lines.append)
    assert estimator.runtime == "onnx"


def test_torch_and_gpu_choices_never_export(tmp_path, monkeypatch):
    monkeypatch.setenv("PHOTONORMALS_ONNX_CACHE", str(tmp_path))
    monkeypatch.setattr(runtime, "cpu_has_bf16", lambda: False)
    assert _estimator("portrait_lite", runtime="torch").runtime == "torch"
    lines = []  # auto keeps torch where no graph runtime measured faster (the portrait nets)
    assert _estimator("portrait_lite", runtime="auto", log=lines.append).runtime == "torch"
    assert any("no graph runtime measured faster" in line for line in lines)
    assert runtime.select("auto", "cuda", lambda: pytest.fail("exported for a GPU")) is None
    with pytest.raises(UserError, match="CPU"):
        runtime.select("onnx", "cuda", lambda: None)
    with pytest.raises(UserError, match="unknown runtime"):
        runtime.select("tensorrt", "cpu", lambda: None)
    assert not list(tmp_path.iterdir())


def test_cache_is_reused_and_invalidated(onnx_cache, tmp_path, monkeypatch):
    """A second load, even of a copy of the weights elsewhere, reads the cached graph; changed
    weights (same file name) get a new graph, and the stale one is removed."""
    name = "portrait_lite"
    first = _estimator(name, runtime="onnx")  # exported once (by the equivalence test, or here)
    old_graph = first.net.graph.path
    exports = []
    real_export = runtime.export_graph
    counted = lambda *args, **kwargs: exports.append(args) or real_export(*args, **kwargs)
    monkeypatch.setattr(runtime, "export_graph", counted)
    weights = tmp_path / "portrait_lite.safetensors"
    shutil.copy(weights_dir() / model_spec(name).weights, weights)
    copy = PortraitModel(weights, runtime="onnx")
    assert exports == [] and copy.net.graph.path == old_graph

    tensors = load_tensors(weights)
    key = next(k for k in tensors if k.endswith("weight"))
    tensors[key] = tensors[key] * 1.5
    meta = {k: json.dumps(v) for k, v in read_metadata(weights).items()}
    save_safetensors(weights, tensors, meta)
    compiled = runtime.openvino_cache(old_graph)  # as OpenVINO would have left it
    compiled.mkdir(parents=True, exist_ok=True)
    (compiled / "123.blob").write_bytes(b"x")
    changed = PortraitModel(weights, runtime="onnx")
    assert len(exports) == 1
    assert changed.net.graph.path != old_graph and not old_graph.exists()
    assert not compiled.exists()  # the stale graph's compiled form goes with it
    x = torch.rand(1, 3, 32, 32)
    with torch.inference_mode():
        ref = changed.model(x)["normal"]
        assert (changed.net(x)["normal"] - ref).abs().max() < ATOL


def test_predict_runs_on_a_graph_runtime_by_default(cli, tmp_path, onnx_cache, monkeypatch):
    monkeypatch.delenv("PHOTONORMALS_RUNTIME", raising=False)  # conftest's torch default
    normals, mask = sphere_normals(48)
    albedo = np.broadcast_to(np.float32([0.8, 0.6, 0.5]), normals.shape)
    stack = render_lambertian(normals, mask, spread_lights(4, seed=2), np.ones((4, 3), np.float32),
                              albedo)
    images = [tmp_path / f"{k}.png" for k in range(len(stack))]
    for path, image in zip(images, stack, strict=True):
        write_linear_png(path, image)
    code, _out, stderr = cli("predict", "--mode", "multi", "--out", tmp_path / "out", *images)
    assert code == 0, stderr
    expected = "openvino" if runtime.missing_packages("openvino", export=False) == [] else "onnx"
    assert f"runtime: {expected}" in stderr and "for the multilight model" in stderr
    assert json.loads((tmp_path / "out" / "report.json").read_text())["runtime"].startswith(
        expected)


def test_auto_runs_the_portrait_net_in_bf16_only_on_bf16_hardware(tmp_path, monkeypatch):
    monkeypatch.setenv("PHOTONORMALS_ONNX_CACHE", str(tmp_path))
    monkeypatch.setattr(runtime, "cpu_has_bf16", lambda: True)
    lines = []
    estimator = _estimator("portrait_lite", runtime="auto", log=lines.append)
    assert estimator.runtime == "torch-bf16" and any("bf16" in line for line in lines)
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        ref, out = estimator.model(x), estimator.net(x)
    assert all(value.dtype == torch.float32 for value in out.values())
    assert (out["normal"] - ref["normal"]).abs().mean() < 0.05  # bf16 keeps 8 bits of mantissa
    # asked for by name, or where the hardware lacks bf16, the network stays float32
    assert _estimator("portrait_lite", runtime="torch").runtime == "torch"
    assert not runtime.auto_bf16("auto", "cpu", MULTILIGHT.name)
    monkeypatch.setattr(runtime, "cpu_has_bf16", lambda: False)
    assert _estimator("portrait_lite", runtime="auto").runtime == "torch"
    assert not list(tmp_path.iterdir())  # nothing exported
