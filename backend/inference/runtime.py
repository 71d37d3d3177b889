"""Where a model's network forward runs: torch, or a graph exported from it to ONNX and run in
ONNX Runtime or OpenVINO.

Torch stays the reference and the trainer. For CPU inference the network alone can also run
from an ONNX graph, in ONNX Runtime (onnxruntime; onnx and onnxscript do the export) or in
OpenVINO (openvino), which on 2 cores run the shipped multi-light network 1.9x and 3.6x faster
than torch eager (README, "Inference runtime"). Only the forward differs: the estimators keep
their pre- and post-processing in torch and numpy, and a graph network is an object with the
torch model's call signature (`OnnxMultiLight`, `OnnxPortrait`) that takes and returns torch
tensors.

Graphs are exported from the loaded weights at first use (``torch.onnx.export(dynamo=True)``,
dynamic image count and size; ~20-60 s per graph on 2 cores) into a cache folder,
``~/.cache/photonormals/onnx`` or ``$PHOTONORMALS_ONNX_CACHE``. A graph's file name holds a hash
of the weight file's bytes, of the model code (``models/*.py`` and this file) and of the torch,
onnxscript and onnxruntime versions, so a changed weight file, model or exporter never reads
a stale graph; older graphs of the same weights file are removed when a new one is written,
and writes are atomic (temp file + rename). OpenVINO keeps its compiled form of a graph in
``openvino/<graph file stem>/`` beside them (a load in 0.1 s instead of 0.6 s), removed with its
graph, so the cache holds one graph and one compiled form per weights file and graph.

OpenVINO computes in bf16 on a CPU with bf16 hardware (AMX or AVX512-BF16; see OPENVINO_BF16),
else in float32.

``runtime``: "torch", "onnx" or "openvino" (an error when it cannot run), or "auto": on a CPU
with bf16 hardware (AMX or AVX512-BF16), torch under bf16 autocast for the tasks where that
measured faster at no cost in accuracy (AUTO_BF16); else, on a CPU, the graph runtimes that
measured faster for the task (AUTO_ENGINES: OpenVINO, then ONNX Runtime, for the multi-light
network), the first whose package and the exporter import and the model exports; else torch,
with one log line saying why.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import shutil
import threading
from pathlib import Path

import torch
from torch import nn

from ..device import RUNTIMES, cpu_has_bf16
from ..errors import UserError

DEFAULT_THREADS = 2  # a graph runtime's threads unless the caller or PHOTONORMALS_THREADS
EXPORT_VERSION = 1  # bump when what is exported changes (inputs, outputs, example shapes)
OPSET = 18
MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
ENGINE_PACKAGES = {"onnx": ["onnxruntime"], "openvino": ["openvino"]}
EXPORT_PACKAGES = ["onnx", "onnxscript"]
ENGINE_NAMES = {"onnx": "ONNX Runtime", "openvino": "OpenVINO"}
# The graph runtimes auto tries on a CPU, in order, by the side-by-side numbers in the README:
# the multi-light network's forward ran 2x faster in OpenVINO (bf16) than in ONNX Runtime, and
# that 1.8x faster than torch. The portrait network (depthwise convs, which torch runs
# channels-last through oneDNN) ran no faster in ONNX Runtime than in torch, and in OpenVINO
# bf16 as fast as in torch under bf16 autocast (which costs no export), so auto keeps torch.
AUTO_ENGINES = {"multilight": ("openvino", "onnx"), "portrait": ()}
# OpenVINO's compute precision where the CPU has bf16 hardware (its own default there too): the
# multi-light request's normals moved 0.4 deg mean from torch's on the benchmark sphere, and
# psm_uw's and the DiLiGenT ball's errors by at most 0.2 deg (README).
OPENVINO_BF16 = "bf16"
# Where auto runs torch under bf16 autocast on a CPU with bf16 hardware: the portrait network
# 2x faster than fp32 on 2 EPYC cores (1.5x faster than ONNX Runtime), its pooled synthetic
# face-normal error 9.5716° -> 9.5718° (docs/portrait/speed.md). Without the hardware oneDNN
# emulates bf16, ~8x slower: never there.
AUTO_BF16 = {"multilight": False, "portrait": True}
PORTRAIT_OUTPUTS = ("normal", "shading", "log_shading", "mask_logits")

log = logging.getLogger("photonormals.runtime")


class RuntimeUnavailable(RuntimeError):
    """A graph runtime cannot run this model here (a package is missing, or export failed)."""


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "photonormals" / "onnx"
    return Path(os.environ.get("PHOTONORMALS_ONNX_CACHE", default))


def default_threads(threads: int | None = None) -> int:
    if threads:
        return int(threads)
    return int(os.environ.get("PHOTONORMALS_THREADS", DEFAULT_THREADS))


def check_runtime(name: str) -> str:
    if name not in RUNTIMES:
        raise UserError(f"unknown runtime {name!r}; use one of {', '.join(RUNTIMES)}")
    return name


def missing_packages(engine: str = "onnx", export: bool = True) -> list[str]:
    """The packages a graph runtime needs that do not import (the exporter's only if
    ``export``: a cached graph runs on its engine alone)."""
    names = ENGINE_PACKAGES[engine] + (EXPORT_PACKAGES if export else [])
    missing = []
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


def _not_installed(missing: list[str]) -> RuntimeUnavailable:
    names = ", ".join(missing)
    return RuntimeUnavailable(f"{names} not installed (pip install {' '.join(missing)})")


def _say(message: str, log_fn) -> None:
    log.info(message)
    if log_fn is not None:
        log_fn(message)


def select(requested: str, device, build, log_fn=None, task: str | None = None):
    """The graph network ``build(engine)`` makes, or None for torch, by the rules in the module
    doc (``task``: the model's task name, for AUTO_ENGINES).

    ``build`` raises RuntimeUnavailable (or any export error) when the model cannot run in that
    engine; with "auto" that moves on to the next engine and then to torch, with an engine
    asked for by name it is a UserError."""
    check_runtime(requested)
    if requested == "torch":
        return None
    if torch.device(device).type != "cpu":
        if requested != "auto":
            raise UserError(f"--runtime {requested} runs on the CPU only, not on {device}")
        return None  # auto on a GPU: torch (CUDA, bf16 autocast) is the fast path there
    engines = AUTO_ENGINES.get(task, ("onnx",)) if requested == "auto" else (requested,)
    reasons = []
    for engine in engines:
        try:
            return build(engine)
        except Exception as exc:  # any failure to export or load the graph: the next choice
            if requested != "auto":
                raise UserError(f"--runtime {requested}: {exc}") from exc
            reasons.append(f"{ENGINE_NAMES[engine]} not used: {exc}")
    if not engines:
        reasons.append(f"auto: no graph runtime measured faster for the {task} network")
    _say(f"runtime: torch ({'; '.join(reasons)})", log_fn)
    return None


def auto_bf16(requested: str, device, task: str, log_fn=None) -> bool:
    """Whether ``requested`` runs the task's network in torch under bf16 autocast here (see
    AUTO_BF16); ``select`` decides otherwise."""
    check_runtime(requested)
    if requested != "auto" or torch.device(device).type != "cpu" or not AUTO_BF16.get(task):
        return False
    if not cpu_has_bf16():
        return False
    _say(f"runtime: torch bf16 autocast (auto: this CPU has bf16 hardware; the {task} network "
         "runs 2x faster so)", log_fn)
    return True


class Bf16Network:
    """A torch network called under CPU bf16 autocast, its outputs handed back as float32 (the
    pre- and post-processing around it stay float32)."""

    def __init__(self, model: nn.Module):
        self.model = model

    def __call__(self, *tensors: torch.Tensor):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = self.model(*tensors)
        if isinstance(out, dict):
            return {name: value.float() for name, value in out.items()}
        return out.float()


def file_hash(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _code_and_versions() -> str:
    digest = hashlib.sha256(f"export {EXPORT_VERSION} opset {OPSET} torch {torch.__version__}"
                            .encode())
    for name in ("onnxscript", "onnxruntime"):
        try:
            digest.update(f" {name} {importlib.import_module(name).__version__}".encode())
        except ImportError:
            digest.update(f" {name} -".encode())
    for source in [*sorted(MODELS_DIR.glob("*.py")), Path(__file__)]:
        digest.update(source.name.encode() + source.read_bytes())
    return digest.hexdigest()


def graph_path(weights: str | os.PathLike, graph: str) -> Path:
    """The cache file of one graph of a weight file (see the module doc for the key)."""
    key = hashlib.sha256(f"{file_hash(weights)} {_code_and_versions()} {graph}".encode())
    return cache_dir() / f"{Path(weights).stem}.{graph}.{key.hexdigest()[:20]}.onnx"


def openvino_cache(graph: Path) -> Path:
    """OpenVINO's compiled-model cache for one graph (its blobs have content-hash names that do
    not say which graph they belong to, so each graph gets its own folder)."""
    return graph.parent / "openvino" / graph.stem


def _feeds(names: list[str], tensors) -> dict:
    """A graph's inputs by name: float32, contiguous CPU numpy views of torch tensors."""
    return {name: t.detach().to("cpu", torch.float32).contiguous().numpy()
            for name, t in zip(names, tensors, strict=True)}


