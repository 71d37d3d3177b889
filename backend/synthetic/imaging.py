"""Camera simulation and geometric augmentations for synthetic photometric-stereo samples.

The network only ever sees linear light. For a real 8-bit photo our reader decodes sRGB codes to
linear (``photonormals.io.images``), so the "srgb8" mode below produces exactly those values:
expose, add sensor noise, clip, encode sRGB, quantise to 8 bits and decode with the same table
the reader effectively uses (``photonormals.io.colorspace.srgb_to_linear`` of code / 255 in
float32). Quantisation of dark values is coarse after decoding, and speculars clip: both are
what real inputs look like.

Flips and rotations move pixels *and* rotate the vectors that live in the camera frame (normals
and light directions); forgetting the latter silently teaches the network mirrored physics.
"""

from __future__ import annotations

import numpy as np
import torch

from ..io.colorspace import srgb_to_linear as _np_srgb_to_linear

CAMERA_MODES = ("srgb8", "linear16", "float")
_SRGB8_TABLE = torch.from_numpy(
    _np_srgb_to_linear(np.arange(256, dtype=np.float32) / np.float32(255.0))
)


def _rand(shape, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(shape, generator=generator, device=generator.device)


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    """sRGB (IEC 61966-2-1) decode, torch twin of ``photonormals.io.colorspace``."""
    return torch.where(x <= 0.04045, x / 12.92, ((x.clamp_min(0.0) + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    """sRGB encode of linear values, clipped to [0, 1] first as in ``photonormals.io.colorspace``."""
    x = x.clamp(0.0, 1.0)
    curve = x.clamp_min(0.0031308).pow_(1 / 2.4).mul_(1.055).sub_(0.055)
    return torch.where(x <= 0.0031308, x * 12.92, curve)


def random_camera_mode(
    generator: torch.Generator, p_srgb8: float = 0.5, p_linear16: float = 0.3
) -> str:
    """ "srgb8" with probability p_srgb8, "linear16" with p_linear16, else "float"."""
    u = float(_rand((1,), generator))
    return "srgb8" if u < p_srgb8 else "linear16" if u < p_srgb8 + p_linear16 else "float"


def _exposure_reference(
    images: torch.Tensor, generator: torch.Generator, quantiles: tuple[float, ...], samples: int
) -> torch.Tensor:
    """(B,) a high quantile of the lit (non-zero) values of each sample, from a random subset.

    Each sample uses one of ``quantiles`` at random: exposing on the 99.9th percentile keeps
    every highlight; on the 97th, glossy objects get a well-exposed body and clipped glints,
    which is how people actually shoot them.
    """
    B, n = images.shape[0], images[0].numel()
    u = torch.rand((B, min(samples, n)), generator=generator, device=generator.device)
    vals = torch.gather(images.reshape(B, -1), 1, (u * n).long().to(images.device))
    vals = torch.where(vals > 0, vals, torch.full_like(vals, float("nan")))
    q = torch.tensor(quantiles, dtype=vals.dtype, device=vals.device)
    refs = torch.nanquantile(vals, q, dim=1)  # (Q, B)
    pick = (_rand((B,), generator) * len(quantiles)).long().to(images.device)
    ref = refs.gather(0, pick[None])[0]
    return torch.nan_to_num(ref, nan=1.0).clamp_min(1e-8)


def apply_camera(
    images: torch.Tensor,
    generator: torch.Generator,
    mode: str,
    mask: torch.Tensor | None = None,
    target: tuple[float, float] = (0.6, 0.95),
    quantiles: tuple[float, ...] = (0.97, 0.99, 0.995, 0.999),
    shot_noise: tuple[float, float] = (3e-5, 3e-3),
    read_noise: tuple[float, float] = (1e-4, 4e-3),
    return_exposure: bool = False,
):
    """Simulate a camera on (B, K, 3, H, W) linear radiance; returns linear images of the same shape.

    1. Exposure: one gain per sample (shared by its K shots, so relative light intensities are
       kept) maps a high quantile of the lit values (one of ``quantiles`` at random) to a random
       level in ``target``: the bulk sits below clipping and only the hottest highlights clip. (The absolute scale is
       unobservable anyway: it trades off against albedo.)
    2. Noise in full-scale units: Gaussian shot noise with variance a * x (a log-uniform in
       ``shot_noise``, i.e. roughly 330 to 33000 electrons at full scale) plus read noise of std b
       (log-uniform in ``read_noise``).
    3. "srgb8": clip, sRGB encode, round to 8-bit codes, decode with the reader's table.
       "linear16": clip and round to 16-bit codes. "float": no clipping or quantisation.
    ``mask`` (B,1,H,W), if given, zeroes the background afterwards (as masked real data is).
    With ``return_exposure`` the per-sample gain (B,) is returned too.
    """
    if mode not in CAMERA_MODES:
        raise ValueError(f"unknown camera mode {mode!r}; use one of {CAMERA_MODES}")
    B = images.shape[0]
    shape = (B,) + (1,) * (images.dim() - 1)
    lo, hi = target
    ref = _exposure_reference(images, generator, quantiles, 65536)
    gain = (lo + (hi - lo) * _rand((B,), generator)).to(images.device) / ref.to(images.device)
    x = images * gain.view(shape)

    def log_uniform(bounds):
        u = _rand((B,), generator).to(images.device)
        return torch.exp(np.log(bounds[0]) + u * (np.log(bounds[1]) - np.log(bounds[0]))).view(
            shape
        )

    a, b = log_uniform(shot_noise), log_uniform(read_noise)
    noise = torch.randn(x.shape, generator=generator, device=generator.device).to(x.device)
    x = x.addcmul_(x.clamp_min(0.0).mul_(a).add_(b * b).sqrt_(), noise)  # x is our own copy
    if mode == "srgb8":
        codes = linear_to_srgb(x).mul_(255.0).round_().long()
        x = _SRGB8_TABLE.to(device=x.device, dtype=x.dtype)[codes]
    elif mode == "linear16":
        x = x.clamp_(0.0, 1.0).mul_(65535.0).round_().div_(65535.0)
    if mask is not None:
        x = x * mask.unsqueeze(1)
    return (x, gain) if return_exposure else x


# ----------------------------------------------------------------------------------------------
# Geometric augmentations. Each takes (images, normals, depth, mask, light_dirs); any may be None.
# images (B,K,3,H,W), normals (B,3,H,W), depth/mask (B,1,H,W), light_dirs (B,K,3).


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
