"""Mirrors and quarter turns of samples: the pixels move *and* the vectors in the camera frame
(normals, light directions) turn with them. Flipping the pixels alone would silently teach a
network mirrored physics: a mirrored photo of a face is a photo of the mirrored face, whose
normals point the other way in x.
"""

from __future__ import annotations

import torch

# hflip, vflip, rot90 (the multi-light engine's augmentations) each take (images, normals, depth,
# mask, light_dirs), any of them None: images (B,K,3,H,W), normals (B,3,H,W), depth/mask
# (B,1,H,W), light_dirs (B,K,3). mirror_maps and mirror_where take a dict of (B,C,H,W) maps.


def _flip_vectors(t: torch.Tensor | None, axis: int, dim: int) -> torch.Tensor | None:
    if t is None:
        return None
    sign = torch.ones(3, dtype=t.dtype, device=t.device)
    sign[axis] = -1.0
    shape = [1] * t.dim()
    shape[dim] = 3
    return t * sign.view(shape)


def hflip(images, normals, depth, mask, light_dirs):
    """Mirror left-right: flip the width axis and negate x of normals and light directions."""
    f = lambda t: None if t is None else torch.flip(t, [-1])
    return (
        f(images),
        _flip_vectors(f(normals), 0, -3),
        f(depth),
        f(mask),
        _flip_vectors(light_dirs, 0, -1),
    )


def vflip(images, normals, depth, mask, light_dirs):
    """Mirror top-bottom: flip the height axis and negate y of normals and light directions."""
    f = lambda t: None if t is None else torch.flip(t, [-2])
    return (
        f(images),
        _flip_vectors(f(normals), 1, -3),
        f(depth),
        f(mask),
        _flip_vectors(light_dirs, 1, -1),
    )


def _rotate_xy(t: torch.Tensor | None, k: int, dim: int) -> torch.Tensor | None:
    """Rotate the (x, y) components by k * 90 deg counter-clockwise: (x, y) -> (-y, x) per step."""
    if t is None:
        return None
    x, y, z = t.unbind(dim)
    for _ in range(k % 4):
        x, y = -y, x
    return torch.stack([x, y, z], dim)


def rot90(images, normals, depth, mask, light_dirs, k: int = 1):
    """Rotate the picture by k * 90 deg counter-clockwise as displayed (row 0 at the top).

    Uses ``torch.rot90(t, k, dims=(-2, -1))`` for the pixels (counter-clockwise on screen), and
    since the camera frame has x right / y up, the vectors rotate counter-clockwise about +z too:
    (x, y) -> (-y, x) for each quarter turn. Rotating by k with non-square images swaps H and W.
    """
    r = lambda t: None if t is None else torch.rot90(t, k, dims=(-2, -1))
    return (
        r(images),
        _rotate_xy(r(normals), k, -3),
        r(depth),
        r(mask),
        _rotate_xy(light_dirs, k, -1),
    )


def mirror_maps(maps: dict) -> dict:
    """Mirror left-right a dict of (B, C, H, W) maps: flip the width of each, negate normal x.
    Other entries are kept as they are."""
    out = {
        k: torch.flip(v, [-1]) if torch.is_tensor(v) and v.dim() == 4 else v
        for k, v in maps.items()
    }
    if "normal" in out:
        out["normal"] = out["normal"] * out["normal"].new_tensor([-1.0, 1.0, 1.0]).view(1, 3, 1, 1)
    return out


def mirror_where(maps: dict, which: torch.Tensor) -> dict:
    """`mirror_maps` for the samples selected by ``which`` (B,) bool; the others unchanged."""
    mirrored = mirror_maps(maps)
    return {k: torch.where(which.view(-1, 1, 1, 1), mirrored[k], v) for k, v in maps.items()}
