"""Random directional lights for synthetic training, and the LCNet (SDPS-Net) light discretisation.

Conventions: camera frame x right, y up, z toward the camera; a light is the unit vector *toward*
the light. All randomness goes through a ``torch.Generator`` and tensors are created on the
generator's device, so a seed reproduces a sample on CPU and on CUDA alike.

Direction sampling: uniform over the spherical cap of polar angle <= ``max_polar_deg`` around +z.
SDPS-Net trains on lights spread over most of the frontal hemisphere; real rigs are narrower
(DiLiGenT spans about +-37 deg x +-26 deg) but training wider is what makes the network general.
A uniform cap (rather than uniform azimuth/elevation) has no pole clustering and every direction
in it has z > 0 and azimuth/elevation inside the LCNet range [-90, 90] deg.

LCNet discretisation: azimuth theta = atan2(x, z) and elevation phi = atan2(y, sqrt(x^2 + z^2)),
both in [-90, 90] deg, each split into ``bins`` equal classes (36 -> 5 deg); intensities in
[low, high] split into 20 classes. Decoding takes either hard bins (bin centres) or class
probabilities (soft-argmax: the expected value under the probabilities, which is differentiable).
"""

from __future__ import annotations

import math

import torch


def _rand(shape, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(shape, generator=generator, device=generator.device)


def sample_light_directions(
    batch: int, count: int, generator: torch.Generator, max_polar_deg: float = 80.0
) -> torch.Tensor:
    """(B, K, 3) unit directions, uniform on the cap {polar angle from +z <= max_polar_deg}.

    Uniform area on a cap means cos(polar) uniform in [cos(max_polar), 1] and azimuth uniform.
    """
    cos_max = math.cos(math.radians(max_polar_deg))
    u = _rand((batch, count, 2), generator)
    z = 1.0 - u[..., 0] * (1.0 - cos_max)
    r = torch.sqrt((1.0 - z * z).clamp_min(0.0))
    phi = 2.0 * math.pi * u[..., 1]
    return torch.stack([r * torch.cos(phi), r * torch.sin(phi), z], dim=-1)


def sample_light_intensities(
    batch: int,
    count: int,
    generator: torch.Generator,
    low: float = 0.2,
    high: float = 2.0,
    white_prob: float = 0.0,
) -> torch.Tensor:
    """(B, K, 3) RGB intensities, each light and channel uniform in [low, high] (SDPS-Net setup).

    With probability ``white_prob`` a sample's lights are all white (one value copied to the three
    channels), which matches LED rigs; coloured lights teach the network not to trust colour.
    """
    ints = low + (high - low) * _rand((batch, count, 3), generator)
    if white_prob > 0.0:
        white = _rand((batch, 1, 1), generator) < white_prob
        ints = torch.where(white, ints[..., :1].expand_as(ints), ints)
    return ints


def direction_to_angles(dirs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(azimuth, elevation) in degrees of (..., 3) directions, LCNet definition."""
    x, y, z = dirs.unbind(-1)
    azimuth = torch.rad2deg(torch.atan2(x, z))
    elevation = torch.rad2deg(torch.atan2(y, torch.sqrt(x * x + z * z)))
    return azimuth, elevation


def angles_to_direction(azimuth_deg: torch.Tensor, elevation_deg: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`direction_to_angles`: (..., 3) unit vectors."""
    az, el = torch.deg2rad(azimuth_deg), torch.deg2rad(elevation_deg)
    return torch.stack(
        [torch.cos(el) * torch.sin(az), torch.sin(el), torch.cos(el) * torch.cos(az)], -1
    )


def _value_to_bin(value: torch.Tensor, low: float, high: float, bins: int) -> torch.Tensor:
    return torch.floor((value - low) / (high - low) * bins).long().clamp(0, bins - 1)


def _bin_to_value(bin_or_probs: torch.Tensor, low: float, high: float, bins: int) -> torch.Tensor:
    """Hard integer bins -> bin centres; floating (..., bins) probabilities -> expected centre."""
    centres = low + (torch.arange(bins, device=bin_or_probs.device) + 0.5) * (high - low) / bins
    if bin_or_probs.is_floating_point():
        if bin_or_probs.shape[-1] != bins:
            raise ValueError(
                f"probabilities must end in {bins} classes, got {tuple(bin_or_probs.shape)}"
            )
        probs = bin_or_probs / bin_or_probs.sum(-1, keepdim=True).clamp_min(1e-12)
        return (probs * centres.to(probs.dtype)).sum(-1)
    return centres[bin_or_probs.long().clamp(0, bins - 1)]


def direction_to_bins(dirs: torch.Tensor, bins: int = 36) -> tuple[torch.Tensor, torch.Tensor]:
    """(..., 3) directions -> (azimuth_bin, elevation_bin), int64 in [0, bins)."""
    azimuth, elevation = direction_to_angles(dirs)
    return _value_to_bin(azimuth, -90.0, 90.0, bins), _value_to_bin(elevation, -90.0, 90.0, bins)


def bins_to_direction(
    az_bin_or_probs: torch.Tensor, el_bin_or_probs: torch.Tensor, bins: int | None = None
) -> torch.Tensor:
    """Integer bins (...) or probabilities (..., bins) -> (..., 3) unit directions.

    Probabilities are decoded by soft-argmax (expected angle). ``bins`` defaults to the trailing
    size of a probability tensor, else 36.
    """
    if bins is None:
        bins = az_bin_or_probs.shape[-1] if az_bin_or_probs.is_floating_point() else 36
    azimuth = _bin_to_value(az_bin_or_probs, -90.0, 90.0, bins)
    elevation = _bin_to_value(el_bin_or_probs, -90.0, 90.0, bins)
    return angles_to_direction(azimuth, elevation)


def intensity_to_bin(
    x: torch.Tensor, bins: int = 20, low: float = 0.2, high: float = 2.0
) -> torch.Tensor:
    """Intensities -> int64 classes in [0, bins) over [low, high] (clamped)."""
    return _value_to_bin(x, low, high, bins)


def bin_to_intensity(
    bin_or_probs: torch.Tensor, bins: int = 20, low: float = 0.2, high: float = 2.0
) -> torch.Tensor:
    """Integer classes -> bin centres; (..., bins) probabilities -> expected intensity."""
    return _bin_to_value(bin_or_probs, low, high, bins)
