"""Contact sheet of body-framed portraits from the synthetic engine (docs/portrait/body_engine.png).

    python benchmarks/portrait_body_samples.py [--count 16] [--size 160] [--out PATH]

Needs ../shared/data/faces/ict_facekit.npz. Geometry only (no bank, no HDRIs): each tile is
the normal map as (n+1)/2 RGB over a Lambertian shading under one light from the upper left
(times the ambient occlusion), and the labels (clothing blue, bare skin orange). Also prints
the time to build one 256^2 sample, body- and face-framed (one thread).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from photonormals.synthetic.faces import FaceModel
from photonormals.synthetic.portrait.geometry import BODY_SKIN, TORSO, build_portrait

LIGHT = np.array([-0.45, 0.55, 0.7]) / np.linalg.norm([-0.45, 0.55, 0.7])


def tile(sample: dict) -> np.ndarray:
    """(H, 3W, 3) uint8 RGB: normals, shading, labels."""
    n = sample["normals"].astype(np.float32)
    mask = (sample["labels"] > 0)[..., None]
    normal = np.where(mask, (n + 1) / 2, 0.15)
    ao = sample["ao"].astype(np.float32)[..., None] / 255
    shade = np.clip(n @ LIGHT, 0, 1)[..., None] * 0.85 + 0.15 * ao
    shade = np.where(mask, shade ** (1 / 2.2), 0.15).repeat(3, -1)
    lab = sample["labels"]
    colours = np.where(mask, 0.7, 0.15).repeat(3, -1)
    colours[lab == TORSO] = (0.25, 0.4, 0.85)
    colours[lab == BODY_SKIN] = (0.95, 0.6, 0.35)
    colours[sample["face"]] = (0.9, 0.85, 0.3)
    return (np.concatenate([normal, shade, colours], 1) * 255 + 0.5).astype(np.uint8)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=16)
    ap.add_argument("--size", type=int, default=160)
    ap.add_argument("--seed", type=int, default=31)
    ap.add_argument(
        "--out",
        default=str(Path(__file__).resolve().parents[1] / "docs" / "portrait" / "body_engine.png"),
    )
    args = ap.parse_args()
    torch.set_num_threads(1)
    model = FaceModel.load()
    for framing in ("body", "face"):
        start = time.perf_counter()
        for i in range(3):
            build_portrait(np.random.default_rng([99, i]), 256, model, framing=framing)
        per = (time.perf_counter() - start) / 3
        print(f"{framing} framing: {per:.2f} s per portrait at 256^2 (1 thread)")
    tiles = [
        tile(build_portrait(np.random.default_rng([args.seed, i]), args.size, model,
                            framing="body"))
        for i in range(args.count)
    ]
    cols = 2 if args.count <= 8 else 4
    rows = [np.concatenate(tiles[r : r + cols], 1) for r in range(0, len(tiles), cols)]
    rows[-1] = np.pad(rows[-1], ((0, 0), (0, rows[0].shape[1] - rows[-1].shape[1]), (0, 0)))
    sheet = np.concatenate([np.pad(r, ((0, 4), (0, 0), (0, 0)), constant_values=255)
                            for r in rows], 0)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(args.out, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
