"""CPU runtimes side by side: torch eager, ONNX Runtime, OpenVINO and cheap torch variants.

Candidates, in one process: torch eager, ONNX Runtime, OpenVINO (bf16 on bf16 hardware), torch
channels-last, torch under bf16 autocast. Workloads (the issue-28 targets): a 9 x 612x512 multi-
light request (`MultiLightModel.estimate`: exposure, lights, normals with the coarse shape pass,
light fit; images already decoded) with the shipped multi-light model, and a portrait request
(`PortraitModel.estimate`: face crop, network with flip averaging, lighting fit, paste-back) on
the bundled 512x512 photo and on it upscaled to 1024x1024. Candidates run interleaved (A B C A B
C ...) and each reports the median, so a load that changes during the run hits all of them
alike; the process CPU time (all threads) beside it is less sensitive to other processes' load.
Also prints the network-only time per candidate (the estimator's own timings) and the difference
from torch's normals (largest component; mean angle where both masks hold).

    python benchmarks/runtime_latency.py [--repeat 7] [--threads 2] [--only multi,portrait]
        [--candidates torch,onnx,openvino,channels_last,bf16] [--json FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from gpu_latency import Bf16Model  # the same wrapper, on the CPU
from photonormals.device import cpu_has_bf16
from photonormals.inference.multilight import MultiLightModel
from photonormals.inference.portrait import PortraitModel
from photonormals.io.images import read_image
from photonormals.service.bench import PORTRAIT_PHOTO, _stack

TARGETS_S = {"multi 9x612x512": 0.8, "portrait 512": 0.15, "portrait 1024": 0.3}
NETWORK_KEYS = ("lights_s", "normals_s", "network_s")


def candidates(cls, names, threads):
    out = {}
    for name in names:
        if name == "bf16" and not cpu_has_bf16():
            print("bf16: skipped, this CPU has no bf16 hardware (emulated ~8x slower)")
            continue
        est = cls(runtime=name if name in ("onnx", "openvino") else "torch", threads=threads)
        if name == "channels_last":
            est.model = est.model.to(memory_format=torch.channels_last)
        elif name == "bf16":
            est.model = Bf16Model(est.model, torch.device("cpu"))
        out[name] = est
    return out


def side_by_side(estimators: dict, run, repeat: int) -> dict:
    """Interleaved repeats of run(estimator) -> estimate; median wall time per candidate."""
    results = {name: {"total": [], "network": [], "cpu": []} for name in estimators}
    outputs = {}
    for name, est in estimators.items():  # warm-up, and the outputs compared
        outputs[name] = run(est)
    for _ in range(repeat):
        for name, est in estimators.items():
            start, cpu = time.perf_counter(), time.process_time()
            estimate = run(est)
            results[name]["total"].append(time.perf_counter() - start)
            results[name]["cpu"].append(time.process_time() - cpu)
            results[name]["network"].append(
                sum(estimate.timings.get(k, 0.0) for k in NETWORK_KEYS))
    reference = outputs.get("torch")
    summary = {}
    for name, r in results.items():
        diff = angle = None
        if reference is not None:
            diff = float(np.abs(outputs[name].normals - reference.normals).max())
            both = outputs[name].mask & reference.mask
            cos = (outputs[name].normals[both] * reference.normals[both]).sum(-1)
            angle = float(np.degrees(np.arccos(np.clip(cos, -1, 1))).mean()) if both.any() else 0
        summary[name] = {"mean_angle_vs_torch_deg": angle,
                         "request_s": statistics.median(r["total"]),
                         "request_all_s": [round(t, 4) for t in r["total"]],
                         "network_s": statistics.median(r["network"]),
                         "cpu_s": statistics.median(r["cpu"]),
                         "max_normal_diff_vs_torch": diff}
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2, help="torch and graph-runtime threads")
    parser.add_argument("--only", default="multi,portrait")
    parser.add_argument("--candidates", default="torch,onnx,openvino,channels_last,bf16")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = args.candidates.split(",")
    load = os.getloadavg()
    print(f"{os.cpu_count()} CPU cores, {args.threads} threads, load average at start "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    report = {"cpu_count": os.cpu_count(), "threads": args.threads, "load_start": load,
              "workloads": {}}
    if "multi" in args.only:
        stack = _stack((612, 512), 9)
        ests = candidates(MultiLightModel, names, args.threads)
        report["workloads"]["multi 9x612x512"] = side_by_side(
            ests, lambda e: e.estimate(stack), args.repeat)
        del ests
    if "portrait" in args.only:
        photo = read_image(PORTRAIT_PHOTO).rgb
        ests = candidates(PortraitModel, names, args.threads)
        for side in (512, 1024):
            image = np.ascontiguousarray(
                cv2.resize(photo, (side, side), interpolation=cv2.INTER_CUBIC)
                if photo.shape[0] != side else photo, dtype=np.float32)
            report["workloads"][f"portrait {side}"] = side_by_side(
                ests, lambda e, image=image: e.estimate(image), args.repeat)
    report["load_end"] = os.getloadavg()
    for workload, rows in report["workloads"].items():
        print(f"\n{workload} (target {TARGETS_S[workload]} s): median of {args.repeat}, "
              f"interleaved")
        for name, row in rows.items():
            diff = row["max_normal_diff_vs_torch"]
            angle = row["mean_angle_vs_torch_deg"]
            print(f"  {name:14s} request {row['request_s']:.3f} s   network "
                  f"{row['network_s']:.3f} s   process CPU {row['cpu_s']:.3f} s   "
                  f"vs torch: max |dn| {'-' if diff is None else f'{diff:.4f}'}, mean "
                  f"{'-' if angle is None else f'{angle:.3f}'} deg")
    print(f"\nload average at end {report['load_end'][0]:.2f}")
    if args.json:
        with contextlib.suppress(OSError):
            args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
