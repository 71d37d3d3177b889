"""photonormals eval: angular error of our normals on a DiLiGenT-layout folder with ground truth."""

import json
import time
from pathlib import Path

from ..device import DEVICES, pick_device
from ..evaluation.diligent import load_dataset
from ..evaluation.lights import direction_errors, intensity_error
from ..evaluation.metrics import angular_errors, summarise
from ..io.colorspace import reencode_srgb8
from ..io.images import COLORSPACES
from ..photometric.calibrated import solve_calibrated
from ..predict import load_image_set

EVAL_MODES = ("calibrated", "multi")


def add_parser(commands):
    parser = commands.add_parser(
        "eval", help="score normals against ground truth (DiLiGenT layout)"
    )
    parser.add_argument("dataset", type=Path, metavar="DATASET_DIR")
    parser.add_argument("--images", type=int, metavar="K", help="use K images spread over the set")
    parser.add_argument(
        "--mode",
        choices=EVAL_MODES,
        default="calibrated",
        help="calibrated: the dataset's own lights; multi: lights estimated by the model",
    )
    parser.add_argument("--input-colorspace", choices=COLORSPACES, default="auto")
    parser.add_argument(
        "--encode",
        choices=("none", "srgb8"),
        default="none",
        help="srgb8: re-encode the inputs as 8-bit sRGB first (as a JPEG/PNG camera would)",
    )
    parser.add_argument("--weights", type=Path, metavar="FILE", help="multi mode: weights to score "
                        "(default: the shipped multi-light model)")
    parser.add_argument("--device", choices=DEVICES, default="auto")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the scores as JSON")
    parser.set_defaults(run=run)


def run(args) -> int:
    dataset = load_dataset(args.dataset)
    if args.images:
        dataset = dataset.subset(args.images)
    stack, _ = load_image_set(dataset.images, args.input_colorspace)
    if args.encode == "srgb8":
        stack = reencode_srgb8(stack)

    start = time.perf_counter()
    if args.mode == "calibrated":
        result = solve_calibrated(stack, dataset.directions, dataset.intensities, dataset.mask)
        normals, solved, light_scores = result.normals, result.mask, {}
    else:
        from ..inference.multilight import MultiLightModel

        estimate = MultiLightModel(args.weights, pick_device(args.device)).estimate(
            stack, dataset.mask
        )
        normals, solved = estimate.normals, estimate.mask
        light_scores = {
            "light_dir_mean_deg": float(
                direction_errors(estimate.light_dirs, dataset.directions).mean()
            )
        }
        if dataset.intensities is not None:
            light_scores["light_int_rel_error"] = intensity_error(
                estimate.light_ints, dataset.intensities
            )
    seconds = time.perf_counter() - start

    # Pixels the solver could not use still count, as a 90 degree miss would: never flatter.
    errors = angular_errors(normals, dataset.normal_gt, dataset.mask)
    errors[~solved[dataset.mask]] = 90.0
    scores = {"dataset": dataset.name, "mode": args.mode, "images": len(dataset.images),
              "encode": args.encode, **summarise(errors), **light_scores, "seconds": seconds}

    print(f"{dataset.name}: {args.mode}, {len(dataset.images)} images, {scores['pixels']} pixels")
    print(f"  mean {scores['mean_deg']:.2f} deg   median {scores['median_deg']:.2f} deg")
    print(
        "  under 11.25 / 22.5 / 30 deg: "
        f"{scores['under_11.25_deg']:.1%} / {scores['under_22.5_deg']:.1%} / "
        f"{scores['under_30_deg']:.1%}"
    )
    if light_scores:
        line = f"  light direction {scores['light_dir_mean_deg']:.2f} deg"
        if "light_int_rel_error" in scores:
            line += f"   relative intensity error {scores['light_int_rel_error']:.3f}"
        print(line)
    if args.json:
        args.json.write_text(json.dumps(scores, indent=2) + "\n")
    return 0
