"""Random directional lights for synthetic training (their LCNet bins live in models/light_bins).

Conventions: camera frame x right, y up, z toward the camera; a light is the unit vector *toward*
the light.

Direction sampling: uniform over the spherical cap of polar angle <= ``max_polar_deg`` around +z.
SDPS-Net trains on lights spread over most of the frontal hemisphere; real rigs are narrower
(DiLiGenT spans about +-37 deg x +-26 deg) but training wider is what makes the network general.
A uniform cap (rather than uniform azimuth/elevation) has no pole clustering and every direction
in it has z > 0 and azimuth/elevation inside the LCNet range [-90, 90] deg.

Rigs (`sample_light_rigs`): a real capture's lights are not drawn independently over the
hemisphere. A lamp moved by hand around the camera, a ring of LEDs or a flash spans a cone a few
tens of degrees wide, often off the view axis, and every photo of the set shares it. In a narrow
cone the images differ little and the bas-relief ambiguity is at its worst, so a network that
has only seen lights spread over the whole cap meets a new regime on such sets (psm_uw: 12
lights within about 35 deg of the view).
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
    return _cap(uniform((batch, count, 2), generator), math.cos(math.radians(max_polar_deg)))


def _cap(u: torch.Tensor, cos_max) -> torch.Tensor:
    """Unit vectors from uniform samples u (..., 2), uniform on the cap cos(polar) >= cos_max."""
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
    stratified: bool = False,
) -> torch.Tensor:
    """(B, K, 3) RGB intensities, each light and channel uniform in [low, high] (SDPS-Net setup).

    With probability ``white_prob`` a sample's lights are all white (one value copied to the three
    channels), which matches LED rigs; coloured lights teach the network not to trust colour.
    ``stratified`` is the seed's second variant (its section 7): the range cut into ceil(K / 2)
    equal intervals, two lights drawn in each, in random order, so every set spans the range.
    """
    u = uniform((batch, count, 3), generator)
    if stratified:
        strata = math.ceil(count / 2)
        stratum = (torch.arange(count, device=u.device) // 2).float().view(1, count, 1)
        order = torch.argsort(uniform((batch, count, 1), generator), dim=1)
        u = (torch.gather(stratum.expand(batch, count, 1), 1, order) + u) / strata
    ints = low + (high - low) * u
    if white_prob > 0.0:
        white = uniform((batch, 1, 1), generator) < white_prob
        ints = torch.where(white, ints[..., :1].expand_as(ints), ints)
    return ints


# A rig is a cone of this half-angle (deg) around an axis within AXIS_DEG of the view: the
# widest stays inside the frontal hemisphere (30 + 55 < 90).
CONE_DEG = (12.0, 55.0)
AXIS_DEG = 30.0


def sample_light_rigs(
    batch: int, count: int, generator: torch.Generator, cone_prob: float = 0.0
) -> torch.Tensor:
    """(B, K, 3) unit directions: with probability ``cone_prob`` a sample's lights come from
    one rig (uniform within a random half-angle `CONE_DEG` of an axis near the view), else
    from the whole cap of `sample_light_directions`."""
    dirs = sample_light_directions(batch, count, generator)
    if cone_prob <= 0.0:
        return dirs
    u = uniform((batch, 4), generator)
    half = torch.deg2rad(CONE_DEG[0] + (CONE_DEG[1] - CONE_DEG[0]) * u[:, 0])
    cone = _cap(uniform((batch, count, 2), generator), torch.cos(half)[:, None])
    polar = torch.deg2rad(AXIS_DEG * torch.sqrt(u[:, 1]))  # area-uniform in the axis disc
    cone = tilt(cone, polar, 2.0 * math.pi * u[:, 2])
    rig = (u[:, 3] < cone_prob)[:, None, None]
    return torch.where(rig, cone, dirs)


def tilt(v: torch.Tensor, polar: torch.Tensor, azimuth: torch.Tensor) -> torch.Tensor:
    """v (B, K, 3) turned so that +z goes to the direction (polar, azimuth): a rotation by
    ``polar`` about the horizontal axis perpendicular to that azimuth."""
    axis = torch.stack([-torch.sin(azimuth), torch.cos(azimuth), torch.zeros_like(azimuth)], -1)
    c, s = torch.cos(polar)[:, None, None], torch.sin(polar)[:, None, None]
    k = axis[:, None, :].expand_as(v)
    # Rodrigues: v cos + (k x v) sin + k (k.v)(1 - cos)
    return v * c + torch.cross(k, v, dim=-1) * s + k * (k * v).sum(-1, keepdim=True) * (1 - c)
