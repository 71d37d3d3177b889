"""Material benchmark, CPU time and memory: predict --mode material end to end (read the photo,
the network, height, write every map) at 1024² and 4096², each size in its own process so its
peak memory is its own, with the model loaded once as the service keeps it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
from photonormals.io.images import write_png

SIZES = (1024, 4096)
RUN = r"""
import json, resource, sys, tempfile, time
from pathlib import Path
import torch
torch.set_num_threads(int(sys.argv[4]))
from photonormals.inference.material import MaterialModel
from photonormals.predict import PredictOptions, predict, save_prediction
photo, weights, repeats = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
model = MaterialModel(weights)
options = PredictOptions(mode="material")
times = []
for attempt in range(repeats + 1):  # the first warms the allocator and the kernels
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        result = predict([photo], options, load_model=lambda task, device: model)
        save_prediction(result, Path(out) / "maps", [photo.name])
        times.append(time.perf_counter() - start)
print(json.dumps({"seconds": sorted(times[1:])[len(times[1:]) // 2], "all": times,
                  "timings": result.report["timings"], "tiles": result.report["tiles"],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def latency_photo(texture: np.ndarray, side: int, folder: Path) -> Path:
    """A side x side 8-bit PNG of ``texture`` (grey, uint8) repeated to fill it."""
    reps = -(-side // texture.shape[0])
    big = np.tile(texture, (reps, reps))[:side, :side]
    path = folder / f"latency_{side}.png"
    write_png(path, cv2.cvtColor(big, cv2.COLOR_GRAY2RGB))
    return path


def latency(weights: Path, texture: np.ndarray, folder: Path, threads: int = 2,
            log=print) -> dict:
    out = {}
    for side in SIZES:
        photo = latency_photo(texture, side, folder)
        repeats = 3 if side <= 1024 else 1
        done = subprocess.run([sys.executable, "-c", RUN, str(photo), str(weights), str(repeats),
                               str(threads)], capture_output=True, text=True, check=True)
        out[str(side)] = json.loads(done.stdout.strip().splitlines()[-1])
        log(f"  {side}²: {out[str(side)]['seconds']:.2f} s, "
            f"{out[str(side)]['peak_rss_mb']:.0f} MB peak")
    return out