class OnnxGraph:
    """One exported graph in an ONNX Runtime CPU session; call it with torch tensors."""

    runtime = "onnx"

    def __init__(self, path: Path, threads: int | None = None):
        import onnxruntime as ort  # `exported` checked it imports

        options = ort.SessionOptions()
        options.intra_op_num_threads = default_threads(threads)
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self.path = path
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]

    def __call__(self, *tensors: torch.Tensor) -> list[torch.Tensor]:
        feeds = _feeds(self.inputs, tensors)
        return [torch.from_numpy(out) for out in self.session.run(None, feeds)]


class OpenVinoGraph:
    """One exported graph compiled by OpenVINO for the CPU; call it with torch tensors. In bf16
    on a CPU with bf16 hardware (OPENVINO_BF16), else float32."""

    def __init__(self, path: Path, threads: int | None = None):
        import openvino as ov  # `exported` checked it imports

        precision = OPENVINO_BF16 if cpu_has_bf16() else "f32"
        self.runtime = "openvino-bf16" if precision == OPENVINO_BF16 else "openvino"
        self.path = path
        self.compiled = ov.Core().compile_model(str(path), "CPU", {
            "INFERENCE_NUM_THREADS": default_threads(threads),
            "INFERENCE_PRECISION_HINT": precision,
            "PERFORMANCE_HINT": "LATENCY",
            "CACHE_DIR": str(openvino_cache(path)),
        })
        self.inputs = [i.get_any_name() for i in self.compiled.inputs]
        self.request = self.compiled.create_infer_request()
        self.lock = threading.Lock()  # one request, reused: its buffers are not thread-safe

    def __call__(self, *tensors: torch.Tensor) -> list[torch.Tensor]:
        feeds = _feeds(self.inputs, tensors)
        with self.lock:
            results = self.request.infer(feeds)
            # copies: the request overwrites its output buffers on the next call
            return [torch.from_numpy(results[out].copy()) for out in self.compiled.outputs]


