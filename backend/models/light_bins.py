"""Light directions and intensities as classification bins (SDPS-Net's LCNet output space).

LCNet predicts lights by classification, not regression: a direction is split into azimuth
theta = atan2(x, z) and elevation phi = atan2(y, sqrt(x^2 + z^2)), each binned over [-90, 90]
degrees (36 bins of 5 degrees), and the white-light intensity into 20 bins over [0.2, 2.0].
Classification is easier to train than regressing unit vectors and copes with ambiguity.

Decoding with the argmax bin centre (the original) caps accuracy at the bin width: an error of
up to 2.5 degrees per angle remains even for a perfect classifier. We decode with a soft-argmax
instead: the expected angle (or intensity) under the softmax probabilities. It interpolates
between bins, so it is exact when neighbouring bins share the probability mass correctly, and it
is differentiable, so a loss on the normal map can train the light classifier end to end.
The angle range excludes +-180 degrees, so averaging angles has no wrap-around problem.

Every function accepts a bin tensor either as integer indices (``...``) - decoded to bin centres -
or as float probabilities over the last axis (``..., n_bins``) - decoded to the expectation.
"""

from __future__ import annotations

import math

import torch

AZIMUTH_BINS = 36
ELEVATION_BINS = 36
INTENSITY_BINS = 20
INTENSITY_RANGE = (0.2, 2.0)
_HALF_PI = math.pi / 2


def direction_to_angles(dirs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit directions (..., 3) -> azimuth theta, elevation phi in radians."""
    x, y, z = dirs.unbind(-1)
    theta = torch.atan2(x, z)
    phi = torch.atan2(y, torch.sqrt(x * x + z * z))
    return theta, phi


def angles_to_direction(theta: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
    """Azimuth, elevation (radians) -> unit directions (..., 3)."""
    cos_phi = torch.cos(phi)
    return torch.stack([cos_phi * torch.sin(theta), torch.sin(phi), cos_phi * torch.cos(theta)], -1)


def angle_bin_centres(n_bins: int, like: torch.Tensor | None = None) -> torch.Tensor:
    """Centres of ``n_bins`` equal bins over [-pi/2, pi/2], in radians."""
    kwargs = {"device": like.device} if like is not None else {}
    dtype = like.dtype if like is not None and like.is_floating_point() else torch.float32
    return (torch.arange(n_bins, dtype=dtype, **kwargs) + 0.5) * (math.pi / n_bins) - _HALF_PI


def _angle_to_bin(angle: torch.Tensor, n_bins: int) -> torch.Tensor:
    return ((angle + _HALF_PI) / math.pi * n_bins).floor().clamp(0, n_bins - 1).long()


def _bin_to_angle(bins: torch.Tensor, n_bins: int) -> torch.Tensor:
    if bins.is_floating_point():  # probabilities over the last axis -> expected angle
        return (bins * angle_bin_centres(bins.shape[-1], bins)).sum(-1)
    return angle_bin_centres(n_bins, bins)[bins]


def direction_to_bins(
    dirs: torch.Tensor, n_bins: int = AZIMUTH_BINS
) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit directions (..., 3) -> (azimuth, elevation) bin indices, each (...) long.

    Directions behind the object (z < 0) fall outside [-90, 90] degrees of azimuth and are
    clamped to the edge bins, like the original.
    """
    theta, phi = direction_to_angles(dirs)
    return _angle_to_bin(theta, n_bins), _angle_to_bin(phi, n_bins)


def bins_to_direction(
    azimuth: torch.Tensor, elevation: torch.Tensor, n_bins: int = AZIMUTH_BINS
) -> torch.Tensor:
    """Azimuth/elevation bins (indices or probabilities) -> unit directions (..., 3)."""
    return angles_to_direction(_bin_to_angle(azimuth, n_bins), _bin_to_angle(elevation, n_bins))


def intensity_bin_centres(
    n_bins: int = INTENSITY_BINS, value_range=INTENSITY_RANGE, like: torch.Tensor | None = None
) -> torch.Tensor:
    lo, hi = value_range
    kwargs = {"device": like.device} if like is not None else {}
    dtype = like.dtype if like is not None and like.is_floating_point() else torch.float32
    return lo + (torch.arange(n_bins, dtype=dtype, **kwargs) + 0.5) * ((hi - lo) / n_bins)


def intensity_to_bin(
    ints: torch.Tensor, n_bins: int = INTENSITY_BINS, value_range=INTENSITY_RANGE
) -> torch.Tensor:
    """Intensities (any shape) -> bin indices, clamped to the range's edge bins."""
    lo, hi = value_range
    return ((ints - lo) / (hi - lo) * n_bins).floor().clamp(0, n_bins - 1).long()


def bin_to_intensity(
    bins: torch.Tensor, n_bins: int = INTENSITY_BINS, value_range=INTENSITY_RANGE
) -> torch.Tensor:
    """Intensity bins (indices (...) or probabilities (..., n_bins)) -> intensities (...)."""
    if bins.is_floating_point():
        return (bins * intensity_bin_centres(bins.shape[-1], value_range, bins)).sum(-1)
    return intensity_bin_centres(n_bins, value_range, bins)[bins]


def decode_light_logits(logits: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """LCNet logits {azimuth, elevation, intensity: (B, K, bins)} -> soft-argmax lights.

    Returns unit directions (B, K, 3) and intensities (B, K, 3). Lights are assumed white, as
    in the original: one scalar per image, repeated over RGB.
    """
    dirs = bins_to_direction(logits["azimuth"].softmax(-1), logits["elevation"].softmax(-1))
    ints = bin_to_intensity(logits["intensity"].softmax(-1))
    return dirs, ints.unsqueeze(-1).expand(*ints.shape, 3)
