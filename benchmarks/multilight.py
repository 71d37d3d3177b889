"""Multi-light benchmark: the source paper's Tables 1-2 (error vs number of inputs) for our models.

    python benchmarks/multilight.py [--weights FILE ...] --out docs/multilight

``--weights`` defaults to every shipped model of the registry's multilight task.

Runs every model on the same inputs in one process: the fixed synthetic validation set
(24 unseen shapes x 64 lights) and the real DiLiGenT ball (`../shared/data/diligent_ball`), for
1, 2, 4, 8, 16, 32 and 64 inputs (and 96 on the ball), plus parameter counts and CPU latency.
The validation set is also scored blown up 3x (objects ~250 px across instead of ~85 px), as
real photos show objects at hundreds of pixels.
Writes results.json, a Markdown report and plots.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from multilight_report import ZOOM, ZOOM_COUNTS, write_card, write_report
from photonormals.errors import UserError
from photonormals.evaluation.diligent import load_dataset, spread_indices
from photonormals.evaluation.lights import direction_errors
from photonormals.evaluation.metrics import angular_errors
from photonormals.inference.multilight import MultiLightModel
from photonormals.io.colorspace import reencode_srgb8
from photonormals.models.registry import MULTILIGHT
from photonormals.models.weights import shipped_weights
from photonormals.photometric.calibrated import solve_calibrated
from photonormals.predict import load_image_set
from photonormals.synthetic.multilight.validation import validation_set
from reporting import shipped_files

COUNTS = (1, 2, 4, 8, 16, 32, 64)
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def parameter_counts(model) -> dict:
    def count(module):
        return sum(p.numel() for p in module.parameters())

    total = count(model)
    light = sum(
        count(m) for name, m in model.named_children() if name.startswith(("lcnet", "light"))
    )
    return {"total": total, "light": light, "normal": total - light}


def latency(estimator, k, h, w, repeats=3) -> float:
    images = np.random.default_rng(0).uniform(0, 1, (k, h, w, 3)).astype(np.float32)
    mask = np.ones((h, w), bool)
    estimator.estimate(images, mask)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        estimator.estimate(images, mask)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def synthetic_scores(estimator, val, counts) -> dict:
    rows = {}
    for k in counts:
        normal_errors, light_errors = [], []
        for i in range(len(val["images"])):
            images = val["images"][i, :k].astype(np.float32).transpose(0, 2, 3, 1)
            mask = val["mask"][i, 0]
            est = estimator.estimate(images, mask)
            truth = val["normals"][i].transpose(1, 2, 0)
            normal_errors.append(angular_errors(est.normals, truth, mask).mean())
            light_errors.append(direction_errors(est.light_dirs, val["light_dirs"][i, :k]).mean())
        rows[k] = {
            "normal_deg": float(np.mean(normal_errors)),
            "light_deg": float(np.mean(light_errors)),
        }
    return rows


def zoomed(val: dict, factor: int) -> dict:
    """The validation set blown up ``factor`` times: bicubic images and normals, bilinear mask."""
    up = lambda t, mode: torch.nn.functional.interpolate(
        t, scale_factor=factor, mode=mode, align_corners=False
    )
    n, k = val["images"].shape[:2]
    images = up(torch.from_numpy(val["images"]).float().flatten(0, 1), "bicubic").clamp_min(0)
    normals = torch.nn.functional.normalize(
        up(torch.from_numpy(val["normals"]).float(), "bicubic"), dim=1
    )
    mask = up(torch.from_numpy(val["mask"]).float(), "bilinear") > 0.5
    return {
        **val,
        "images": images.unflatten(0, (n, k)).numpy(),
        "normals": (normals * mask).numpy(),
        "mask": mask.numpy(),
    }


def ball_scores(estimator, dataset, stack, counts, encode=None) -> dict:
    rows = {}
    for k in counts:
        index = spread_indices(len(stack), k)
        images = stack[index]
        if encode == "srgb8":
            images = reencode_srgb8(images)
        est = estimator.estimate(images, dataset.mask)
        rows[k] = {
            "normal_deg": float(
                angular_errors(est.normals, dataset.normal_gt, dataset.mask).mean()
            ),
            "light_deg": float(direction_errors(est.light_dirs, dataset.directions[index]).mean()),
            # Robust least squares on the network's lights: the hybrid a caller can opt into.
            "ls_on_estimated_lights_deg": _ls_error(images, est, dataset) if k >= 3 else None,
        }
    return rows


def ablation(path, dataset, stack, shipped_rows: dict) -> dict:
    """The shipped model on the ball without the steps around the network (see
    `inference.multilight`): the full-resolution pass alone, and the network's own lights.
    ``shipped_rows`` are its ball scores as shipped, already measured."""
    settings = {"network alone": {"coarse_size": None, "fit_lights": False},
                "+ coarse shape pass": {"fit_lights": False},
                "+ light fit": {"specular_gbr": False}}
    rows = {label: ball_scores(MultiLightModel(path, "cpu", **kw), dataset, stack, (8, 96))
            for label, kw in settings.items()}
    return {**rows, "+ specular GBR (as shipped)": {k: shipped_rows[k] for k in (8, 96)}}


def _ls_error(images, est, dataset) -> float | None:
    try:
        result = solve_calibrated(images, est.light_dirs, est.light_ints, dataset.mask)
    except UserError:  # e.g. estimated lights too close to coplanar
        return None
    errors = angular_errors(result.normals, dataset.normal_gt, dataset.mask)
    errors[~result.mask[dataset.mask]] = 90.0
    return float(errors.mean())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", nargs="+", type=Path, default=shipped_files(MULTILIGHT),
                        help="weight files (default: every shipped multi-light model)")
    parser.add_argument("--out", type=Path, default=Path("docs/multilight"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--cards", type=Path, help="also write a model card per model into this folder"
    )
    parser.add_argument(
        "--update",
        action="store_true",
        help="keep the other models' entries of an existing results.json (re-measure some models "
        "only; the report says when each was measured)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)

    val = validation_set(faces=SHARED / "faces" / "ict_facekit.npz")
    val_zoomed = zoomed(val, ZOOM)
    ball = load_dataset(SHARED / "diligent_ball")
    stack, _ = load_image_set(ball.images)
    results = {"threads": args.threads, "torch": torch.__version__, "models": {}}
    if args.update and (args.out / "results.json").is_file():
        results["models"] = json.loads((args.out / "results.json").read_text())["models"]
    shipped = shipped_weights(MULTILIGHT).resolve()
    for path in args.weights:
        estimator = MultiLightModel(path, "cpu")
        name = estimator.name
        print(f"== {name} ({path})", flush=True)
        entry = {
            "weights": str(path),
            "measured": time.strftime("%Y-%m-%d %H:%M"),
            "threads": args.threads,
            "steps": estimator.metadata.get("steps"),
            "params": parameter_counts(estimator.model),
            "latency_s": {"8x128x128": latency(estimator, 8, 128, 128),
                          "9x512x612": latency(estimator, 9, 512, 612, repeats=1)},
            "synthetic": synthetic_scores(estimator, val, COUNTS),
            f"synthetic_x{ZOOM}": synthetic_scores(estimator, val_zoomed, ZOOM_COUNTS),
            "ball": ball_scores(estimator, ball, stack, COUNTS + (96,)),
            "ball_srgb8": ball_scores(estimator, ball, stack, (8, 96), encode="srgb8"),
        }
        if path.resolve() == shipped:
            entry["ablation"] = ablation(path, ball, stack, entry["ball"])
        results["models"][name] = entry
        print(
            json.dumps({k: v for k, v in entry.items() if k in ("params", "latency_s")}), flush=True
        )
        (args.out / "results.json").write_text(json.dumps(results, indent=2))
    write_report(results, args.out)
    if args.cards:
        for name, entry in results["models"].items():
            write_card(
                name, entry, MultiLightModel(Path(entry["weights"]), "cpu").metadata, args.cards
            )


if __name__ == "__main__":
    main()
