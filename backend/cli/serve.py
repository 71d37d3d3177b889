"""photonormals serve: the HTTP inference service the Blender add-on talks to; with --ray, the
same service as a Ray Serve deployment of several replicas (service/ray_serve.py)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..device import DEVICES, SERVING_PRECISIONS
from ..errors import UserError
from ..ray_cluster import check_flags
from .predict import add_runtime_arguments

TOKEN_ENV = "PHOTONORMALS_TOKEN"
PORT = 8765
RAY_FLAGS = ("address", "replicas", "max_replicas", "cpus_per_replica", "gpus_per_replica")
MIN_TOKEN_LENGTH = 16
# A token travels in an HTTP header: visible ASCII, no spaces (secrets.token_urlsafe() fits).
_TOKEN = re.compile(r"[!-~]+")


def add_parser(commands):
    parser = commands.add_parser("serve", help="run the HTTP inference service (API under /v1)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default loopback; any other needs --token)")
    parser.add_argument("--port", type=int,
                        help=f"port to listen on (default {PORT}; with --ray 8000, Ray Serve's)")
    parser.add_argument("--token", default=os.environ.get(TOKEN_ENV),
                        help=f"required as 'Authorization: Bearer TOKEN' on every call but health: "
                             f"at least {MIN_TOKEN_LENGTH} visible characters, no spaces "
                             f"(default: ${TOKEN_ENV})")
    parser.add_argument("--allow-origin", action="append", default=[], metavar="URL",
                        help="a web page origin (e.g. http://localhost:3000) allowed to call the "
                             "API from a browser; repeat for more (default: none)")
    parser.add_argument("--device", choices=DEVICES, default="auto", help="where models run")
    parser.add_argument("--precision", choices=SERVING_PRECISIONS, default="auto",
                        help="network precision on CUDA (auto: bf16); on a CPU --runtime "
                             "decides (auto: the portrait network in bf16 on bf16 hardware)")
    add_runtime_arguments(parser)
    parser.add_argument(
        "--results-dir", type=Path, help="where job folders go (default: a temp folder)"
    )
    parser.add_argument(
        "--keep-minutes", type=float, default=30.0, help="how long results are kept"
    )
    parser.add_argument("--max-results-mb", type=float, default=4096.0,
                        help="disk kept results may use; the oldest go first (default 4096)")
    parser.add_argument(
        "--max-queue", type=int, default=8, help="jobs and relights waiting before 503"
    )
    parser.add_argument("--max-upload-mb", type=float, default=512.0, help="largest request body")
    parser.add_argument("--max-photos", type=int, default=128, help="most photos in one job")
    parser.add_argument("--max-job-mp", type=float, default=32.0,
                        help="most megapixels one job decodes, all photos together (default 32)")
    parser.add_argument("--max-hdri-mp", type=float, default=8.4,
                        help="largest HDRI a relight may upload, in megapixels (default 8.4: "
                             "4096x2048)")
    parser.add_argument("--read-timeout", type=float, default=10.0, metavar="S",
                        help="seconds a client gets to send a request's headers; after that an "
                             "upload must average 64 KiB/s (default 10)")
    ray = parser.add_argument_group(
        "Ray Serve", "run the service on a Ray cluster (needs pip install 'photonormals[ray]')")
    ray.add_argument("--ray", action="store_true",
                     help="serve through Ray Serve's HTTP proxy, as a deployment of --replicas "
                          "replicas that share their jobs and results")
    ray.add_argument("--address", metavar="ADDR",
                     help="the cluster's head, HOST:PORT or auto (default: start Ray on this "
                          "machine)")
    ray.add_argument("--replicas", type=int, metavar="N", help="replicas to run (default 1)")
    ray.add_argument("--max-replicas", type=int, metavar="M",
                     help="autoscale between --replicas and M on requests in flight (default: "
                          "a fixed --replicas)")
    ray.add_argument("--cpus-per-replica", type=float, metavar="F",
                     help="CPU cores Ray reserves for each replica (default 1)")
    ray.add_argument("--gpus-per-replica", type=float, metavar="F",
                     help="GPUs for each replica, fractions share one (default 0; with "
                          "--device auto a replica then runs on its GPU)")
    parser.set_defaults(run=run)


def check_token(token: str) -> None:
    if len(token) < MIN_TOKEN_LENGTH or not _TOKEN.fullmatch(token):
        raise UserError(
            f"--token needs at least {MIN_TOKEN_LENGTH} visible characters and no spaces; make "
            "one with: python -c 'import secrets; print(secrets.token_urlsafe())'"
        )


def check_args(args) -> None:
    """A UserError for every flag, or combination, the server cannot run with."""
    from ..service.guards import is_loopback

    if args.token is not None:
        check_token(args.token)
    if not is_loopback(args.host) and not args.token:
        raise UserError(f"refusing to listen on {args.host} without a token: pass --token "
                        f"(or set {TOKEN_ENV}), or bind to 127.0.0.1")
    for name in ("keep_minutes", "max_results_mb", "max_queue", "max_upload_mb", "max_photos",
                 "max_job_mp", "max_hdri_mp", "read_timeout"):
        if not getattr(args, name) > 0:
            raise UserError(f"--{name.replace('_', '-')} must be positive")
    for origin in args.allow_origin:
        if not re.fullmatch(r"https?://[^/\s]+", origin):
            raise UserError(f"--allow-origin {origin!r}: give a scheme and host, like "
                            "http://localhost:3000, with no path")
    if args.ray:
        check_ray_args(args)
    else:
        check_flags(args, RAY_FLAGS, ())


def check_ray_args(args) -> None:
    if args.results_dir is not None:
        raise UserError("--results-dir does not go with --ray: each replica keeps its scratch in "
                        "a temporary folder of its own, and finished results live in the "
                        "cluster's job store")
    if args.replicas is not None and args.replicas < 1:
        raise UserError("--replicas must be at least 1")
    if args.max_replicas is not None and args.max_replicas < (args.replicas or 1):
        raise UserError("--max-replicas must be at least --replicas")
    check_flags(args, RAY_FLAGS, ("cpus_per_replica", "gpus_per_replica"))


def settings_for(args, device: str):
    from ..service import Settings
    from ..service.uploads import Limits

    return Settings(
        device=device,
        token=args.token,
        host=args.host,
        allow_origins=frozenset(args.allow_origin),
        results_dir=args.results_dir,
        keep_minutes=args.keep_minutes,
        max_results_mb=args.max_results_mb,
        max_queue=args.max_queue,
        read_timeout=args.read_timeout,
        precision=args.precision,
        runtime=args.runtime,
        threads=args.threads,
        limits=Limits(
            max_upload_bytes=int(args.max_upload_mb * (1 << 20)), max_photos=args.max_photos,
            max_job_pixels=int(args.max_job_mp * 1e6),
            max_hdri_pixels=int(args.max_hdri_mp * 1e6),
        ),
    )


def scale_for(args):
    from ..service.ray_serve import Scale

    return Scale(replicas=args.replicas or 1, max_replicas=args.max_replicas,
                 cpus=1.0 if args.cpus_per_replica is None else args.cpus_per_replica,
                 gpus=args.gpus_per_replica or 0.0)


def ray_plan(flags: dict):
    """(settings, scale) from serve.yaml's args: the flags without dashes, checked as the
    command line's are."""
    from .main import build_parser

    argv = ["serve", "--ray"]
    for key, value in flags.items():
        for item in value if isinstance(value, list) else [value]:
            argv += [f"--{key.replace('_', '-')}", str(item)]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit:  # argparse has said why on stderr
        raise UserError(f"serve.yaml args: cannot use {flags}") from None
    check_args(args)
    return settings_for(args, args.device), scale_for(args)


def run(args) -> int:
    check_args(args)
    if args.ray:
        from ..ray_cluster import require_ray

        require_ray()  # before anything else: the one thing to fix
        from ..service.ray_serve import DEFAULT_PORT
        from ..service.ray_serve import run as run_on_ray

        # The device is resolved on each replica: this machine may have no GPU, they may.
        return run_on_ray(settings_for(args, args.device), scale_for(args), args.address,
                          args.port or DEFAULT_PORT)
    from ..device import pick_device
    from ..service import create_app
    from ..service.parent import watch_parent
    from ..service.server import bind, serve
    from ..service.storage import check_free

    if args.results_dir is not None:
        check_free(args.results_dir)
    device = str(pick_device(args.device))
    app = create_app(settings_for(args, device))
    port = PORT if args.port is None else args.port
    sock = bind(args.host, port)  # a busy port: exit 2 here, before the banner
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"photonormals serve: http://{host}:{sock.getsockname()[1]}/v1 on {device}"
          f"{' (token required)' if args.token else ''}", flush=True)
    watch = watch_parent()  # started by the Blender add-on: exit when Blender is gone
    serve(app, sock, args.read_timeout)
    if watch is not None:
        watch.cleanup()
    return 0
