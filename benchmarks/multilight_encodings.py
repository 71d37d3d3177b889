"""Multi-light on the DiLiGenT ball saved the ways photos reach us, lights unknown.

    python benchmarks/multilight_encodings.py [--weights FILE ...] [--threads 1]

The ball's 16-bit linear files, read as they are; the same photos as an 8-bit sRGB camera would
save them; and as 8-bit *linear* codes (the photos scaled to their maximum), the way many
photometric-stereo data sets ship, read both as the default reads 8-bit files (sRGB) and with
``--input-colorspace linear``. Nothing in the photos says which encoding they hold, so the
default read of a linear data set is the case a user meets without knowing it. Prints one
Markdown table per model: light and normal error (deg) with 8 and 9 photos.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from photonormals.evaluation.diligent import load_dataset
from photonormals.evaluation.lights import direction_errors
from photonormals.evaluation.metrics import angular_errors
from photonormals.inference.multilight import MultiLightModel
from photonormals.io.colorspace import reencode_srgb8, srgb_to_linear
from photonormals.models.registry import MULTILIGHT
from photonormals.predict import load_image_set
from reporting import shipped_files

BALL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "diligent_ball"
COUNTS = (8, 9)


def encodings(stack: np.ndarray) -> dict[str, np.ndarray]:
    """What the pipeline reads from each way of saving the photos."""
    linear8 = np.round(np.clip(stack / stack.max(), 0, 1) * 255) / 255
    return {
        "16-bit linear": stack,
        "8-bit sRGB": reencode_srgb8(stack),
        "8-bit linear codes, read as sRGB (default)": srgb_to_linear(linear8),
        "8-bit linear codes, read linear": linear8.astype(np.float32),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, nargs="+")
    parser.add_argument("--data", type=Path, default=BALL)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ball = load_dataset(args.data)
    for weights in args.weights or shipped_files(MULTILIGHT):
        model = MultiLightModel(weights)
        print(f"\n### {weights}\n")
        print("| file | " + " | ".join(f"light, {k} | normal, {k}" for k in COUNTS) + " |")
        print("|---|" + "---|---|" * len(COUNTS))
        rows: dict[str, list[float]] = {}
        for k in COUNTS:
            sub = ball.subset(k)
            stack, _ = load_image_set(sub.images)
            for name, images in encodings(stack).items():
                estimate = model.estimate(images, sub.mask)
                rows.setdefault(name, []).extend([
                    direction_errors(estimate.light_dirs, sub.directions).mean(),
                    angular_errors(estimate.normals, sub.normal_gt, sub.mask).mean()])
        for name, cells in rows.items():
            print(f"| {name} | " + " | ".join(f"{c:.2f}" for c in cells) + " |", flush=True)


if __name__ == "__main__":
    main()
