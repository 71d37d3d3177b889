"""The learning-rate schedule both trainers share: a pure function of the step, so a run that
stops at any moment resumes on the same curve."""

from __future__ import annotations

import math


def learning_rate(config, step: int, time_fraction: float = 0.0, first_step: int = 0) -> float:
    """Warm-up, then cosine decay to 2 % (``config``: lr, warmup, steps). Progress is the larger
    of the step and the wall-time fractions, so a run capped by --minutes still anneals fully
    before its deadline. Every run warms up from its own first step: a warm start or resume
    begins with fresh or stale moments."""
    if step - first_step < config.warmup:
        return config.lr * (step - first_step + 1) / config.warmup
    progress = min(
        1.0, max(time_fraction, (step - config.warmup) / max(1, config.steps - config.warmup))
    )
    return config.lr * (0.02 + 0.98 * 0.5 * (1.0 + math.cos(math.pi * progress)))
