"""photonormals batch: a folder of photo sets in, one predict folder per set out (backend/batch.py);
with --ray, the sets run as Ray tasks across a cluster (backend/ray_batch.py)."""

from pathlib import Path

from ..device import DEVICES
from ..io.images import COLORSPACES, NORMAL_CONVENTIONS
from ..predict import DEFAULT_LIGHT_FROM, LIGHT_FROM, MODES, PredictOptions
from ..ray_cluster import check_flags
from .predict import add_runtime_arguments


def add_parser(commands):
    parser = commands.add_parser(
        "batch", help="predict every photo set in a folder, one output folder each (resumable)")
    parser.add_argument("input", type=Path, metavar="INPUT",
                        help="a folder: each photo in it is a set of one, each sub-folder a set "
                             "(its photos, light_directions.txt or lights.json, mask.png)")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR",
                        help="OUT/<set>/ gets each set's maps, OUT/summary.json the list")
    parser.add_argument("--mode", choices=MODES, default="auto", help="as predict's --mode")
    parser.add_argument("--input-colorspace", choices=COLORSPACES, default="auto")
    parser.add_argument("--normal-convention", choices=NORMAL_CONVENTIONS, default="opengl")
    parser.add_argument("--device", choices=DEVICES, default="auto",
                        help="where a learned model runs (with --ray: on each worker)")
    add_runtime_arguments(parser)
    parser.add_argument("--seamless", action="store_true",
                        help="material mode: make the maps tile without a visible seam")
    parser.add_argument("--light-from", choices=LIGHT_FROM, default=DEFAULT_LIGHT_FROM,
                        help="material mode, sets of one photo: the side its light comes from, "
                             "or auto: detected per photo (as predict's)")
    parser.add_argument("--frame-px", type=int, metavar="PX",
                        help="single mode: the whole-frame pass's largest size (as predict's)")
    parser.add_argument("--overwrite", action="store_true",
                        help="redo every set (default: sets already done are skipped)")
    ray = parser.add_argument_group(
        "Ray", "run the sets across a Ray cluster (needs pip install 'photonormals[ray]')")
    ray.add_argument("--ray", action="store_true", help="run each set as a Ray task")
    ray.add_argument("--address", metavar="ADDR",
                     help="the cluster's head, HOST:PORT or auto (default: start Ray on this "
                          "machine)")
    ray.add_argument("--cpus-per-set", type=float, metavar="F",
                     help="CPU cores Ray reserves for each set's task (default 1)")
    ray.add_argument("--gpus-per-set", type=float, metavar="F",
                     help="GPUs for each set's task, fractions share one (default 0)")
    parser.set_defaults(run=run)


def run(args) -> int:
    from ..batch import find_sets
    from ..batch import run as run_batch

    resources = ("cpus_per_set", "gpus_per_set")
    check_flags(args, ("address", *resources), resources)
    sets = find_sets(args.input, skip=args.out)
    options = PredictOptions(
        mode=args.mode, input_colorspace=args.input_colorspace,
        normal_convention=args.normal_convention, device=args.device, runtime=args.runtime,
        threads=args.threads, seamless=args.seamless, light_from=args.light_from,
        frame_px=args.frame_px,
    )
    if not args.ray:
        return run_batch(sets, args.out, options, args.overwrite)
    from ..ray_batch import mapper
    from ..ray_cluster import require_ray

    require_ray()
    cpus = 1.0 if args.cpus_per_set is None else args.cpus_per_set
    return run_batch(sets, args.out, options, args.overwrite,
                     mapper(args.address, cpus, args.gpus_per_set or 0.0))
