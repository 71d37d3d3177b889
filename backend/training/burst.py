"""A GPU burst: fine-tune the shipped multi-light model for a few minutes wherever a GPU turns
up, and say whether it got better.

    python -m photonormals.training.burst --minutes 7 --out $OUT

Only the repository travels to a lent GPU machine, so the burst builds everything there: the
geometry bank (in parallel on the machine's cores: a 2-core CPU takes minutes for it), then
trains from the committed weights with the same trainer, data engine and schedule as a CPU run,
only with larger batches and bf16, and scores the old and the new weights on the same held-out
per-class set (`class_validation_set`). It writes to ``--out``: the new weights, the run's logs,
and ``validation.md`` / ``validation.json`` with both tables. Nothing is shipped by the burst:
a person copies the weights into ``weights/`` when the table says they are better.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from ..device import pick_device
from ..evaluation.multilight_classes import class_errors
from ..inference.multilight import MultiLightModel
from ..models.registry import MULTILIGHT
from ..models.weights import shipped_weights
from ..synthetic.multilight.bank import build_bank
from ..synthetic.multilight.batches import MultiLightBatches
from ..synthetic.multilight.validation import class_validation_set
from .multilight import MultiLightTrainConfig, export, train

BANK_SEED = 20261207  # a fresh bank per burst: shapes no committed run trained on


def parallel_bank(count: int, size: int, workers: int) -> dict:
    """``count`` shapes built in ``workers`` processes, each its own seed: concatenated."""
    chunks = [count // workers + (i < count % workers) for i in range(workers)]
    chunks = [c for c in chunks if c]
    if len(chunks) == 1:
        return build_bank(count, size, BANK_SEED)
    with ProcessPoolExecutor(len(chunks)) as pool:
        parts = list(pool.map(build_bank, chunks, [size] * len(chunks),
                              [BANK_SEED + i for i in range(len(chunks))]))
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def score(weights: Path, data: dict, device: str) -> dict:
    """Mean light and normal error per "class rig", and over all, as predict runs the model."""
    rows = class_errors(MultiLightModel(weights, device=device), data)
    every = np.concatenate(list(rows.values()))
    means = {f"{name} {rig}": value.mean(0) for (name, rig), value in rows.items()}
    means["all"] = every.mean(0)
    return {key: {"light": float(m[0]), "normal": float(m[1])} for key, m in means.items()}


def markdown(before: dict, after: dict, steps: tuple[int, int]) -> str:
    lines = [f"Fine-tuned {steps[0]} -> {steps[1]} steps. Degrees, 9 lights, held-out shapes.",
             "", "| class rig | light before | light after | normal before | normal after |",
             "|---|---|---|---|---|"]
    for key in before:
        b, a = before[key], after[key]
        lines.append(f"| {key} | {b['light']:.2f} | {a['light']:.2f} | {b['normal']:.2f} | "
                     f"{a['normal']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--minutes", type=float, default=7.0, help="training time (the bank "
                        "and the two scorings come on top: about 1.5 minutes on an H100 host)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=4e-4)
    parser.add_argument("--crop", type=int, default=64)
    parser.add_argument("--bank-size", type=int, default=2000)
    parser.add_argument("--bank-resolution", type=int, default=128)
    parser.add_argument("--val-count", type=int, default=8, help="shapes per class and rig")
    parser.add_argument("--val-size", type=int, default=128)
    parser.add_argument("--init", type=Path, help="default: the shipped multi-light weights")
    args = parser.parse_args(argv)

    start = time.monotonic()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    device = str(pick_device(args.device))
    init = args.init or shipped_weights(MULTILIGHT)
    initial = MultiLightModel(init)
    first_step = int(initial.metadata.get("steps", 0))
    workers = max(1, min(os.cpu_count() or 1, 16))
    bank = parallel_bank(args.bank_size, args.bank_resolution, workers)
    print(f"bank: {args.bank_size} shapes in {time.monotonic() - start:.0f} s", flush=True)
    data = class_validation_set(args.val_count, size=args.val_size, cache_dir=out / "cache")
    before = score(init, data, device)

    config = MultiLightTrainConfig(
        model=initial.name, minutes=args.minutes, steps=10**9, batch=args.batch,
        images=(2, 16), crop=args.crop, lr=args.lr, device=device, run_dir=str(out / "runs"),
        # the shipped weights' last CPU run drew these; without them a burst would unlearn them
        light_rigs=0.6, linear_codes=0.3,
        init=str(init), checkpoint_minutes=args.minutes / 2 + 0.5,
        overrides={k: v for k, v in initial.model.config.items() if k != "name"},
    )
    result = train(config, batches=MultiLightBatches(bank, device))
    weights = out / f"{initial.name}.safetensors"
    export(Path(result["checkpoint"]), weights)
    after = score(weights, data, device)
    report = markdown(before, after, (first_step, result["step"]))
    (out / "validation.md").write_text(report)
    (out / "validation.json").write_text(json.dumps(
        {"before": before, "after": after, "steps": [first_step, result["step"]], "device": device,
         "seconds": time.monotonic() - start}, indent=2))
    shutil.rmtree(out / "cache", ignore_errors=True)  # the rendered set: rebuilt from seeds
    print(report, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
