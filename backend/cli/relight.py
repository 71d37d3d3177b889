"""photonormals relight: a predict output folder relit under an HDRI, as one image."""

from pathlib import Path

from ..errors import UserError
from ..relight.envmap import BUNDLED_NAMES, resolve_hdri
from ..relight.relight import (
    BACKGROUNDS,
    IRRADIANCE_METHODS,
    SHADERS,
    check_output_path,
    relight_dir,
    write_relit,
)


def add_parser(commands):
    parser = commands.add_parser("relight", help="relight a predict output folder under an HDRI")
    parser.add_argument(
        "predict_dir",
        type=Path,
        metavar="PREDICT_DIR",
        help="output folder of photonormals predict (normal.npy, albedo.png, mask.png)",
    )
    parser.add_argument(
        "--hdri",
        required=True,
        metavar="FILE",
        help=f"an equirect .exr or .hdr, or a bundled HDRI (Blender's studio lights, shipped "
             f"with photonormals): {', '.join(BUNDLED_NAMES)}",
    )
    parser.add_argument(
        "--rotation",
        type=float,
        default=0.0,
        metavar="DEG",
        help="turn the HDRI about the vertical, like a Mapping node's Z rotation in Blender",
    )
    parser.add_argument(
        "--exposure", type=float, default=0.0, metavar="EV", help="scale the HDRI by 2**EV"
    )
    parser.add_argument(
        "--shader",
        choices=SHADERS,
        default="diffuse",
        help="diffuse (default), reflective (metal) or both (diffuse + Fresnel reflection)",
    )
    parser.add_argument("--roughness", type=float, default=0.25, metavar="R",
                        help="reflection blur, 0 (mirror) to 1 (default 0.25)")
    parser.add_argument(
        "--irradiance",
        choices=IRRADIANCE_METHODS,
        default="map",
        help="diffuse lighting from the pre-convolved irradiance map (default) or SH9",
    )
    parser.add_argument(
        "--background",
        choices=BACKGROUNDS,
        help="keep the photo (needs --photo), show the HDRI, or transparent (alpha = mask); "
             "default: keep with --photo, else hdri",
    )
    parser.add_argument(
        "--photo", type=Path, metavar="FILE", help="the original photo, for --background keep"
    )
    parser.add_argument("--out", type=Path, required=True, metavar="FILE",
                        help=".png (8-bit sRGB) or .exr (linear float)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    parser.set_defaults(run=run)


def run(args) -> int:
    out = check_output_path(args.out)
    if out.exists() and not args.overwrite:
        raise UserError(f"{out} already exists; choose another --out or pass --overwrite")
    hdri = resolve_hdri(args.hdri)  # a bad HDRI name is the first thing to hear about
    background = args.background or ("keep" if args.photo is not None else "hdri")
    if background == "keep" and args.photo is None:
        raise UserError(
            "--background keep needs the original photo: pass --photo FILE, or use hdri or "
            "transparent"
        )
    rgba = relight_dir(
        args.predict_dir,
        hdri,
        rotation=args.rotation,
        exposure=args.exposure,
        shader=args.shader,
        background=background,
        photo=args.photo,
        roughness=args.roughness,
        irradiance=args.irradiance,
    )
    write_relit(out, rgba)
    print(f"relit under {args.hdri} -> {out}")
    return 0
