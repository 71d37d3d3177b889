"""GPU latency, prepared for whenever a GPU is available (issue 28): the shipped models in torch,
fp32 and bf16 autocast, on the workloads of the CPU targets.

For each workload it prints the model pass (the network alone, synchronised) and the request
(the estimator end to end, photo in memory -> maps), fp32 and bf16, the bf16 output's error
against fp32 (normals, in degrees: max and mean over the object) and the peak GPU memory:

* portrait model pass on a 512² and a 1024² input (goal: 1024² < 15 ms on an H100), and the
  portrait request on the bundled 512x512 photo and on it upscaled to 1024x1024;
* multi-light: the shipped model's two stages on 9 x 612x512, and the request.

    python benchmarks/gpu_latency.py [--device cuda] [--repeat 20] [--json FILE]
    python benchmarks/gpu_latency.py --device cpu --smoke     # tiny sizes: checks the script
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from photonormals.inference.multilight import MultiLightModel
from photonormals.inference.portrait import PortraitModel
from photonormals.io.images import read_image
from photonormals.service.bench import PORTRAIT_PHOTO, _stack


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _autocast(device: torch.device, bf16: bool):
    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


class Bf16Model:
    """A model whose calls (forward, estimate_lights, estimate_normals) run under bf16 autocast
    and hand float32 back, as the service runs the network: the estimator's pre- and
    post-processing stay float32."""

    def __init__(self, model, device: torch.device):
        self.model, self.device = model, device

    def _wrap(self, fn):
        def call(*args, **kwargs):
            with torch.autocast(self.device.type, dtype=torch.bfloat16):
                return _float(fn(*args, **kwargs))

        return call

    def __getattr__(self, name):
        attr = getattr(self.model, name)
        return self._wrap(attr) if callable(attr) else attr

    def __call__(self, *args, **kwargs):
        return self._wrap(self.model)(*args, **kwargs)


def _float(out):
    if isinstance(out, dict):
        return {k: v.float() for k, v in out.items()}
    if isinstance(out, tuple):
        return tuple(v.float() for v in out)
    return out.float()


def timed(fn, device, repeat: int) -> tuple[float, object]:
    """Median seconds of fn() over ``repeat`` calls after two warm-ups; and its last result."""
    out = fn()
    out = fn()
    times = []
    for _ in range(repeat):
        _sync(device)
        start = time.perf_counter()
        out = fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def _peak_reset(device):
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak_mib(device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def _angle_deg(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    if not mask.any():
        return 0.0, 0.0
    cos = np.clip((a[mask] * b[mask]).sum(-1), -1.0, 1.0)
    angles = np.degrees(np.arccos(cos))
    return float(angles.max()), float(angles.mean())


def measure(name: str, model_pass, requests, normals_of, device, repeat: int) -> dict:
    """One workload in fp32 and bf16: model pass and request latency, bf16 error, peak memory.
    ``requests``: {"fp32": fn, "bf16": fn}, the estimator with the plain and the bf16 model."""
    row = {"workload": name}
    outputs = {}
    for precision in ("fp32", "bf16"):
        bf16 = precision == "bf16"
        _peak_reset(device)
        with torch.inference_mode(), _autocast(device, bf16):
            model_s, _ = timed(model_pass, device, repeat)
        model_mib = _peak_mib(device)
        _peak_reset(device)
        request_s, estimate = timed(requests[precision], device, max(1, repeat // 2))
        row[precision] = {"model_ms": model_s * 1e3, "request_ms": request_s * 1e3,
                          "model_peak_mib": model_mib, "request_peak_mib": _peak_mib(device)}
        outputs[precision] = estimate
    normals32, mask = normals_of(outputs["fp32"])
    normals16, _ = normals_of(outputs["bf16"])
    row["bf16_normal_error_deg"] = dict(zip(("max", "mean"), _angle_deg(normals16, normals32, mask),
                                            strict=True))
    return row


def photo(side: int) -> np.ndarray:
    image = read_image(PORTRAIT_PHOTO).rgb
    if image.shape[0] != side:
        image = cv2.resize(image, (side, side), interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(image, dtype=np.float32)


def run(device: str, repeat: int, smoke: bool) -> dict:
    device = torch.device(device)
    sides = (64,) if smoke else (512, 1024)
    multi_size, multi_count = ((64, 48), 3) if smoke else ((612, 512), 9)
    rows = []

    portrait = PortraitModel(device=str(device), runtime="torch")
    portrait16 = PortraitModel(device=str(device), runtime="torch")
    portrait16.model = Bf16Model(portrait16.model, device)
    for side in sides:
        x = torch.rand(1, 3, side, side, device=device)
        image = photo(side)
        rows.append(measure(
            f"portrait {side}x{side} (model pass at {side}², request on a {side}² photo)",
            lambda x=x: portrait.model(x),
            {"fp32": lambda image=image: portrait.estimate(image),
             "bf16": lambda image=image: portrait16.estimate(image)},
            lambda est: (est.normals, est.mask), device, repeat))
        print(_format(rows[-1]), flush=True)


    multi = MultiLightModel(device=str(device), runtime="torch")
    multi16 = MultiLightModel(device=str(device), runtime="torch")
    multi16.model = Bf16Model(multi16.model, device)
    stack = _stack(multi_size, multi_count)
    x = torch.from_numpy(stack).permute(0, 3, 1, 2)[None].to(device)
    m = torch.from_numpy(stack.max((0, 3)) > 0)[None, None].float().to(device)

    def model_pass():
        dirs, ints = multi.model.estimate_lights(x, m)
        return multi.model.estimate_normals(x, m, dirs, ints)

    rows.append(measure(
        f"multi-light {multi_count} x {multi_size[0]}x{multi_size[1]} (shipped {multi.name})",
        model_pass,
        {"fp32": lambda: multi.estimate(stack), "bf16": lambda: multi16.estimate(stack)},
        lambda est: (est.normals, est.mask),
        device, repeat))
    print(_format(rows[-1]), flush=True)
    info = {"device": str(device), "torch": torch.__version__, "smoke": smoke}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["gpu_memory_total_mib"] = torch.cuda.get_device_properties(device).total_memory >> 20
    return {**info, "rows": rows}


def _format(row: dict) -> str:
    parts = [row["workload"]]
    for precision in ("fp32", "bf16"):
        r = row[precision]
        mem = (f", peak {r['model_peak_mib']:.0f}/{r['request_peak_mib']:.0f} MiB"
               if r["model_peak_mib"] is not None else "")
        parts.append(f"  {precision}: model {r['model_ms']:.1f} ms, request "
                     f"{r['request_ms']:.1f} ms{mem}")
    err = row["bf16_normal_error_deg"]
    parts.append(f"  bf16 vs fp32 normals: max {err['max']:.2f} deg, mean {err['mean']:.3f} deg")
    return "\n".join(parts)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, to check the script")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA GPU: run with --device cpu (--smoke) to check the script", file=sys.stderr)
        return 2
    result = run(args.device, args.repeat, args.smoke)
    if "gpu" in result:
        print(f"GPU: {result['gpu']} ({result['gpu_memory_total_mib']} MiB), "
              f"torch {result['torch']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
