"""photonormals eval: angular error of our normals on a DiLiGenT-layout folder with ground truth."""

import json
import time
from pathlib import Path

from ..errors import ModelNotAvailable
from ..evaluation.diligent import load_dataset
from ..evaluation.metrics import angular_errors, summarise
from ..io.images import COLORSPACES
from ..photometric.calibrated import solve_calibrated
from ..predict import load_image_set

EVAL_MODES = ("calibrated", "multi")


def add_parser(commands):
    parser = commands.add_parser("eval", help="score normals against ground truth (DiLiGenT layout)")
    parser.add_argument("dataset", type=Path, metavar="DATASET_DIR")
    parser.add_argument("--images", type=int, metavar="K", help="use K images spread over the set")
    parser.add_argument("--mode", choices=EVAL_MODES, default="calibrated",
                        help="calibrated: the dataset's own lights; multi: lights estimated by the model")
    parser.add_argument("--input-colorspace", choices=COLORSPACES, default="auto")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the scores as JSON")
    parser.set_defaults(run=run)


def run(args) -> int:
    dataset = load_dataset(args.dataset)
    if args.images:
        dataset = dataset.subset(args.images)
    if args.mode == "multi":
        raise ModelNotAvailable("model not available: the uncalibrated multi-light model is not shipped yet")

    stack, _ = load_image_set(dataset.images, args.input_colorspace)
    start = time.perf_counter()
    result = solve_calibrated(stack, dataset.directions, dataset.intensities, dataset.mask)
    seconds = time.perf_counter() - start

    # Pixels the solver could not use still count, as a 90 degree miss would: never flatter.
    normals = result.normals.copy()
    normals[dataset.mask & ~result.mask] = (0.0, 0.0, 0.0)
    errors = angular_errors(normals, dataset.normal_gt, dataset.mask)
    errors[~result.mask[dataset.mask]] = 90.0
    scores = {"dataset": dataset.name, "mode": args.mode, "images": len(dataset.images),
              **summarise(errors), "solve_s": seconds}

    print(f"{dataset.name}: {args.mode}, {len(dataset.images)} images, {scores['pixels']} pixels")
    print(f"  mean {scores['mean_deg']:.2f} deg   median {scores['median_deg']:.2f} deg")
    print("  under 11.25 / 22.5 / 30 deg: "
          f"{scores['under_11.25_deg']:.1%} / {scores['under_22.5_deg']:.1%} / {scores['under_30_deg']:.1%}")
    if args.json:
        args.json.write_text(json.dumps(scores, indent=2) + "\n")
    return 0
