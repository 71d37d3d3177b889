"""The cached bank of geometry the multi-light engine draws from: every shape family mixed.

Each sample draws from its own generator ``default_rng([seed, index])``, so a sample does not
depend on the ones before it (a bank of 200 is a prefix of a bank of 1000 with the same seed and
kind sequence) and a build is reproducible. Storage is float16 normals/depth: 3 significant
digits are ample for normals (< 0.1 deg) and for relative pixel depths used by shadows.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np

from ..cache import CACHE_DIR, load_arrays, save_arrays
from ..faces import FaceModel
from .geometry import FAMILIES, face

VERSION = 1  # bump whenever generation changes: it is part of the cache file name
KINDS = ("blobby", "sculpture", "relief", "face")
DEFAULT_MIX = {"blobby": 0.3, "sculpture": 0.3, "relief": 0.2, "face": 0.2}


def _face_model(faces_path: Path | None):
    if faces_path is None or not Path(faces_path).is_file():
        return None
    return FaceModel.load(faces_path)


def _probabilities(mix: dict[str, float], have_faces: bool) -> np.ndarray:
    unknown = set(mix) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown shape kinds {sorted(unknown)}; known: {KINDS}")
    p = np.array([float(mix.get(k, 0.0)) for k in KINDS])
    if not have_faces:
        p[KINDS.index("face")] = 0.0  # its share goes to the others by renormalisation
    if p.sum() <= 0:
        raise ValueError(f"mix {mix} leaves nothing to sample (faces available: {have_faces})")
    return p / p.sum()


def build_bank(
    count: int,
    size: int,
    seed: int,
    mix: dict[str, float] | None = None,
    faces_path: Path | None = None,
    verbose: bool = False,
) -> dict[str, np.ndarray]:
    """Generate ``count`` samples: normals (N,H,W,3) f16, depth (N,H,W) f16, mask, kind (N,) u8."""
    model = _face_model(faces_path)
    p = _probabilities(DEFAULT_MIX if mix is None else mix, model is not None)
    kinds = np.random.default_rng(seed).choice(len(KINDS), size=count, p=p).astype(np.uint8)
    bank = {
        "normals": np.zeros((count, size, size, 3), np.float16),
        "depth": np.zeros((count, size, size), np.float16),
        "mask": np.zeros((count, size, size), bool),
        "kind": kinds,
    }
    start = time.perf_counter()
    for i, k in enumerate(kinds):
        rng = np.random.default_rng([seed, i])
        name = KINDS[k]
        b = face(rng, size, model) if name == "face" else FAMILIES[name](rng, size)
        bank["normals"][i] = b.normals
        bank["depth"][i] = b.depth
        bank["mask"][i] = b.mask
        if verbose and ((i + 1) % 100 == 0 or i + 1 == count):
            print(
                f"geometry bank: {i + 1}/{count} ({time.perf_counter() - start:.1f} s)", flush=True
            )
    return bank


def bank_path(
    count: int,
    size: int,
    seed: int,
    mix: dict[str, float] | None = None,
    faces_path: Path | None = None,
    cache_dir: str | Path = CACHE_DIR,
) -> Path:
    """Cache file name: parameters, VERSION, and a hash of the effective mix."""
    have_faces = faces_path is not None and Path(faces_path).is_file()
    p = _probabilities(DEFAULT_MIX if mix is None else mix, have_faces)
    tag = hashlib.sha1(json.dumps([round(x, 6) for x in p]).encode()).hexdigest()[:8]
    return Path(cache_dir) / f"geometry_v{VERSION}_n{count}_s{size}_seed{seed}_{tag}.npz"


def cached_bank(
    count: int,
    size: int,
    seed: int,
    mix: dict[str, float] | None = None,
    faces_path: Path | None = None,
    cache_dir: str | Path = CACHE_DIR,
    verbose: bool = False,
) -> dict[str, np.ndarray]:
    """Load the bank for these parameters from ``cache_dir``, building and saving it once."""
    path = bank_path(count, size, seed, mix, faces_path, cache_dir)
    if path.is_file():
        return load_arrays(path)
    bank = build_bank(count, size, seed, mix, faces_path, verbose)
    save_arrays(path, bank)
    if verbose:
        print(f"geometry bank saved to {path}", flush=True)
    return bank
