"""Uncalibrated multi-light on real glossy objects: ``psm_uw`` (six objects, 12 known lights in a
narrow cone), lights unknown to the pipeline; prints the Markdown table of
docs/multilight/real_objects.md.

    python benchmarks/psm_uw.py [--data ../shared/data/psm_uw] [--weights FILE] [--threads 2]

Metrics per object, with all 12 photos and with every other one (6): the mean angle between the
estimated and the known light directions, and the mean angle between the estimated normals and
calibrated least squares (the known lights, robust sample rejection) on the same photos: the
data set has no true normals. Each set is read twice: as the default reads 8-bit files (sRGB)
and as ``--input-colorspace linear`` reads them. The files hold linear codes (least squares on
the grey sphere matches a sphere at 4.8 deg read linear, 18 deg read sRGB), so the reference is
least squares on the photos read linear, whichever way the pipeline read them.
"""

from __future__ import annotations

import argparse
import functools
import time
from pathlib import Path

import numpy as np
import torch
from photonormals.evaluation.lights import direction_errors
from photonormals.evaluation.metrics import angular_errors
from photonormals.inference.multilight import MultiLightModel
from photonormals.io import images as image_io
from photonormals.io.lights import read_light_directions
from photonormals.photometric.calibrated import RobustOptions, solve_calibrated
from photonormals.predict import load_image_set

SUBSETS = {"12": slice(None), "6": slice(0, None, 2)}


def photos(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.png") if p.stem != "mask")


@functools.cache
def references(folder: Path) -> dict:
    """Per subset, least squares with the known lights on the photos read linear: the reference
    for both readings, solved once per object."""
    stack, _ = load_image_set(photos(folder), "linear")
    mask = image_io.read_mask(folder / "mask.png", stack.shape[1:3])
    lights = read_light_directions(folder / "light_directions.txt")
    return {name: solve_calibrated(stack[pick], lights[pick], None, mask, RobustOptions())
            for name, pick in SUBSETS.items()}


def score(model: MultiLightModel, folder: Path, colorspace: str) -> dict:
    stack, _ = load_image_set(photos(folder), colorspace)
    mask = image_io.read_mask(folder / "mask.png", stack.shape[1:3])
    lights = read_light_directions(folder / "light_directions.txt")
    row = {}
    for name, pick in SUBSETS.items():
        images, truth = stack[pick], lights[pick]
        reference = references(folder)[name]
        solved = mask & reference.mask
        start = time.perf_counter()
        estimate = model.estimate(images, mask)
        row[name] = {"light": float(direction_errors(estimate.light_dirs, truth).mean()),
                     "normal": float(angular_errors(estimate.normals, reference.normals,
                                                    solved).mean()),
                     "seconds": time.perf_counter() - start}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/psm_uw"))
    parser.add_argument("--weights", type=Path, help="default: the shipped multi-light model")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runtime", default="torch",
                        help="the network's runtime (torch, the reference; onnx; openvino; auto)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = MultiLightModel(args.weights, runtime=args.runtime, threads=args.threads)
    objects = sorted(p for p in args.data.iterdir()
                     if (p / "light_directions.txt").is_file() and p.name != "chrome")
    print("| object | read as | light, 12 (deg) | normal vs LS, 12 | light, 6 | normal vs LS, 6 |")
    print("|---|---|---|---|---|---|")
    means = {}
    for colorspace in ("srgb", "linear"):
        for folder in objects:
            row = score(model, folder, colorspace)
            cells = [f"{row[k][m]:.1f}" for k in SUBSETS for m in ("light", "normal")]
            means.setdefault(colorspace, []).append([float(c) for c in cells])
            print(f"| {folder.name} | {colorspace} | " + " | ".join(cells) + " |", flush=True)
    for colorspace, rows in means.items():
        cells = " | ".join(f"**{v:.1f}**" for v in np.mean(rows, axis=0))
        print(f"| mean | {colorspace} | {cells} |")


if __name__ == "__main__":
    main()
