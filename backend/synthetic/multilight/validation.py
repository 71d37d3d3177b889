"""The fixed synthetic validation set for regression numbers.

Shapes come from a geometry bank with its own seed, so none of them is a training shape; each
sample has 64 lights so that benchmarks can take the first K of them for any K up to 64. The
set is rendered once, deterministically, and kept on disk beside the geometry cache.

`class_validation_set` splits the score the way real objects differ: matte, glossy dielectric
and metal, each under a wide light cap and a narrow hand-held rig, on the same shapes.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..cache import CACHE_DIR, load_arrays, save_arrays
from ..materials import random_albedo, random_materials
from ..random import uniform
from .bank import cached_bank
from .camera import apply_camera
from .lights import sample_light_directions, sample_light_intensities, tilt
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


CLASSES = ("matte", "glossy", "metal")
RIGS = ("narrow", "wide")


def class_material(name: str, generator: torch.Generator) -> dict:
    """BRDF parameters of one material class, (1, 1, 1, 1) tensors."""
    r = lambda: float(uniform((1,), generator))  # noqa: E731
    if name == "matte":
        values = {"roughness": 0.9, "metalness": 0.0, "specular": 0.02 * r()}
    elif name == "glossy":  # glazes, plastics: sharp dielectric highlights over a diffuse body
        values = {"roughness": 0.08 + 0.3 * r(), "metalness": 0.0, "specular": 0.04 + 0.06 * r()}
    else:  # no diffuse body at all
        values = {"roughness": 0.15 + 0.35 * r(), "metalness": 1.0, "specular": 0.04}
    values["ambient"] = 0.05 * r()
    return {k: torch.tensor(v).view(1, 1, 1, 1) for k, v in values.items()}


def rig_directions(rig: str, lights: int, generator: torch.Generator) -> torch.Tensor:
    """(1, K, 3): "wide", the whole 70 deg cap; "narrow", a hand-held lamp near the camera (a
    cone 25-40 deg wide, its axis up to 15 deg off the view; psm_uw's is about 35 deg)."""
    if rig == "wide":
        return sample_light_directions(1, lights, generator, max_polar_deg=70.0)
    u = uniform((3,), generator)
    cone = sample_light_directions(1, lights, generator, max_polar_deg=25.0 + 15.0 * float(u[0]))
    return tilt(cone, torch.deg2rad(15.0 * u[1:2]), 2.0 * math.pi * u[2:3])


def class_validation_set(count=12, lights=9, size=128, seed=11, faces=None,
                         cache_dir=CACHE_DIR, camera="srgb8") -> dict:
    """Held-out sets by material class and light rig: every class x rig pair renders the same
    ``count`` unseen shapes, 8-bit sRGB camera (``camera="linear8"``: a data set's linear 8-bit
    codes, read as sRGB; same scenes). numpy arrays: images (N,K,3,S,S) f16 linear,
    normals (N,3,S,S), mask and concave (N,1,S,S) bool (concave: the depth's Laplacian says the
    pixel sits in a hollow, where cast shadows and interreflections are), light_dirs (N,K,3),
    light_ints (N,K,3) relative, material_class and rig (N,) indices into CLASSES and RIGS."""
    path = Path(cache_dir) / (f"val_ml_classes_v{VERSION}_n{count}_k{lights}_s{size}"
                              f"_seed{seed}{'' if camera == 'srgb8' else '_' + camera}.npz")
    if path.is_file():
        return load_arrays(path)
    bank = cached_bank(
        count, size, BANK_SEED + seed, faces_path=Path(faces) if faces else None,
        cache_dir=cache_dir,
    )
    generator = torch.Generator().manual_seed(seed)
    laplacian = torch.tensor([[[[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]]])
    out = {k: [] for k in ("images", "normals", "mask", "concave", "light_dirs", "light_ints",
                           "material_class", "rig")}
    for c, name in enumerate(CLASSES):
        for r, rig in enumerate(RIGS):
            for i in range(count):
                normals = torch.from_numpy(bank["normals"][i]).float().permute(2, 0, 1)[None]
                depth = torch.from_numpy(bank["depth"][i]).float()[None, None]
                mask = torch.from_numpy(bank["mask"][i]).float()[None, None]
                dirs = rig_directions(rig, lights, generator)
                ints = sample_light_intensities(1, lights, generator)
                albedo = random_albedo(1, size, size, generator)
                images = render_multilight(normals, depth, mask, albedo,
                                           class_material(name, generator), dirs, ints)
                images = apply_camera(images, generator, camera, mask)
                out["images"].append(images[0].half().numpy())
                out["normals"].append(normals[0].numpy())
                out["mask"].append(mask[0].numpy() > 0.5)
                out["concave"].append(F.conv2d(depth, laplacian, padding=1)[0].numpy() > 0.02)
                out["light_dirs"].append(dirs[0].numpy())
                out["light_ints"].append((ints / ints.mean(dim=(1, 2), keepdim=True))[0].numpy())
                out["material_class"].append(c)
                out["rig"].append(r)
    data = {k: np.stack(v) for k, v in out.items()}
    save_arrays(path, data)
    return data