GRAPH_RUNNERS = {"onnx": OnnxGraph, "openvino": OpenVinoGraph}


def exported(module: nn.Module, weights, graph: str, example: tuple, dynamic_shapes: tuple,
             input_names: list[str], output_names: list[str], threads: int | None = None,
             log_fn=None, engine: str = "onnx"):
    """The cached graph of ``module`` for these weights, exported first if it is not there, in
    ``engine``'s runner (OnnxGraph or OpenVinoGraph)."""
    path = graph_path(weights, graph)
    # the engine too before a costly export, and the exporter only when there is no graph yet
    missing = missing_packages(engine, export=not path.is_file())
    if missing:
        raise _not_installed(missing)
    if not path.is_file():
        _say(f"runtime: exporting {Path(weights).stem} {graph} to ONNX (once, into {path.parent})",
             log_fn)
        export_graph(module, path, example, dynamic_shapes, input_names, output_names)
        for old in path.parent.glob(f"{Path(weights).stem}.{graph}.*.onnx"):
            if old != path:
                old.unlink(missing_ok=True)
                shutil.rmtree(openvino_cache(old), ignore_errors=True)
    return GRAPH_RUNNERS[engine](path, threads)


def export_graph(module, path: Path, example, dynamic_shapes, input_names, output_names) -> None:
    import warnings

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    module = module.eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        for name in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript"):
            logging.getLogger(name).setLevel(logging.ERROR)
        program = torch.onnx.export(
            module, example, dynamo=True, dynamic_shapes=dynamic_shapes, opset_version=OPSET,
            input_names=input_names, output_names=output_names, verbose=False,
            external_data=False,
        )
        program.save(str(tmp))
    os.replace(tmp, path)


