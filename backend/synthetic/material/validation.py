"""The fixed, held-out surface photos the material models are scored on, per family.

Rendered once with a generator seeded apart from every training seed (training draws from
``seed * 1_000_003 + step``), on the CPU so the set is the same on every machine, and kept on
disk beside the other engines' caches, keyed by count, size, seed and the HDRIs. Maps are stored
as float16 (the set is a few hundred MB otherwise); the shading as its luminance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..cache import CACHE_DIR, arrays_tag, load_arrays, save_arrays
from .batches import MaterialBatches
from .geometry import FAMILIES
from .lighting import LUMA

VERSION = 2  # 2: "light" (what lit each sample) stored; the same photos as 1
SEED = 7919  # never a training seed's generator: those are seed * 1_000_003 + step



def render_set(count: int, size: int, seed: int, envs=(), families=FAMILIES,
               batch: int = 8, light_up: float = 0.0) -> dict[str, np.ndarray]:
    """``count`` samples of each family, in family order: (N, C, S, S) float16 maps ("image",
    "normal", "height", "albedo", "shading" (luminance), "roughness"), "family" (N,) and
    "light" (N,), what lit each (`lighting.LIGHT_KINDS`)."""
    batches = MaterialBatches(list(envs), size=size, device="cpu", light_up=light_up)
    generator = torch.Generator().manual_seed(SEED + seed)
    out: dict[str, list] = {}
    for family in families:
        for start in range(0, count, batch):
            s = batches.sample(min(batch, count - start), generator, family=family)
            luma = torch.tensor(LUMA).view(1, 3, 1, 1)
            s["shading"] = (s["shading"] * luma).sum(1, keepdim=True)
            for key, value in s.items():
                value = value.numpy()
                out.setdefault(key, []).append(value if key in ("family", "light") else
                                               value.astype(np.float16))
    return {k: np.concatenate(v) for k, v in out.items()}


def validation_set(count: int = 8, size: int = 256, seed: int = 0, envs=(),
                   cache_dir: str | Path = CACHE_DIR,
                   light_up: float = 0.0) -> dict[str, np.ndarray]:
    """The cached `render_set` (rendered on first use); ``light_up`` > 0: the "lit from above"
    set (`lighting.light_surface`), a separate cache."""
    up = f"_up{light_up:g}" if light_up else ""
    name = f"val_materials_v{VERSION}_n{count}_s{size}_seed{seed}{up}_{arrays_tag(envs)}.npz"
    path = Path(cache_dir) / name
    if path.is_file():
        return load_arrays(path)
    data = render_set(count, size, seed, envs, light_up=light_up)
    save_arrays(path, data)
    return data
