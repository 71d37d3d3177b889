"""How a surface photo is lit: an HDRI seen from a wall, a floor or anything between, a lamp at
a finite distance (sun, desk lamp, torch, the camera's flash), or both.

The HDRI enters as order-2 spherical harmonics (exact enough for a rough surface's diffuse
light), turned by a random 3-D rotation: a wall photographed square on sees the sky above it, a
floor photographed from above has the sky behind the camera. A lamp has a position, not just a
direction, so its light falls off and turns across the frame: the gradients that a de-lit albedo
must not keep. Its cast shadows come from the shared horizon scan (`shadows`), and its
highlights from the shared GGX lobe (`brdf`).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ...relight.envmap import pixel_directions, solid_angles
from ...relight.sh import sh9_basis, sh9_irradiance
from ..brdf import ggx_specular
from ..random import uniform
from ..shadows import cast_shadow_visibility

ENV_ROWS = 32  # rows of the reduced HDRI projected onto SH9 per sample
LUMA = (0.2126, 0.7152, 0.0722)
# "Light from above": where a sample draws it (`light_surface`'s ``light_up``), the HDRI's roll
# stays within UP_ROLL of upright and the lamp's azimuth within UP_AZIMUTH of the image's up.
UP_ROLL = math.radians(45)
UP_AZIMUTH = math.radians(60)
# What lights a sample (`light_surface`'s "light"): the HDRI alone (soft light from everywhere),
# the HDRI and a lamp, a lamp in a dim room (or the flash).
LIGHT_KINDS = ("sky", "sky_and_lamp", "lamp")


def _unit(v: torch.Tensor) -> torch.Tensor:
    """Normalise along dim 1 (faster than F.normalize on NCHW tensors on CPU)."""
    return v * (v * v).sum(1, keepdim=True).clamp_min(1e-12).rsqrt()


def prepare_envs(envs: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """(P, 3) camera-frame directions of a small equirect's pixels and (E, P, 3) radiance times
    solid angle, each HDRI scaled so a surface facing its zenith gets an irradiance of pi."""
    dirs = pixel_directions(ENV_ROWS, 2 * ENV_ROWS, 0.0).reshape(-1, 3)
    weights = np.broadcast_to(solid_angles(ENV_ROWS, 2 * ENV_ROWS), (ENV_ROWS, 2 * ENV_ROWS))
    weights = weights.reshape(-1, 1).astype(np.float32)
    up = dirs[:, 1] > 0
    out = []
    for env in envs:
        small = cv2.resize(np.ascontiguousarray(np.maximum(env[..., :3], 0), np.float32),
                           (2 * ENV_ROWS, ENV_ROWS), interpolation=cv2.INTER_AREA)
        radiance = small.reshape(-1, 3) * weights
        zenith = (radiance[up] * dirs[up, 1:2]).sum(0).mean()
        out.append((radiance * (math.pi / max(float(zenith), 1e-6))).astype(np.float32))
    stack = np.stack(out) if out else np.zeros((0, len(dirs), 3), np.float32)
    return torch.from_numpy(dirs).float(), torch.from_numpy(stack).float()


def _rotation(B, g, up=None):
    """(B, 3, 3) camera-from-environment rotations: a turn about the world's up axis, a tilt of
    up toward the camera (0: a wall seen square on, 90 deg: a floor from above), a roll. Where
    ``up`` (B,) bool is set, the roll stays within UP_ROLL of upright: the sky above the image."""
    yaw = uniform((B,), g) * 2 * math.pi
    tilt = uniform((B,), g) * math.pi / 2
    roll = uniform((B,), g) * 2 * math.pi
    if up is not None:
        roll = torch.where(up, (roll / math.pi - 1) * UP_ROLL, roll)
    one, zero = torch.ones_like(yaw), torch.zeros_like(yaw)

    def mat(rows):
        return torch.stack([torch.stack(r, -1) for r in rows], -2)

    ry = mat([[torch.cos(yaw), zero, torch.sin(yaw)], [zero, one, zero],
              [-torch.sin(yaw), zero, torch.cos(yaw)]])
    rx = mat([[one, zero, zero], [zero, torch.cos(tilt), -torch.sin(tilt)],
              [zero, torch.sin(tilt), torch.cos(tilt)]])
    rz = mat([[torch.cos(roll), -torch.sin(roll), zero], [torch.sin(roll), torch.cos(roll), zero],
              [zero, zero, one]])
    return rz @ rx @ ry


def environment_sh(B, g, dirs, radiance, up=None):
    """(B, 9, 3) SH9 radiance of a random HDRI under a random rotation (upright-ish where ``up``
    (B,) is set); a random sky (a constant plus a directional term) when no HDRI is given."""
    dev = g.device
    if radiance.shape[0] == 0:
        d1 = F.normalize(torch.randn((B, 3), generator=g, device=dev) + torch.tensor(
            [0.0, 0.0, 1.0], device=dev), dim=1) * (0.8 * uniform((B, 1), g))
        if up is not None:  # the sky's bright side toward the image's top
            d1 = torch.where(up[:, None], d1 * d1.new_tensor([1.0, 0.0, 1.0]) + d1.new_tensor(
                [0.0, 1.0, 0.0]) * d1[:, 1:2].abs(), d1)
        coeffs = torch.zeros(B, 9, 3, device=dev)
        coeffs[:, 0] = 1 / 0.886
        coeffs[:, 1:4] = d1[:, [1, 2, 0], None] * (1 / 1.023)
        return coeffs
    which = (uniform((B,), g) * radiance.shape[0]).long().clamp(max=radiance.shape[0] - 1)
    rotated = torch.einsum("bij,pj->bpi", _rotation(B, g, up), dirs.to(dev))
    basis = torch.stack(sh9_basis(rotated), -1)  # (B, P, 9)
    return torch.einsum("bpk,bpc->bkc", basis, radiance.to(dev)[which])


def ambient_occlusion(height: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """(B, 1, H, W) in [0.25, 1]: how far a pixel sits below its surroundings at two scales, a
    cheap stand-in for the sky a groove cannot see."""
    B = height.shape[0]
    ao = torch.ones_like(height)
    for radius in (3, 12):
        k = 2 * radius + 1  # separable box mean: 2k taps instead of k squared
        mean = F.avg_pool2d(F.pad(height, (radius,) * 4, mode="replicate"), (1, k), 1)
        mean = F.avg_pool2d(mean, (k, 1), 1)
        strength = 0.5 + uniform((B, 1, 1, 1), g)
        ao = ao * (1 - strength * (mean - height).clamp_min(0) / radius).clamp(0.25, 1)
    return ao.clamp(0.25, 1)


def light_surface(normal, height, albedo, roughness, g, dirs, radiance, lamp=None,
                  light_up: float = 0.0):
    """Render one photo's linear radiance. Returns {"radiance", "shading" (B, 3, H, W): the
    diffuse light, so radiance = albedo * shading + specular; "light" (B,): what lit it, an
    index into LIGHT_KINDS}. ``lamp`` (B, 3), direction from the frame's centre, forces a lamp
    there in a dim room (a photometric stereo capture). ``light_up``: the share of samples lit
    from the image's upper side (HDRI roughly upright, lamp azimuth within UP_AZIMUTH of up), as
    most surface photos are (a wall under the sky, a lamp above); 0 (default) draws every
    direction alike, and no extra random numbers."""
    B, _, H, W = normal.shape
    dev = g.device

    def u(*shape):
        return uniform((B, *shape) if shape else (B, 1, 1, 1), g)

    up = uniform((B,), g) < light_up if light_up > 0 else None
    coeffs = environment_sh(B, g, dirs, radiance, up)
    ao = ambient_occlusion(height, g)
    env = sh9_irradiance(normal.permute(0, 2, 3, 1), coeffs).permute(0, 3, 1, 2).clamp_min(0)

    # Lamp: kind 0 HDRI only, 1 HDRI and a lamp, 2 a lamp in a dim room (or the flash).
    kind = (u(1) * 10).long()  # (B, 1): 0-2 env only, 3-6 both, 7-9 a lamp in a dim room
    if lamp is not None:
        kind = torch.full_like(kind, 9)
    light = (kind >= 3).long() + (kind >= 7).long()  # (B, 1) index into LIGHT_KINDS
    lamp_on = (light >= 1).float()
    env_level = torch.where(light == 2, 0.02 + 0.13 * u(1), torch.ones(B, 1, device=dev))
    env = env * env_level.view(B, 1, 1, 1)
    elevation = torch.asin(0.17 + 0.83 * u(1))  # 10-90 deg above the plane
    azimuth = u(1) * 2 * math.pi
    if up is not None:
        azimuth = torch.where(up[:, None], math.pi / 2 + (azimuth / math.pi - 1) * UP_AZIMUTH,
                              azimuth)
    flash = u(1) < 0.15
    elevation = torch.where(flash, math.radians(82) + u(1) * math.radians(8), elevation)
    centre_dir = torch.cat([torch.cos(elevation) * torch.cos(azimuth),
                            torch.cos(elevation) * torch.sin(azimuth), torch.sin(elevation)], 1)
    if lamp is not None:
        centre_dir = F.normalize(lamp.to(dev).float(), dim=1)
    distance = torch.exp(math.log(0.6) + u(1) * math.log(10 / 0.6)) * max(H, W)
    position = centre_dir * distance  # from the frame's centre, pixels
    px = (torch.arange(W, device=dev) + 0.5 - W / 2).view(1, 1, W).expand(1, H, W)
    py = (H / 2 - torch.arange(H, device=dev) - 0.5).view(1, H, 1).expand(1, H, W)
    grid = torch.stack([px, py, torch.zeros_like(px)], 1)  # (1, 3, H, W)
    to_lamp = position.view(B, 3, 1, 1) - grid
    dist2 = (to_lamp * to_lamp).sum(1, keepdim=True)
    light_dir = to_lamp * dist2.rsqrt()
    falloff = distance.view(B, 1, 1, 1) ** 2 / dist2
    tint = 1 + 0.3 * (u(3) - 0.5)
    strength = torch.exp(math.log(0.3) + u(1) * math.log(8 / 0.3))
    if lamp is not None:  # one lamp moved around: same colour and power in every photo
        tint, strength = torch.ones_like(tint), torch.full_like(strength, 2.0)
    lamp = (strength * lamp_on)[..., None, None] * tint.view(B, 3, 1, 1) * falloff
    visible = cast_shadow_visibility(height, torch.ones_like(height), centre_dir[:, None])[:, 0]
    n_dot_l = (normal * light_dir).sum(1, keepdim=True).clamp_min(0) * visible

    shading = ao * env / math.pi + lamp * n_dot_l

    # Speculars: the lamp's GGX lobe and a blurred environment reflection, dielectric F0.
    camera = torch.tensor([0.0, 0.0, 1.0], device=dev).view(1, 3, 1, 1) * (
        max(H, W) * (0.8 + 2.2 * u(1))).view(B, 1, 1, 1)
    view = camera - grid
    view = view * (view * view).sum(1, keepdim=True).rsqrt()
    half = _unit(view + light_dir)
    n_dot_v = (normal * view).sum(1, keepdim=True).clamp(1e-3, 1)
    n_dot_h = (normal * half).sum(1, keepdim=True).clamp_min(0)
    f0 = 0.02 + 0.04 * u()
    alpha = roughness**2
    spec = ggx_specular(n_dot_l, n_dot_h, n_dot_v, alpha) * lamp
    reflected = 2 * n_dot_v * normal - view
    fresnel = f0 + (1 - f0) * (1 - n_dot_v) ** 5
    glossy = sh9_irradiance(reflected.permute(0, 2, 3, 1), coeffs).permute(0, 3, 1, 2)
    glossy = glossy.clamp_min(0) / math.pi * env_level.view(B, 1, 1, 1) * (1 - roughness) ** 2
    specular = f0 * spec + fresnel * glossy * ao
    return {"radiance": albedo * shading + specular, "shading": shading, "light": light[:, 0]}
