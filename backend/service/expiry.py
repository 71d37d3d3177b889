"""Which finished results to forget: one rule for a server's job folders (jobs.py) and for the
results a Ray deployment shares (job_store.py)."""

from __future__ import annotations

from collections.abc import Hashable, Iterable


def expired(finished: Iterable[tuple[Hashable, float, int]], now: float, keep_seconds: float,
            max_bytes: int | None) -> list:
    """The keys to forget of (key, finished_at, size) results: those finished over keep_seconds
    ago and then, while the rest are over max_bytes, the oldest others but the newest."""
    by_age = sorted(finished, key=lambda item: item[1])
    gone = [item for item in by_age if now - item[1] > keep_seconds]
    kept = [item for item in by_age if now - item[1] <= keep_seconds]
    total = sum(size for _, _, size in kept)
    while max_bytes is not None and total > max_bytes and len(kept) > 1:
        total -= kept[0][2]
        gone.append(kept.pop(0))
    return [key for key, _, _ in gone]
