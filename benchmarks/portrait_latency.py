"""Portrait benchmark, CPU latency: the network alone at the working size, and
`PortraitModel.estimate` end to end (face detection, crop, network, lighting fit, paste-back) on
a real photo at each of PHOTO_SIDES.

Run as a script, it times what a user waits for with the model loaded (as `serve` keeps it):
`predict` plus writing the maps, in single mode, on a 512² and a 1024² portrait and a 1024²
photo of two people, and prints the median of each stage of `report.json`'s timings:

    PYTHONPATH=... python benchmarks/portrait_latency.py [--repeat 5] [--runtime auto]
                                                         [--frame-px PX]

It uses only `predict`'s public API, so the same script times an older checkout side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from photonormals.inference.portrait import PortraitModel
from photonormals.io.images import read_image
from photonormals.models import PORTRAIT, create_model, list_models
from photonormals.models.weights import save_weights

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PHOTO_SIDES = (512, 1024)
TWO_PEOPLE = ("obama.jpg", "biden.jpg")  # each cut to a 1:2 strip, side by side: 1024²


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def latency_photos() -> dict[int, np.ndarray]:
    """A real portrait (the top square of obama.jpg, face included) at each PHOTO_SIDES side."""
    image = read_image(SHARED / "portraits" / "obama.jpg").rgb
    side = min(image.shape[:2])
    square = np.ascontiguousarray(image[:side, (image.shape[1] - side) // 2 :][:, :side])
    return {s: cv2.resize(square, (s, s), interpolation=cv2.INTER_AREA) for s in PHOTO_SIDES}


@torch.inference_mode()
def latency(estimator: PortraitModel, photos: dict, repeats: int = 5) -> dict:
    model = estimator.model.eval()
    sizes = sorted({estimator.size, 256})
    model_only = {}
    for s in sizes:
        x = torch.rand(1, 3, s, s)
        model_only[str(s)] = median_time(lambda x=x: model(x), repeats)
    end_to_end = {}
    for side, photo in photos.items():
        total = median_time(lambda photo=photo: estimator.estimate(photo), 3)
        est = estimator.estimate(photo)
        end_to_end[str(side)] = {"total_s": total, "face_found": est.face_found,
                                 **{k: round(v, 4) for k, v in est.timings.items()}}
    return {"working_size": estimator.size, "steps": estimator.metadata.get("steps"),
            "params": sum(p.numel() for p in model.parameters()),
            "model_only_s": model_only, "end_to_end": end_to_end}


def latency_models(given: dict[str, PortraitModel], size: int, folder: Path) -> dict:
    """One estimator per family: the given weights, else untrained weights from the registry."""
    out = {}
    for family in list_models(PORTRAIT):
        estimator = given.get(family)
        if estimator is None:
            path = folder / f"{family}_untrained.safetensors"
            save_weights(path, create_model(family), input_size=size, steps=0)
            estimator = PortraitModel(path, "cpu", flip_tta=False)
        out[family] = (estimator, family in given)
    return out


def two_people_photo() -> np.ndarray:
    """(1024, 1024, 3) linear RGB: two shared portraits, each the middle 1:2 strip of its
    photo from the top, side by side (two faces, two suits, no seam between the people)."""
    strips = []
    for name in TWO_PEOPLE:
        image = read_image(SHARED / "portraits" / name).rgb
        h, w = image.shape[:2]
        height = min(h, 2 * w)
        left = (w - height // 2) // 2
        strip = image[:height, left : left + height // 2]
        strips.append(cv2.resize(strip, (512, 1024), interpolation=cv2.INTER_AREA))
    return np.concatenate(strips, axis=1)


def write_photos(folder: Path) -> dict[str, Path]:
    """The timed photos as 8-bit sRGB PNG files (what predict reads)."""
    from photonormals.io.images import write_srgb_png

    photos = {f"{side}²": image for side, image in latency_photos().items()}
    photos["1024² two people"] = two_people_photo()
    paths = {}
    for name, image in photos.items():
        paths[name] = folder / f"{name.replace('²', '').replace(' ', '_')}.png"
        write_srgb_png(paths[name], image)
    return paths


def predict_stages(paths: dict[str, Path], runtime: str, repeats: int,
                   frame_px: int | None = None) -> dict:
    """Median seconds of each timing in report.json (and the whole call) per photo, the model
    loaded once and every photo run once before timing (the first call builds kernels)."""
    from photonormals import predict as pipeline

    estimator = pipeline.load_model_for(PORTRAIT.name, "cpu", runtime)
    # (frame_px only when asked: older checkouts have no such option)
    extra = {"frame_px": frame_px} if frame_px else {}
    options = pipeline.PredictOptions(mode="single", runtime=runtime, **extra)
    out = Path(tempfile.mkdtemp(prefix="portrait_latency_"))

    def run(path: Path) -> dict:
        start = time.perf_counter()
        prediction = pipeline.predict([path], options, load_model=lambda *_: estimator)
        pipeline.save_prediction(prediction, out, [path.name], overwrite=True)
        return {**prediction.report["timings"], "total_s": time.perf_counter() - start}

    for path in paths.values():
        run(path)
    results = {}
    for name, path in paths.items():
        runs = [run(path) for _ in range(repeats)]
        results[name] = {k: round(float(np.median([r[k] for r in runs])), 4) for k in runs[0]}
    return {"runtime": estimator.runtime, "results": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--runtime", default="auto", choices=("auto", "torch", "onnx"))
    parser.add_argument("--frame-px", type=int, help="predict's --frame-px (default: its own)")
    parser.add_argument("--json", action="store_true", help="one JSON line, no table")
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("PHOTONORMALS_THREADS", 2)))
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        stages = predict_stages(write_photos(Path(folder)), args.runtime, args.repeat,
                                args.frame_px)
    stages["load_average"] = [round(load, 2), round(os.getloadavg()[0], 2)]
    if args.json:
        print(json.dumps(stages))
        return
    print(f"runtime {stages['runtime']}, load average {load:.2f} -> {os.getloadavg()[0]:.2f}, "
          f"median of {args.repeat} (ms)")
    keys = list(dict.fromkeys(k for r in stages["results"].values() for k in r))
    print("photo".ljust(18) + "".join(k.removesuffix("_s").rjust(14) for k in keys))
    for name, r in stages["results"].items():
        cells = "".join(("-" if k not in r else f"{r[k] * 1000:.0f}").rjust(14) for k in keys)
        print(name.ljust(18) + cells)


if __name__ == "__main__":
    main()
