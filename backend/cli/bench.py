"""photonormals bench: end-to-end service latency, throughput and memory; shipped model vs sdps."""

from __future__ import annotations

import json
from pathlib import Path

from ..device import DEVICES, RUNTIMES
from ..errors import UserError


def add_parser(commands):
    parser = commands.add_parser("bench", help="benchmark the inference service end to end")
    parser.add_argument(
        "--sizes", default="256x256,612x512", help="comma-separated WIDTHxHEIGHT list"
    )
    parser.add_argument("--counts", default="3,9", help="comma-separated image counts per set")
    parser.add_argument("--repeat", type=int, default=2, help="timed requests per configuration")
    parser.add_argument(
        "--throughput-jobs", type=int, default=2, help="jobs submitted at once for throughput"
    )
    parser.add_argument("--device", choices=DEVICES, default="auto")
    parser.add_argument("--runtime", choices=RUNTIMES, default="auto",
                        help="the server's and the model comparison's network runtime")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the numbers as JSON")
    parser.set_defaults(run=run)


def _parse_list(text: str, what: str, parse) -> list:
    try:
        values = [parse(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UserError(f"--{what}: cannot read {text!r}") from None
    if not values:
        raise UserError(f"--{what}: empty list")
    return values


def _size(text: str) -> tuple[int, int]:
    width, height = (int(v) for v in text.lower().split("x"))
    if width < 32 or height < 32:
        raise ValueError(text)
    return width, height


def run(args) -> int:
    from ..service.bench import format_report, run_bench

    sizes = _parse_list(args.sizes, "sizes", _size)
    counts = _parse_list(args.counts, "counts", int)
    if min(counts) < 2 or args.repeat < 1 or args.throughput_jobs < 1:
        raise UserError("--counts must be at least 2; --repeat and --throughput-jobs at least 1")
    result = run_bench(sizes, counts, args.repeat, args.throughput_jobs, args.device,
                       runtime=args.runtime)
    print(format_report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0
