"""The multi-light engine's camera: exposure, sensor noise and the file a capture is saved as.

The "srgb8" mode produces exactly what our reader decodes from a real 8-bit photo: expose, add
sensor noise, clip, encode sRGB, quantise to 8 bits and decode with the reader's table
(`imaging`). Quantisation of dark values is coarse after decoding, and speculars clip: both are
what real inputs look like.

The "linear8" mode is a photometric-stereo data set's file (DiLiGenT, psm_uw): linear values
stored as 8-bit codes, which our reader, told nothing, decodes as sRGB, so the network sees
roughly radiance^2.2. Nothing in the photos says which encoding they hold (we tried: rank-3 and
Lambertian residuals do not separate them on real glossy objects), so the network learns to
cope with both.
"""

from __future__ import annotations

import numpy as np
import torch

from ..imaging import decode_srgb8, srgb8_codes
from ..random import uniform

CAMERA_MODES = ("srgb8", "linear16", "float", "linear8")


def random_camera_mode(
    generator: torch.Generator, p_srgb8: float = 0.5, p_linear16: float = 0.3,
    p_linear8: float = 0.0,
) -> str:
    """ "linear8" with probability p_linear8; otherwise "srgb8" with probability p_srgb8,
    "linear16" with p_linear16, else "float"."""
    u = float(uniform((1,), generator))
    if u < p_linear8:
        return "linear8"
    u = (u - p_linear8) / (1.0 - p_linear8)
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
    pick = (uniform((B,), generator) * len(quantiles)).long().to(images.device)
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
    """Simulate a camera on (B, K, 3, H, W) linear radiance; returns linear images of that shape.

    1. Exposure: one gain per sample (shared by its K shots, so relative light intensities are
       kept) maps a high quantile of the lit values (one of ``quantiles`` at random) to a random
       level in ``target``: the bulk sits below clipping and only the hottest highlights clip.
       (The absolute scale is unobservable anyway: it trades off against albedo.)
    2. Noise in full-scale units: Gaussian shot noise with variance a * x (a log-uniform in
       ``shot_noise``, i.e. roughly 330 to 33000 electrons at full scale) plus read noise of std b
       (log-uniform in ``read_noise``).
    3. "srgb8": clip, sRGB encode, round to 8-bit codes, decode with the reader's table.
       "linear16": clip and round to 16-bit codes. "float": no clipping or quantisation.
       "linear8": clip, round to 8-bit linear codes, decode them as sRGB (module docstring).
    ``mask`` (B,1,H,W), if given, zeroes the background afterwards (as masked real data is).
    With ``return_exposure`` the per-sample gain (B,) is returned too.
    """
    if mode not in CAMERA_MODES:
        raise ValueError(f"unknown camera mode {mode!r}; use one of {CAMERA_MODES}")
    B = images.shape[0]
    shape = (B,) + (1,) * (images.dim() - 1)
    lo, hi = target
    ref = _exposure_reference(images, generator, quantiles, 65536)
    gain = (lo + (hi - lo) * uniform((B,), generator)).to(images.device) / ref.to(images.device)
    x = images * gain.view(shape)

    def log_uniform(bounds):
        u = uniform((B,), generator).to(images.device)
        return torch.exp(np.log(bounds[0]) + u * (np.log(bounds[1]) - np.log(bounds[0]))).view(
            shape
        )

    a, b = log_uniform(shot_noise), log_uniform(read_noise)
    noise = torch.randn(x.shape, generator=generator, device=generator.device).to(x.device)
    x = x.addcmul_(x.clamp_min(0.0).mul_(a).add_(b * b).sqrt_(), noise)  # x is our own copy
    if mode == "srgb8":
        x = decode_srgb8(srgb8_codes(x), x.dtype)
    elif mode == "linear8":
        x = decode_srgb8(x.clamp_(0.0, 1.0).mul_(255.0).round_(), x.dtype)
    elif mode == "linear16":
        x = x.clamp_(0.0, 1.0).mul_(65535.0).round_().div_(65535.0)
    if mask is not None:
        x = x * mask.unsqueeze(1)
    return (x, gain) if return_exposure else x
