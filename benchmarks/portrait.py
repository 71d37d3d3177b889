"""Portrait benchmark: synthetic metrics, CPU latency and a real-photo gallery.

    python benchmarks/portrait.py [--weights FILE ...] --out docs/portrait [--cards weights]

``--weights`` defaults to every shipped model of the registry's portrait task; the first one
leads (its held-out sets, lighting-fit and off-axis rows, and the gallery).

1. Metrics of each weight file on the fixed synthetic validation set (64 held-out faces, the
   bundled HDRIs at unseen rotations, rendered at the weights' working size, cached beside the
   geometry): normal mean error in the face region, mask IoU, scale-invariant shading error;
   all samples, and split into tight crops (the face fills the frame) and normal framing
   (`portrait_scores`).
2. CPU latency of every portrait model of the registry (untrained weights for any not given):
   the network alone at the working size, and `PortraitModel.estimate` end to end (face
   detection, crop, network, paste-back) on a 512^2 and a 1024^2 photo (`portrait_latency`).
3. A gallery on the real portraits in ../shared/data/portraits, made with the first weights:
   photo, normal, shading, albedo, mask and the relit result under three bundled HDRIs, cropped
   to the square the network saw; plus the full photos with the detected face boxes
   (`portrait_gallery`).

Writes results.json, README.md and PNGs into --out, and with --cards a model card per weight
file (`portrait_report`). Sections written by a person, the README's failure cases and each
card's notes, are kept by a re-run (between their markers).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import cv2
import torch
from photonormals.inference.portrait import PortraitModel
from photonormals.models import PORTRAIT
from photonormals.relight.envmap import bundled_hdris, load_hdri
from photonormals.synthetic.portrait.validation import validation_set
from portrait_gallery import gallery
from portrait_latency import SHARED, latency, latency_models, latency_photos
from portrait_report import write_card, write_report
from portrait_scores import (
    FIRST_SEED,
    SOFT_PHOTO_BLUR,
    blurred_photo_shading,
    flat_baseline,
    held_out_sets,
    is_tight,
    off_axis_scores,
    predict_validation,
    softened,
    split_metrics,
    synthetic_scores,
)
from reporting import machine, shipped_files


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--weights",
        nargs="+",
        type=Path,
        default=shipped_files(PORTRAIT),
        help="portrait weight files; the first one leads (default: every shipped portrait model)",
    )
    parser.add_argument("--out", type=Path, default=Path("docs/portrait"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--cards", type=Path, help="also write a model card per weight file into this folder"
    )
    parser.add_argument(
        "--photos",
        nargs="+",
        type=Path,
        default=[SHARED / "portraits" / n for n in ("obama.jpg", "biden.jpg", "obama2.jpg")],
    )
    parser.add_argument("--hdris", nargs="+", default=["studio", "sunset", "forest"])
    parser.add_argument("--val-count", type=int, default=64)
    parser.add_argument(
        "--more-seeds",
        type=int,
        nargs="*",
        default=[2, 3, 4, 5, 6],
        help="also score the first model on more held-out sets drawn with these seeds, each and "
        "pooled with the first (none: skip)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()

    estimators = [PortraitModel(path, "cpu", flip_tta=False) for path in args.weights]
    results = {"threads": args.threads, "machine": machine(), "out": str(args.out), "models": {}}
    # as training lights its validation
    envs = [load_hdri(path) for path in bundled_hdris().values()]
    val_sets, lead_maps = {}, None
    for estimator, path in zip(estimators, args.weights, strict=True):
        size = estimator.size
        if size not in val_sets:
            val = validation_set(count=args.val_count, size=size, envs=envs, seed=FIRST_SEED)
            val_sets[size] = (val, is_tight(val["face"]))
        val, tight = val_sets[size]
        print(
            f"== {estimator.name} ({path}): {len(tight)} validation portraits at {size}^2, "
            f"{int(tight.sum())} tight",
            flush=True,
        )
        scores, flip_maps = synthetic_scores(estimator, val, tight)
        if lead_maps is None:  # the first weights lead: the held-out sets score them
            lead_maps = flip_maps
        results["models"][estimator.name] = {
            "weights": str(path), "steps": estimator.metadata.get("steps"), "input_size": size,
            "params": sum(p.numel() for p in estimator.model.parameters()), "synthetic": scores,
        }
        print(
            json.dumps(results["models"][estimator.name]["synthetic"]["plain"]["all"]), flush=True
        )
    size = estimators[0].size
    results["flat_baseline"] = flat_baseline(*val_sets[size])
    results["blurred_photo_shading_si"] = blurred_photo_shading(val_sets[size][0])
    # Every model at the first one's size: each card keeps its own blurred-photo row, whichever
    # model leads the run (a few seconds each).
    soft = softened(val_sets[size][0])
    results["soft_photos"] = {"blur_px": SOFT_PHOTO_BLUR, "flip_tta": {
        e.name: split_metrics(predict_validation(e.model, soft, True), soft, val_sets[size][1])
        for e in estimators if e.size == size}}
    val, tight = val_sets[size]
    results["lighting_fit"] = {
        "model": estimators[0].name,
        **{
            key: split_metrics(
                predict_validation(estimators[0].model, val, True, **kwargs), val, tight
            )["all"]
            for key, kwargs in (
                ("network_only", {"fit_weight": 0.0, "refine_steps": 0}),
                ("fit_shading_only", {"fit_weight": 1.0, "refine_steps": 0}),
            )
        },
    }
    results["off_axis"] = {
        "model": estimators[0].name,
        **off_axis_scores(estimators[0].model, envs, size),
    }
    if args.more_seeds:
        results["held_out_sets"] = {
            "model": estimators[0].name,
            **held_out_sets(
                estimators[0].model,
                envs,
                size,
                args.val_count,
                args.more_seeds,
                val_sets[size][0],
                lead_maps,
            ),
        }

    with tempfile.TemporaryDirectory() as tmp:
        given = {e.name: e for e in estimators}
        photos = latency_photos()
        results["latency"] = {}
        for family, (estimator, trained) in latency_models(given, size, Path(tmp)).items():
            results["latency"][family] = {"trained": trained, **latency(estimator, photos)}
            print(f"latency {family}: {json.dumps(results['latency'][family])}", flush=True)
        # The gallery shows what `predict --mode single` writes, which averages with the mirror.
        shipped = PortraitModel(estimators[0].path, "cpu")  # flip TTA as the registry runs it
        results["gallery"] = gallery(shipped, args.photos, args.hdris, args.out, Path(tmp))
    results["gallery_model"] = estimators[0].name
    results["hdris"] = args.hdris
    results["run_s"] = round(time.perf_counter() - start, 1)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    write_report(results, args.out)
    if args.cards:
        for estimator in estimators:
            write_card(estimator, results, args.cards)
    print(f"done in {results['run_s']} s", flush=True)


if __name__ == "__main__":
    main()
