"""Random directional lights for synthetic training (their LCNet bins live in models/light_bins).

Conventions: camera frame x right, y up, z toward the camera; a light is the unit vector *toward*
the light.

Direction sampling: uniform over the spherical cap of polar angle <= ``max_polar_deg`` around +z.
SDPS-Net trains on lights spread over most of the frontal hemisphere; real rigs are narrower
(DiLiGenT spans about +-37 deg x +-26 deg) but training wider is what makes the network general.
A uniform cap (rather than uniform azimuth/elevation) has no pole clustering and every direction
in it has z > 0 and azimuth/elevation inside the LCNet range [-90, 90] deg.
"""

from __future__ import annotations

import math

import torch

from ..random import uniform


def sample_light_directions(
    batch: int, count: int, generator: torch.Generator, max_polar_deg: float = 80.0
) -> torch.Tensor:
    """(B, K, 3) unit directions, uniform on the cap {polar angle from +z <= max_polar_deg}.

    Uniform area on a cap means cos(polar) uniform in [cos(max_polar), 1] and azimuth uniform.
    """
    cos_max = math.cos(math.radians(max_polar_deg))
    u = uniform((batch, count, 2), generator)
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
    ints = low + (high - low) * uniform((batch, count, 3), generator)
    if white_prob > 0.0:
        white = uniform((batch, 1, 1), generator) < white_prob
        ints = torch.where(white, ints[..., :1].expand_as(ints), ints)
    return ints
