"""`photonormals bench`: the service measured end to end, as the Blender add-on uses it.

A real server runs in a subprocess; requests go through photonormals.client. Per resolution and
image count: request latency (submit -> poll -> zip fetched and extracted), throughput (several
jobs submitted at once), model-only time (the server's own report.json timings), and the
server's peak memory. Then the shipped multi-light model against the `sdps` reference on one
input, in this process. The single-portrait row appears once weights/index.json names a model;
it sends a real 512x512 head-and-shoulders JPEG (bench_portrait.jpg, beside this file: a crop of
an official White House photograph, public domain), since the portrait model rightly finds no
person in a synthetic sphere.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from ..client import Client
from ..io.images import write_srgb_png
from ..models.weights import weights_dir
from .launch import start_server, stop_server

PORTRAIT_PHOTO = Path(__file__).with_name("bench_portrait.jpg")
TARGETS = {"portrait_512_s": 0.5, "multi_9x612x512_s": 2.0, "speedup_vs_sdps": 3.0}
# Untimed portrait requests first: a fresh server's first two take 2.2-2.6 s (the model loads,
# then the first pass at each of the network's shapes), the rest ~0.5 s.
PORTRAIT_WARMUPS = 2


def run_bench(sizes, counts, repeat=2, throughput_jobs=2, device="auto", log=print,
              runtime="auto") -> dict:
    with tempfile.TemporaryDirectory(prefix="photonormals-bench-") as tmp:
        tmp = Path(tmp)
        process, url = start_server(
            tmp, "--device", device, "--max-queue", "64", "--runtime", runtime
        )
        try:
            client = Client(url, timeout=600)
            health = client.health()
            log(f"server on {health['device']}; warming the multi-light model")
            client.predict(
                _photo_set(tmp / "warm", (64, 64), 3),
                tmp / "warm-out",
                {"mode": "multi"},
                poll=0.01,
            )
            rows = []
            for size in sizes:
                for count in counts:
                    photos = _photo_set(tmp / f"set-{size[0]}x{size[1]}-{count}", size, count)
                    for method, options in (("multi (shipped model)", {"mode": "multi"}),
                                            ("calibrated", {"lights": _lights(count).tolist()})):
                        row = _measure(client, photos, options, repeat, throughput_jobs, tmp)
                        rows.append({"method": method, "size": list(size), "images": count, **row})
                        log(_format_row(rows[-1]))
            portrait = (
                _portrait(client, tmp, repeat) if health["models"]["single"]["available"] else None
            )
            server_memory = client.health()
        finally:
            stop_server(process, timeout=30)
        largest = max(sizes, key=lambda s: s[0] * s[1])
        comparison = compare_models(_stack(largest, max(counts)), device, log, runtime)
    return {
        "device": health["device"], "runtime": runtime, "cpu_count": os.cpu_count(),
        "torch_threads": _torch_threads(),
        "rows": rows, "portrait_512": portrait, "comparison": comparison,
        "server_memory": server_memory["memory"], "server_gpu_memory": server_memory["gpu_memory"],
        "targets": TARGETS,
    }


def _measure(client: Client, photos, options, repeat, throughput_jobs, tmp) -> dict:
    latencies, model = [], []
    for _ in range(repeat):
        out = tmp / f"out-{time.monotonic_ns()}"
        start = time.perf_counter()
        client.predict(photos, out, options, poll=0.005)
        latencies.append(time.perf_counter() - start)
        timings = json.loads((out / "report.json").read_text())["timings"]
        model.append(sum(timings.get(key, 0.0) for key in ("prepare_s", "lights_s", "normals_s"))
                     or timings["solve_s"])
    start = time.perf_counter()
    jobs = [client.submit(photos, options) for _ in range(throughput_jobs)]
    for job in jobs:
        client.wait(job, poll=0.005)
    elapsed = time.perf_counter() - start
    return {"latency_s": statistics.median(latencies), "model_s": statistics.median(model),
            "throughput_jobs_per_s": throughput_jobs / elapsed,
            "throughput_images_per_s": throughput_jobs * len(photos) / elapsed}


def _portrait(client: Client, tmp, repeat) -> dict:
    photo = [PORTRAIT_PHOTO]  # uploaded as is: the client only reads it
    latencies = []
    for _ in range(PORTRAIT_WARMUPS + repeat):
        start = time.perf_counter()
        client.predict(
            photo, tmp / f"portrait-out-{time.monotonic_ns()}", {"mode": "single"}, poll=0.005
        )
        latencies.append(time.perf_counter() - start)
    return {"latency_s": statistics.median(latencies[PORTRAIT_WARMUPS:])}


def compare_models(stack: np.ndarray, device: str, log=print, runtime: str = "torch") -> dict:
    """Model-only time of the shipped multi-light model and the sdps reference on one stack."""
    import torch

    from ..device import pick_device
    from ..inference.multilight import MultiLightModel
    from ..models.registry import MULTILIGHT, model_spec
    from ..models.weights import shipped_weights

    torch_device = pick_device(device)
    results = {}
    reference = weights_dir() / model_spec("sdps").weights
    for label, path in (("shipped", shipped_weights(MULTILIGHT)), ("sdps", reference)):
        model = MultiLightModel(path, device=str(torch_device), runtime=runtime)
        model.estimate(stack[:2, ::8, ::8])  # warm-up (allocator, kernels) on a small copy
        if torch_device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        model.estimate(stack)
        if torch_device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        results[label] = {"model": model.name, "weights": path.name, "seconds": seconds,
                          "cuda_max_allocated_mib": (torch.cuda.max_memory_allocated() >> 20)
                          if torch_device.type == "cuda" else None}
        log(
            f"model only, {stack.shape[0]} x {stack.shape[2]}x{stack.shape[1]}: {path.name} "
            f"{seconds:.2f} s"
        )
        del model
    results["speedup"] = results["sdps"]["seconds"] / results["shipped"]["seconds"]
    results["input"] = [int(stack.shape[0]), int(stack.shape[2]), int(stack.shape[1])]
    return results


def format_report(result: dict) -> str:
    lines = [
        f"device: {result['device']} ({result['cpu_count']} CPU cores, torch threads "
        f"{result['torch_threads']}, runtime {result.get('runtime', 'torch')})",
        "",
        "| method | size | images | request latency (s) | model only (s) | throughput (jobs/s) | "
        "images/s |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [_format_row(row, table=True) for row in result["rows"]]
    c = result["comparison"]
    lines += [
        "",
        (
            f"Model only on {c['input'][0]} x {c['input'][1]}x{c['input'][2]}: shipped "
            f"{c['shipped']['model']} {c['shipped']['seconds']:.2f} s, sdps "
            f"{c['sdps']['seconds']:.2f} s: "
            f"speed-up x{c['speedup']:.2f} (target >= x{TARGETS['speedup_vs_sdps']:g}: "
            f"{verdict(c['speedup'] >= TARGETS['speedup_vs_sdps'])})"
        ),
    ]
    memory, gpu = result["server_memory"], result["server_gpu_memory"]
    lines.append(f"Server peak RSS {memory['peak_rss_mib']} MiB"
                 + (f"; CUDA max allocated {gpu['max_allocated_mib']} MiB" if gpu else ""))
    portrait = result["portrait_512"]
    lines.append(
        "512x512 portrait request: "
        + (
            f"{portrait['latency_s']:.3f} s"
            if portrait
            else "not available (no single-portrait model in weights/index.json)"
        )
        + f" (target < {TARGETS['portrait_512_s']} s"
        + (f": {verdict(portrait['latency_s'] < TARGETS['portrait_512_s'])})" if portrait else ")")
    )
    target = [row for row in result["rows"] if row["size"] == [612, 512] and row["images"] == 9
              and row["method"].startswith("multi")]
    if target:
        latency = target[0]["latency_s"]
        lines.append(f"9 x 612x512 multi-light request: {latency:.2f} s "
                     f"(target < {TARGETS['multi_9x612x512_s']:g} s: "
                     f"{verdict(latency < TARGETS['multi_9x612x512_s'])})")
    return "\n".join(lines)


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def _format_row(row: dict, table: bool = False) -> str:
    values = [
        row["method"],
        f"{row['size'][0]}x{row['size'][1]}",
        str(row["images"]),
        f"{row['latency_s']:.3f}",
        f"{row['model_s']:.3f}",
        f"{row['throughput_jobs_per_s']:.2f}",
        f"{row['throughput_images_per_s']:.1f}",
    ]
    return "| " + " | ".join(values) + " |" if table else " ".join(values)


# ---------------------------------------------------------------------------- inputs and server


def _lights(count: int) -> np.ndarray:
    azimuth = np.linspace(0, 2 * np.pi, count, endpoint=False)
    polar = np.radians(np.linspace(20, 50, count))
    return np.stack(
        [np.sin(polar) * np.cos(azimuth), np.sin(polar) * np.sin(azimuth), np.cos(polar)], 1
    )


def _stack(size, count) -> np.ndarray:
    """(K, H, W, 3) linear renders of a textured sphere under K lights; size is (width, height)."""
    width, height = size
    rows, cols = np.mgrid[0:height, 0:width] + 0.5
    radius = 0.45 * min(width, height)
    x, y = (cols - width / 2) / radius, -(rows - height / 2) / radius
    inside = x**2 + y**2 < 1
    normals = np.stack([x, y, np.sqrt(np.clip(1 - x**2 - y**2, 0, None))], -1) * inside[..., None]
    albedo = 0.5 + 0.3 * np.sin(cols[..., None] / 7 + np.array([0, 1, 2])) * np.cos(
        rows[..., None] / 11
    )
    shading = np.clip(np.einsum("hwc,kc->khw", normals, _lights(count)), 0, None)
    return (shading[..., None] * albedo[None] * inside[None, ..., None]).astype(np.float32)


def _photo_set(folder: Path, size, count) -> list[Path]:
    folder.mkdir(parents=True)
    paths = []
    for k, image in enumerate(_stack(size, max(count, 1))[:count]):
        paths.append(folder / f"{k + 1:03d}.png")
        write_srgb_png(paths[-1], image)  # 8-bit sRGB, as a camera would give
    return paths


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()

