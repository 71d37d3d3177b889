"""photonormals serve: the HTTP inference service the Blender add-on talks to."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

from ..device import DEVICES, SERVING_PRECISIONS
from ..errors import UserError
from .predict import add_runtime_arguments

TOKEN_ENV = "PHOTONORMALS_TOKEN"


def add_parser(commands):
    parser = commands.add_parser("serve", help="run the HTTP inference service (API under /v1)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default loopback; any other needs --token)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--token", default=os.environ.get(TOKEN_ENV),
                        help=f"required as 'Authorization: Bearer TOKEN' on every call but health "
                             f"(default: ${TOKEN_ENV})")
    parser.add_argument("--device", choices=DEVICES, default="auto", help="where models run")
    parser.add_argument("--precision", choices=SERVING_PRECISIONS, default="auto",
                        help="network precision on CUDA (auto: bf16); CPU always runs fp32")
    add_runtime_arguments(parser)
    parser.add_argument(
        "--results-dir", type=Path, help="where job folders go (default: a temp folder)"
    )
    parser.add_argument(
        "--keep-minutes", type=float, default=30.0, help="how long results are kept"
    )
    parser.add_argument(
        "--max-queue", type=int, default=8, help="jobs waiting before 503 + Retry-After"
    )
    parser.add_argument("--max-upload-mb", type=float, default=512.0, help="largest request body")
    parser.add_argument("--max-photos", type=int, default=128, help="most photos in one job")
    parser.set_defaults(run=run)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args) -> int:
    if not is_loopback(args.host) and not args.token:
        raise UserError(f"refusing to listen on {args.host} without a token: pass --token "
                        f"(or set {TOKEN_ENV}), or bind to 127.0.0.1")
    for name in ("keep_minutes", "max_queue", "max_upload_mb", "max_photos"):
        if getattr(args, name) <= 0:
            raise UserError(f"--{name.replace('_', '-')} must be positive")
    import uvicorn

    from ..device import pick_device
    from ..service import Settings, create_app
    from ..service.uploads import Limits

    device = str(pick_device(args.device))
    settings = Settings(
        device=device,
        token=args.token,
        results_dir=args.results_dir,
        keep_minutes=args.keep_minutes,
        max_queue=args.max_queue,
        precision=args.precision,
        runtime=args.runtime,
        threads=args.threads,
        limits=Limits(
            max_upload_bytes=int(args.max_upload_mb * (1 << 20)), max_photos=args.max_photos
        ),
    )
    app = create_app(settings)
    print(f"photonormals serve: http://{args.host}:{args.port}/v1 on {device}"
          f"{' (token required)' if args.token else ''}", flush=True)
    uvicorn.run(
        app, host=args.host, port=args.port, log_level="warning", timeout_graceful_shutdown=5
    )
    return 0
