"""photonormals calibrate: light directions from photos of a chrome ball."""

from pathlib import Path

from ..errors import UserError
from ..io.images import read_image, read_mask
from ..photometric.chrome_ball import calibrate_lights, write_light_directions


def add_parser(commands):
    parser = commands.add_parser("calibrate", help="light directions from chrome-ball photos")
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE",
                        help="one photo of the mirror ball per light, in capture order")
    parser.add_argument("--ball-mask", required=True, type=Path, metavar="MASK",
                        help="mask of the ball's silhouette (white = ball)")
    parser.add_argument("--out", type=Path, default=Path("light_directions.txt"), metavar="FILE",
                        help="where to write the directions (default: ./light_directions.txt)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    parser.set_defaults(run=run)


def run(args) -> int:
    if args.out.exists() and not args.overwrite:
        raise UserError(f"{args.out} already exists; choose another --out or pass --overwrite")
    for path in args.images:
        if not path.is_file():
            raise UserError(f"{path}: no such file")
    images = [read_image(path, colorspace="linear").rgb for path in args.images]
    mask = read_mask(args.ball_mask, images[0].shape[:2])
    directions = calibrate_lights(images, mask)
    write_light_directions(args.out, directions)
    print(f"wrote {len(directions)} light directions to {args.out}")
    return 0
