"""A small, fixed validation set for the portrait models, rendered once and kept on disk.

Faces come from a bank with its own seed (never a training seed); the render uses a fixed
generator, so HDRIs appear at rotations the training draw does not tie to these faces. The
file sits beside the geometry cache, keyed by count, size, seed, face model and env maps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..cache import CACHE_DIR, arrays_tag, load_arrays, save_arrays
from ..faces import DEFAULT_PATH, FaceModel
from .bank import cached_bank, face_model_tag
from .batches import KEYS, PortraitBatches

VERSION = 1
BANK_SEED = 104729  # never a training seed



def render_each(
    bank: dict, envs, size: int, seed: int, mirror: bool = True
) -> dict[str, np.ndarray]:
    """One fixed, sharp render of every portrait in ``bank``, in bank order (numpy, as
    ``validation_set`` returns them); ``mirror=False`` keeps every one unmirrored."""
    # sharp, as first drawn
    batches = PortraitBatches(bank, list(envs), size=size, soften=False, mirror=mirror)
    # One fixed draw per face, in bank order: temporarily make sample() pick index i.
    generator = torch.Generator().manual_seed(seed)
    out = {k: [] for k in KEYS}
    geo = batches.geo
    for i in range(len(batches)):
        batches.geo = {k: v[i : i + 1] for k, v in geo.items()}
        s = batches.sample(1, generator)
        for k in KEYS:
            out[k].append(s[k][0].numpy())
    return {k: np.stack(v) for k, v in out.items()}


def validation_set(
    count: int = 64,
    size: int = 128,
    seed: int = 1,
    faces: str | Path | FaceModel = DEFAULT_PATH,
    envs: list[np.ndarray] = (),
    cache_dir: str | Path = CACHE_DIR,
    bank_size: int | None = None,
) -> dict[str, np.ndarray]:
    """dict of numpy arrays (N, C, S, S) float32 with the keys and meaning of
    ``PortraitBatches.sample`` (mask and face are 0/1)."""
    model = faces if isinstance(faces, FaceModel) else FaceModel.load(faces)
    bank_size = bank_size or 2 * size
    tags = f"{face_model_tag(model)}_{arrays_tag(envs)}"
    name = f"val_portraits_v{VERSION}_n{count}_s{size}_b{bank_size}_seed{seed}_{tags}.npz"
    path = Path(cache_dir) / name
    if path.is_file():
        return load_arrays(path)
    bank = cached_bank(count, bank_size, BANK_SEED + seed, model, cache_dir=cache_dir)
    data = render_each(bank, envs, size, seed)
    save_arrays(path, data)
    return data
