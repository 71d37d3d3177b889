"""Sample grid of the synthetic portrait engine and its speed (docs/portrait_engine.png).

    python benchmarks/portrait_samples.py [--count 24] [--out docs/portrait_engine.png]

Needs ../shared/data/faces/ict_facekit.npz and Blender's HDRIs (bpy or blender-data). Rows:
image (as the network sees it, shown sRGB), albedo, shading (normalised), normals, mask/face.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from photonormals.relight.envmap import bundled_hdris, load_hdri
from photonormals.synthetic.faces import FaceModel
from photonormals.synthetic.imaging import linear_to_srgb
from photonormals.synthetic.portrait.bank import cached_bank
from photonormals.synthetic.portrait.batches import PortraitBatches
from photonormals.synthetic.portrait.geometry import build_portrait


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=24, help="bank size for the grid")
    ap.add_argument(
        "--out", default=str(Path(__file__).resolve().parents[1] / "docs" / "portrait_engine.png")
    )
    args = ap.parse_args()
    torch.set_num_threads(1)
    envs = [load_hdri(name) for name in bundled_hdris()]
    model = FaceModel.load()
    start = time.perf_counter()
    for i in range(5):
        build_portrait(np.random.default_rng([99, i]), 256, model)
    print(f"bank build: {(time.perf_counter() - start) / 5:.2f} s per portrait at 256^2 (1 thread)")
    bank = cached_bank(args.count, 256, 2024, model)
    batches = PortraitBatches(bank, envs, size=128)
    g = torch.Generator().manual_seed(0)
    batches.sample(16, g)
    start = time.perf_counter()
    for _ in range(3):
        batches.sample(16, g)
    print(f"batch 16 at 128^2: {(time.perf_counter() - start) / 3:.2f} s (1 thread)")

    s = batches.sample(8, torch.Generator().manual_seed(1))
    cols = []
    for b in range(8):
        image = linear_to_srgb(s["image"][b])
        albedo = linear_to_srgb(s["albedo"][b])
        shading = linear_to_srgb(s["shading"][b] / s["shading"][b].amax().clamp_min(1e-6))
        normal = (s["normal"][b] + 1) / 2 * s["mask"][b]
        masks = ((s["mask"][b] + s["face"][b]) / 2).expand(3, -1, -1)
        cols.append(torch.cat([image, albedo, shading, normal, masks], 1))
    grid = torch.cat(cols, 2).permute(1, 2, 0).numpy()
    cv2.imwrite(args.out, np.round(grid[..., ::-1] * 255).astype(np.uint8))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