# Example shapes for the export: sizes that are not multiples of the networks' strides, so the
# padding the models do for such sizes is traced (an exact multiple would export a graph that
# skips it), and more than one image, so the set size stays symbolic.
EXAMPLE_IMAGES, EXAMPLE_HEIGHT, EXAMPLE_WIDTH = 3, 37, 45


def _dims():
    # DYNAMIC rather than named ranges: the exporter infers how the dims relate (the padding's
    # derived sizes), and still fails rather than silently fix a dim to the example's size.
    return (torch.export.Dim.DYNAMIC,) * 3


class _Lights(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, images, mask):
        return self.model.estimate_lights(images, mask)


class _Normals(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, images, mask, dirs, ints):
        return self.model.estimate_normals(images, mask, dirs, ints)


class _PortraitForward(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, image):
        out = self.model(image)
        return tuple(out[name] for name in PORTRAIT_OUTPUTS)


class OnnxMultiLight:
    """A multi-light model's two stages (`estimate_lights`, `estimate_normals`) as ONNX graphs
    run by ``engine`` ("onnx" or "openvino"), for one set (B = 1) of any image count and size."""

    def __init__(self, model: nn.Module, weights, threads: int | None = None, log_fn=None,
                 engine: str = "onnx"):
        k, h, w = _dims()
        images = torch.rand(1, EXAMPLE_IMAGES, 3, EXAMPLE_HEIGHT, EXAMPLE_WIDTH)
        mask = torch.ones(1, 1, EXAMPLE_HEIGHT, EXAMPLE_WIDTH)
        with torch.no_grad():
            dirs, ints = model.estimate_lights(images, mask)
        self.lights = exported(
            _Lights(model), weights, "lights", (images, mask),
            ({1: k, 3: h, 4: w}, {2: h, 3: w}), ["images", "mask"], ["dirs", "ints"],
            threads, log_fn, engine)
        self.normals = exported(
            _Normals(model), weights, "normals", (images, mask, dirs, ints),
            ({1: k, 3: h, 4: w}, {2: h, 3: w}, {1: k}, {1: k}),
            ["images", "mask", "dirs", "ints"], ["normal"], threads, log_fn, engine)
        self.runtime = self.normals.runtime

    def estimate_lights(self, images, mask):
        dirs, ints = self.lights(images, mask)
        return dirs, ints

    def estimate_normals(self, images, mask, dirs, ints):
        if ints.ndim == 2:
            ints = ints.unsqueeze(-1)
        return self.normals(images, mask, dirs, ints.expand(*dirs.shape))[0]


class OnnxPortrait:
    """A portrait network as an ONNX graph run by ``engine`` ("onnx" or "openvino"):
    ``net(image (B, 3, H, W)) -> dict`` of its outputs, any batch and size."""

    def __init__(self, model: nn.Module, weights, threads: int | None = None, log_fn=None,
                 engine: str = "onnx"):
        b, h, w = _dims()
        example = torch.rand(2, 3, EXAMPLE_HEIGHT, EXAMPLE_WIDTH)
        self.graph = exported(
            _PortraitForward(model), weights, "forward", (example,), ({0: b, 2: h, 3: w},),
            ["image"], list(PORTRAIT_OUTPUTS), threads, log_fn, engine)
        self.runtime = self.graph.runtime

    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        return dict(zip(PORTRAIT_OUTPUTS, self.graph(image), strict=True))
