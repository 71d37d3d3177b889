"""photonormals predict: photos in, normal/albedo/mask(/shading, lights) maps out."""

from pathlib import Path

from ..device import DEVICES, RUNTIMES
from ..io.images import COLORSPACES, NORMAL_CONVENTIONS
from ..predict import (
    DEFAULT_LIGHT_FROM,
    LIGHT_FROM,
    MODES,
    PredictOptions,
    check_output_dir,
    default_runtime,
    predict,
    save_prediction,
)


def add_parser(commands):
    parser = commands.add_parser(
        "predict", help="estimate normal, albedo and mask maps from photos"
    )
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    parser.add_argument("--mode", choices=MODES, default="auto",
                        help="auto: single for one photo, multi for several (default); material: "
                             "a surface (wall, floor, fabric) -> tileable normal, height, albedo "
                             "and roughness maps, from one photo or several under different lamps")
    parser.add_argument(
        "--lights",
        type=Path,
        metavar="FILE",
        help="known light directions (DiLiGenT light_directions.txt or lights.json), "
        "one per image in order: runs calibrated photometric stereo",
    )
    parser.add_argument(
        "--intensities",
        type=Path,
        metavar="FILE",
        help="known RGB light intensities, one line per image (light_intensities.txt)",
    )
    parser.add_argument("--mask", type=Path, metavar="FILE", help="object mask (white = object)")
    parser.add_argument("--input-colorspace", choices=COLORSPACES, default="auto",
                        help="auto: 8-bit is sRGB, 16-bit/EXR/HDR linear")
    parser.add_argument("--normal-convention", choices=NORMAL_CONVENTIONS, default="opengl",
                        help="normal.png green channel: opengl (Blender) or directx (flipped)")
    parser.add_argument("--device", choices=DEVICES, default="auto",
                        help="where a learned model runs (default: CUDA if available)")
    add_runtime_arguments(parser)
    parser.add_argument("--focal-35mm", type=float, metavar="MM",
                        help="single mode: the photo's 35 mm-equivalent focal length, to turn an "
                             "off-centre face's normals into the photo's camera frame (default: "
                             "from EXIF, else no turn; 0: no turn)")
    parser.add_argument("--frame-px", type=int, metavar="PX",
                        help="single mode: the largest working size of the whole-frame pass "
                             "(default 512: the largest face at its trained scale, for the "
                             "body's detail); 128, the network's own size, is 1.1-1.6x faster "
                             "end to end with softer body normals")
    parser.add_argument("--seamless", action="store_true",
                        help="material mode: make the maps tile without a visible seam")
    parser.add_argument("--light-from", choices=LIGHT_FROM, default=DEFAULT_LIGHT_FROM,
                        help="material mode, one photo: the side of the photo its light comes "
                             f"from (default {DEFAULT_LIGHT_FROM}); the model reads relief lit "
                             "from the top, so the photo is turned for it and the maps turned "
                             "back; auto: the side is detected from the photo")
    parser.add_argument("--overwrite", action="store_true", help="replace results already in --out")
    parser.set_defaults(run=run)


def add_runtime_arguments(parser) -> None:
    """--runtime and --threads, shared by predict, serve and bench."""
    parser.add_argument(
        "--runtime", choices=RUNTIMES, default=default_runtime(),
        help="where the network's forward runs: auto (the portrait network under bf16 autocast "
             "on a CPU with bf16 hardware; the multi-light one on a CPU in OpenVINO, else in "
             "ONNX Runtime, when installed and the model exports; else torch), torch, onnx, "
             "openvino (default: $PHOTONORMALS_RUNTIME or auto)")
    parser.add_argument("--threads", type=int, metavar="N",
                        help="OpenVINO / ONNX Runtime threads (default 2, or "
                             "$PHOTONORMALS_THREADS)")


def run(args) -> int:
    check_output_dir(args.out, args.overwrite)
    options = PredictOptions(
        mode=args.mode,
        lights=args.lights,
        intensities=args.intensities,
        mask=args.mask,
        input_colorspace=args.input_colorspace,
        normal_convention=args.normal_convention,
        device=args.device,
        runtime=args.runtime,
        threads=args.threads,
        focal_35mm=args.focal_35mm,
        frame_px=args.frame_px,
        seamless=args.seamless,
        light_from=args.light_from,
    )
    prediction = predict(args.images, options)
    written = save_prediction(prediction, args.out, [p.name for p in args.images], args.overwrite)
    solved = int(prediction.mask.sum())
    print(
        f"{prediction.report['method']}: {solved} pixels solved; wrote {len(written)} files "
        f"to {args.out}"
    )
    return 0
