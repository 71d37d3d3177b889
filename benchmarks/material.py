"""Material benchmark: held-out synthetic surfaces, seams, multi-light vs one photo, CPU latency
and memory, and a real-photo gallery.

    python benchmarks/material.py [--weights FILE] --out docs/material [--card weights/material.md]

Needs the bench extra (`pip install -e '.[bench]'`: scikit-image for the gallery's photos).

1. The model as predict runs it, on the fixed held-out set (``--count`` surfaces per family at
   ``--size`` px, lit by the bundled HDRIs and the lamp, through the engine's camera), against
   the flat (0, 0, 1) guess and the classical luminance-as-height reference on every family:
   normal error, height error after the best scale, albedo shading-leak, roughness
   (`material_scores`); again on a set lit from the image's upper side (``light_up=1``).
   That set turned so its light comes from the left, right or bottom, predicted with the
   matching ``light_from``, as if lit from the top, and with the opposite side; and with
   ``light_from="auto"`` (the light-side detector's accuracy per side and lighting kind), and
   auto against top on the first set (light from any direction).
2. The seamless option's seam score on a subset (`material_scores`).
3. Several lamp-lit photos of one surface against one of them (`material_scores`).
4. End to end time and peak memory at 1024² and 4096² (`material_latency`).
5. A gallery on scikit-image's brick, gravel and grass photos (`material_gallery`).

Writes results.json, README.md and gallery PNGs into --out; with --card the model card
(`material_report`). Hand-written sections are kept by a re-run (between their markers).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from material_gallery import gallery, skimage_photos
from material_latency import latency
from material_report import write_card, write_report
from material_scores import (
    light_auto_any_scores,
    light_auto_scores,
    light_side_scores,
    multilight_vs_single,
    seam_scores,
    synthetic_scores,
)
from photonormals.inference.material import MaterialModel
from photonormals.inference.multilight import MultiLightModel
from photonormals.models import MATERIAL
from photonormals.relight.envmap import bundled_hdris, load_hdri
from photonormals.synthetic.material.validation import validation_set
from reporting import machine, shipped_files


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=None,
                        help="material weights (default: the registry's shipped file)")
    parser.add_argument("--out", type=Path, default=Path("docs/material"))
    parser.add_argument("--card", type=Path, help="write the model card here")
    parser.add_argument("--count", type=int, default=8, help="held-out surfaces per family")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-flip", action="store_true",
                        help="the network without its mirror-image average (for comparison)")
    parser.add_argument("--skip", nargs="*", default=(),
                        choices=("scores", "scores_up", "light_sides", "light_auto",
                                 "light_auto_any", "seams", "multilight", "latency", "gallery"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    weights = args.weights or shipped_files(MATERIAL)[0]
    args.out.mkdir(parents=True, exist_ok=True)
    results_path = args.out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    results.update(machine=machine(), weights=str(weights))
    model = MaterialModel(weights, flip_average=not args.no_flip)
    results["model"] = {"name": model.name, "steps": model.metadata.get("steps"),
                        "parameters": sum(p.numel() for p in model.model.parameters())}

    def step(name, fn):
        if name in args.skip:
            return
        start = time.perf_counter()
        print(f"{name}...", flush=True)
        results[name] = fn()
        print(f"{name}: {time.perf_counter() - start:.0f} s", flush=True)
        results_path.write_text(json.dumps(results, indent=1) + "\n")  # progress survives

    envs = [load_hdri(path) for path in bundled_hdris().values()]
    if {"scores", "seams", "light_auto_any"} - set(args.skip):
        data = validation_set(args.count, args.size, envs=envs)
    step("scores", lambda: synthetic_scores(model, data))
    step("light_auto_any", lambda: light_auto_any_scores(model, data))
    data_up = validation_set(args.count, args.size, envs=envs, light_up=1.0)
    step("scores_up", lambda: synthetic_scores(model, data_up))
    step("light_sides", lambda: light_side_scores(model, data_up))
    step("light_auto", lambda: light_auto_scores(model, data_up))
    step("seams", lambda: seam_scores(model, data))
    step("multilight", lambda: multilight_vs_single(model, MultiLightModel()))
    with tempfile.TemporaryDirectory() as tmp:
        texture = skimage_photos()["brick"][..., 0]
        step("latency", lambda: latency(weights, texture, Path(tmp), args.threads))
    step("gallery", lambda: gallery(model, args.out))
    write_report(results, args.out / "README.md")
    if args.card:
        write_card(results, weights, args.card)


if __name__ == "__main__":
    main()
