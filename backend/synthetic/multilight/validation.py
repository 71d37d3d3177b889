"""The fixed synthetic validation set for regression numbers.

Shapes come from a geometry bank with its own seed, so none of them is a training shape; each
sample has 64 lights so that benchmarks can take the first K of them for any K up to 64. The
set is rendered once, deterministically, and kept on disk beside the geometry cache.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..cache import CACHE_DIR, load_arrays, save_arrays
from ..materials import random_albedo, random_materials
from .bank import cached_bank
from .camera import apply_camera
from .lights import sample_light_directions, sample_light_intensities
from .render import render_multilight

VERSION = 1
BANK_SEED = 7919  # never a training seed


def validation_set(count=24, lights=64, size=96, seed=1, faces=None, cache_dir=CACHE_DIR) -> dict:
    """dict of numpy arrays: images (N,K,3,S,S) f16 linear, normals (N,3,S,S), mask (N,1,S,S),
    light_dirs (N,K,3), light_ints (N,K,3) relative (mean 1), camera (N,) 0 = srgb8,
    1 = linear16."""
    # "ps" (photometric stereo) is the multi-light engine's old name, kept so cached sets stay
    # valid.
    path = Path(cache_dir) / f"val_ps_v{VERSION}_n{count}_k{lights}_s{size}_seed{seed}.npz"
    if path.is_file():
        return load_arrays(path)
    bank = cached_bank(
        count, 128, BANK_SEED, faces_path=Path(faces) if faces else None, cache_dir=cache_dir
    )
    generator = torch.Generator().manual_seed(seed)
    normals = torch.from_numpy(bank["normals"]).float().permute(0, 3, 1, 2)
    depth = torch.from_numpy(bank["depth"]).float()[:, None]
    mask = torch.from_numpy(bank["mask"]).float()[:, None]
    normals = F.normalize(F.interpolate(normals, size, mode="bilinear", antialias=True), dim=1)
    depth = F.interpolate(depth, size, mode="bilinear", antialias=True) * size / 128
    mask = (F.interpolate(mask, size, mode="bilinear", antialias=True) > 0.5).float()
    normals, depth = normals * mask, depth * mask

    out = {k: [] for k in ("images", "light_dirs", "light_ints", "camera")}
    for i in range(count):
        sl = slice(i, i + 1)
        dirs = sample_light_directions(1, lights, generator)
        ints = sample_light_intensities(1, lights, generator)
        albedo = random_albedo(1, size, size, generator)
        material = random_materials(1, generator, size, size)
        images = render_multilight(normals[sl], depth[sl], mask[sl], albedo, material, dirs, ints)
        camera = i % 2
        images = apply_camera(images, generator, ("srgb8", "linear16")[camera], mask[sl])
        out["images"].append(images[0].half().numpy())
        out["light_dirs"].append(dirs[0].numpy())
        out["light_ints"].append((ints / ints.mean(dim=(1, 2), keepdim=True))[0].numpy())
        out["camera"].append(camera)
    data = {k: np.stack(v) for k, v in out.items()}
    data.update(normals=normals.numpy(), mask=mask.numpy().astype(bool))
    save_arrays(path, data)
    return data
