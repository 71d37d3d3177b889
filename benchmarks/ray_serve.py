"""The service on Ray Serve against plain uvicorn, on this machine: request latency (health, and a
multi-light job end to end through photonormals.client, with the pipeline's own solve time from
its report.json) and job throughput with 1 and 2 replicas.

    python benchmarks/ray_serve.py [--size 306x256] [--images 9] [--repeat 5] [--jobs 8]
                                   [--json FILE]

Configurations, each the real `photonormals serve` in a subprocess: plain uvicorn; Ray, one
replica with every core; Ray, one replica per core. The Ray ones join one local Ray instance
that this script starts with the machine's cores, its workers at nice 0 as the plain server.
Throughput: --jobs jobs submitted at once, until the last is fetched. The machine's load average
is recorded before and after: on a shared machine it moves the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from photonormals.client import Client
from photonormals.service.bench import _photo_set
from photonormals.service.launch import start_server, stop_server

POLL_S = 0.05  # the client's status polls: each costs the server CPU, more through Ray's proxy


def measure(url: str, photos: list[Path], repeat: int, jobs: int, warm: int, tmp: Path) -> dict:
    client = Client(url, timeout=600)
    options = {"mode": "multi"}
    with ThreadPoolExecutor(warm) as pool:  # every replica loads its model before the clock
        list(pool.map(lambda k: client.predict(photos, tmp / f"warm-{k}", options), range(warm)))
    health = []
    for _ in range(20):
        start = time.perf_counter()
        client.health()
        health.append(time.perf_counter() - start)
    latency, solve = [], []
    for k in range(repeat):
        start = time.perf_counter()
        client.predict(photos, tmp / f"latency-{k}", options, poll=POLL_S)
        latency.append(time.perf_counter() - start)
        solve.append(json.loads((tmp / f"latency-{k}" / "report.json").read_text())
                     ["timings"]["solve_s"])
    start = time.perf_counter()
    submitted = [client.submit(photos, options) for _ in range(jobs)]
    for job in submitted:
        client.wait(job, poll=POLL_S)
        client.fetch(job, tmp / f"throughput-{job}")
    elapsed = time.perf_counter() - start
    return {"health_ms": 1000 * statistics.median(health),
            "request_s": statistics.median(latency), "solve_s": statistics.median(solve),
            "jobs_per_min": 60 * jobs / elapsed}


def run(size, images: int, repeat: int, jobs: int, log=print) -> dict:
    import ray

    cores = os.cpu_count()
    configs = [("uvicorn", []),
               ("ray, 1 replica", ["--ray", "--replicas", "1", "--cpus-per-replica", str(cores)]),
               ("ray, 2 replicas", ["--ray", "--replicas", "2", "--cpus-per-replica",
                                    str(cores / 2)])]
    result = {"cores": cores, "ray": ray.__version__, "input": [images, *size],
              "load_before": os.getloadavg(), "rows": []}
    with tempfile.TemporaryDirectory(prefix="photonormals-ray-bench-") as tmp:
        tmp = Path(tmp)
        photos = _photo_set(tmp / "photos", size, images)
        # Ray starts its workers at nice 15; on a shared machine that alone made the replicas
        # 2-5x slower than the plain server at nice 0. Like with like: 0 for both.
        os.environ.setdefault("RAY_worker_niceness", "0")
        ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False,
                 logging_level="warning")
        try:
            address = ray.get_runtime_context().gcs_address
            for name, flags in configs:
                folder = tmp / name.replace(" ", "").replace(",", "-")
                extra = [*flags, "--address", address] if flags else []
                process, url = start_server(folder, "--max-queue", "64", *extra,
                                            results_dir=not flags, timeout=600)
                try:
                    row = {"config": name, **measure(url, photos, repeat, jobs,
                                                     6 if "2 replicas" in name else 1, folder)}
                finally:
                    stop_server(process, timeout=90)
                result["rows"].append(row)
                log(json.dumps(row))
        finally:
            ray.shutdown()
    result["load_after"] = os.getloadavg()
    return result


def report(result: dict) -> str:
    images, width, height = result["input"]
    lines = [f"{result['cores']} cores, Ray {result['ray']}; load average "
             f"{result['load_before'][0]:.1f} before, {result['load_after'][0]:.1f} after; "
             f"multi-light job {images} x {width}x{height} (shipped model)",
             "", "| server | GET /v1/health (ms) | job request (s) | its solve (s) | "
             "throughput (jobs/min) |", "|---|---|---|---|---|"]
    lines += [f"| {row['config']} | {row['health_ms']:.1f} | {row['request_s']:.2f} | "
              f"{row['solve_s']:.2f} | {row['jobs_per_min']:.1f} |" for row in result["rows"]]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="306x256", help="photo size WxH")
    parser.add_argument("--images", type=int, default=9)
    parser.add_argument("--repeat", type=int, default=5, help="sequential requests timed")
    parser.add_argument("--jobs", type=int, default=8, help="jobs submitted at once")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args(argv)
    size = tuple(int(v) for v in args.size.lower().split("x"))
    result = run(size, args.images, args.repeat, args.jobs,
                 log=lambda line: print(line, flush=True))
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
