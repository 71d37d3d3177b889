"""Where the engines keep what is slow to make (geometry banks, validation sets), and how.

Each cache file's name holds every parameter and a VERSION that its builder bumps whenever the
generation changes, so a stale file is never read; files are written atomically, so an
interrupted build never leaves a bad one.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

CACHE_DIR = Path.home() / ".cache" / "photonormals"


def save_arrays(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """Write an .npz atomically (temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def load_arrays(path: str | Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def arrays_tag(arrays) -> str:
    """A short content hash of a few arrays (e.g. a set's env maps) for a cache file's name:
    their shapes and a 1-in-49 subsample, cheap for HDRIs of millions of pixels."""
    h = hashlib.sha1()
    for a in arrays:
        a = np.asarray(a, np.float32)
        h.update(str(a.shape).encode())
        h.update(a[::7, ::7].tobytes())
    return h.hexdigest()[:8]
