"""photonormals height: integrate a normal map into a height map for displacement."""

import json
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..geometry.height import height_to_png16, integrate_normals
from ..io.images import (
    NORMAL_CONVENTIONS,
    decode_normals,
    read_image,
    read_mask,
    write_atomic,
    write_npy,
    write_png,
)

METHODS = ("poisson", "fft")


def add_parser(commands):
    parser = commands.add_parser(
        "height", help="normal map + mask -> height map (16-bit PNG + .npy)"
    )
    parser.add_argument("normals", type=Path, metavar="NORMALS",
                        help="a predict output folder, normal.npy, or a normal-map PNG")
    parser.add_argument(
        "--mask",
        type=Path,
        metavar="FILE",
        help="object mask (default: mask.png beside the normals, else the whole frame)",
    )
    parser.add_argument(
        "--method",
        choices=METHODS,
        default="poisson",
        help="poisson: least squares inside the mask (default); fft: Frankot-Chellappa",
    )
    parser.add_argument("--normal-convention", choices=NORMAL_CONVENTIONS, default="opengl",
                        help="green channel convention of a normal-map PNG")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="output folder (default: beside the normals)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing height map")
    parser.set_defaults(run=run)


def run(args) -> int:
    source = args.normals / "normal.npy" if args.normals.is_dir() else args.normals
    if not source.is_file():
        raise UserError(f"{source}: no such file")
    out_dir = args.out or source.parent
    targets = [out_dir / name for name in ("height.png", "height.npy", "height.json")]
    if any(t.exists() for t in targets) and not args.overwrite:
        raise UserError(
            f"{out_dir} already holds a height map; choose another --out or pass --overwrite"
        )

    normals = _read_normals(source, args.normal_convention)
    mask_path = args.mask or (source.parent / "mask.png")
    mask = read_mask(mask_path, normals.shape[:2]) if mask_path.is_file() else None
    if args.mask is not None and mask is None:
        raise UserError(f"{args.mask}: no such file")

    height = integrate_normals(normals, mask, method=args.method)
    encoded, meta = height_to_png16(height, mask)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_png(targets[0], encoded)
    write_npy(targets[1], height.astype(np.float32))
    meta.update(
        method=args.method, source=source.name, mask=mask_path.name if mask is not None else None
    )
    write_atomic(targets[2], (json.dumps(meta, indent=2) + "\n").encode())
    print(f"height {meta['min']:.1f}..{meta['max']:.1f} px -> {targets[0]}")
    return 0


def _read_normals(path: Path, convention: str) -> np.ndarray:
    if path.suffix.lower() == ".npy":
        try:
            normals = np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise UserError(f"{path.name}: not a plain numpy array ({exc})") from None
        if normals.ndim != 3 or normals.shape[2] != 3:
            raise UserError(f"{path.name}: expected an H x W x 3 normal array, got {normals.shape}")
        return normals.astype(np.float32)
    return decode_normals(read_image(path, colorspace="linear").rgb, convention)
