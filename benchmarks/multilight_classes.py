"""Multi-light models by material class and light rig, on held-out synthetic objects.

    python benchmarks/multilight_classes.py [--weights FILE ...] [--count 16] [--threads 2]

Every model runs the way `predict --mode multi` runs it (coarse pass, light fit) on
`class_validation_set`: matte, glossy dielectric and metal objects, each under a wide cap of 9
lights and under a narrow hand-held rig, 8-bit sRGB (``--camera linear8``: the same scenes saved
as linear 8-bit codes and read as sRGB, as a photometric-stereo data set is). Prints one Markdown
table per model: light direction error, normal error over the object and split into convex and
concave pixels (where cast shadows and interreflections are). ``--weights`` defaults to the
shipped multi-light model.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from photonormals.evaluation.multilight_classes import class_errors
from photonormals.inference.multilight import MultiLightModel
from photonormals.models.registry import MULTILIGHT
from photonormals.synthetic.multilight.validation import class_validation_set
from reporting import shipped_files

FACES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "faces" / "ict_facekit.npz"


def table(rows: dict) -> str:
    lines = ["| class | rig | light (deg) | normal | convex | concave |",
             "|---|---|---|---|---|---|"]
    for (name, rig), v in rows.items():
        lines.append(f"| {name} | {rig} | " + " | ".join(f"{x:.1f}" for x in np.nanmean(v, 0))
                     + " |")
    every = np.concatenate(list(rows.values()))
    lines.append("| **all** | | " + " | ".join(f"**{x:.1f}**" for x in np.nanmean(every, 0))
                 + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, nargs="+")
    parser.add_argument("--count", type=int, default=16, help="shapes per class and rig")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--camera", choices=("srgb8", "linear8"), default="srgb8")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = class_validation_set(args.count, faces=FACES if FACES.is_file() else None,
                                camera=args.camera)
    for weights in args.weights or shipped_files(MULTILIGHT):
        print(f"\n### {weights} ({args.count} shapes per class and rig, 9 lights, "
              f"{args.camera})\n")
        print(table(class_errors(MultiLightModel(weights), data)), flush=True)


if __name__ == "__main__":
    main()
