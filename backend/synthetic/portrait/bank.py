"""The cached bank of portraits the portrait engine draws from (see `geometry` for what one
portrait holds). Each portrait uses ``default_rng([seed, index])``, so a bank is a prefix of any
bigger one with the same seed, and a bigger bank only builds the portraits a cached one lacks.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np

from ..cache import CACHE_DIR, load_arrays, save_arrays
from ..faces import DEFAULT_PATH, FaceModel
from .geometry import build_portrait

VERSION = 1  # bump whenever generation changes: it is part of the cache file name
DEFAULT_COUNT = 400  # ~0.6 s each at 256^2 on one core: about 4 minutes
DEFAULT_SIZE = 256


_PER_PIXEL = {"normals": np.float16, "depth": np.float16, "labels": np.uint8, "face": bool,
              "canonical": np.float16, "ao": np.uint8}


def build_bank(count: int, size: int, seed: int, model: FaceModel, verbose: bool = False,
                        view_turns: list[np.ndarray] | None = None, first: int = 0,
                        framing: str = "face") -> dict:
    """Portraits ``first`` to ``count - 1`` as stacked arrays (see the module docstring);
    ``view_turns``: one ``build_portrait`` view turn per portrait (benchmarks of off-axis faces);
    ``framing``: "face" (head and shoulders, face filling the frame) or "body" (whole upper
    body, `geometry.build_portrait`)."""
    bank: dict[str, list] = {}
    start = time.perf_counter()
    for i in range(first, count):
        turn = None if view_turns is None else view_turns[i]
        sample = build_portrait(
            np.random.default_rng([seed, i]), size, model, view_turn=turn, framing=framing
        )
        for k, v in sample.items():
            bank.setdefault(k, []).append(np.asarray(v).astype(_PER_PIXEL.get(k, np.float32)))
        if verbose and ((i + 1) % 100 == 0 or i + 1 == count):
            print(
                f"portrait bank: {i + 1}/{count} ({time.perf_counter() - start:.1f} s)", flush=True
            )
    return {k: np.stack(v) for k, v in bank.items()}


def face_model_tag(model: FaceModel) -> str:
    """A short hash of the face model, for cache file names."""
    h = hashlib.sha1()
    for a in (
        model.neutral,
        model.triangles,
        model.labels,
        model.identity[:4],
        model.expression[:4],
    ):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:8]


def cached_bank(
    count: int = DEFAULT_COUNT,
    size: int = DEFAULT_SIZE,
    seed: int = 0,
    faces_path: str | Path | FaceModel = DEFAULT_PATH,
    cache_dir: str | Path = CACHE_DIR,
    verbose: bool = False,
    framing: str = "face",
) -> dict[str, np.ndarray]:
    """Load the bank for these parameters from ``cache_dir``, building and saving it once.

    ``faces_path`` is the ICT-FaceKit npz or an already loaded ``FaceModel`` (tests).
    ``framing`` as in ``build_bank``; named in the file only when not "face", so the face
    banks cached before bodies existed keep their names.
    """
    model = faces_path if isinstance(faces_path, FaceModel) else FaceModel.load(faces_path)
    kind = "" if framing == "face" else f"_{framing}"
    name = f"portraits{kind}_v{VERSION}_n{{}}_s{size}_seed{seed}_{face_model_tag(model)}.npz"
    path = Path(cache_dir) / name.format(count)
    if path.is_file():
        return load_arrays(path)
    # Banks are prefixes of each other: a bigger bank only builds the portraits a cached one lacks.
    cached = next(
        (n for n in range(count - 1, 0, -1) if (Path(cache_dir) / name.format(n)).is_file()), 0
    )
    bank = build_bank(count, size, seed, model, verbose, first=cached, framing=framing)
    if cached:
        prefix = load_arrays(Path(cache_dir) / name.format(cached))
        bank = {k: np.concatenate([prefix[k], bank[k]]) for k in prefix}
    save_arrays(path, bank)
    if verbose:
        print(f"portrait bank saved to {path}", flush=True)
    return bank
