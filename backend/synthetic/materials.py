"""Random albedo textures and BRDF parameters for the synthetic engines.

Why this matters: a normal-estimation network trained on uniform grey objects learns that every
brightness change is shading. Real objects are painted, printed, grained and stained, so the
albedo here is spatially varying on purpose (value noise, Voronoi patches, warped stripes and
checkers, speckles, grime) with colours from the whole hue circle, and the training signal must
come from how shading changes *across lights*, not from the texture.

Everything is batched over B (one pattern stack is computed for the whole batch and each sample
picks its own mixture), uses the caller's ``torch.Generator`` and lives on its device. Colours are
drawn in HSV on the sRGB scale (how people perceive paint) and then decoded to linear light.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .imaging import srgb_to_linear
from .random import uniform

ALBEDO_MIN, ALBEDO_MAX = 0.02, 0.95


def smoothstep(e0, e1, x):
    """0 below e0, 1 above e1, a smooth cubic between (e1 < e0 runs the other way)."""
    t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _pixel_coords(batch, height, width, device):
    """(B, H, W) x and y in [0, 1] * aspect, y growing upward; one unit = the longer side."""
    scale = 1.0 / max(height, width)
    ys = (height - 0.5 - torch.arange(height, device=device)) * scale
    xs = (torch.arange(width, device=device) + 0.5) * scale
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    return x.expand(batch, -1, -1), y.expand(batch, -1, -1)


def random_colors(shape, generator: torch.Generator, sat_power: float = 0.7) -> torch.Tensor:
    """(*shape, 3) linear RGB: hue uniform, saturation skewed high, sRGB value in [0.2, 1]."""
    u = uniform((*shape, 3), generator)
    h, s, v = u[..., 0], u[..., 1] ** sat_power, 0.2 + 0.8 * u[..., 2]
    return _hsv_to_linear(h, s, v)


def _hsv_to_linear(h, s, v):
    out = []
    for n in (5.0, 3.0, 1.0):  # r, g, b
        k = torch.remainder(n + h * 6.0, 6.0)
        out.append(v - v * s * torch.clamp(torch.minimum(k, 4.0 - k), 0.0, 1.0))
    return srgb_to_linear(torch.stack(out, -1))


def value_noise(
    batch: int,
    channels: int,
    height: int,
    width: int,
    generator: torch.Generator,
    cells: torch.Tensor,
    octaves: int = 4,
    persistence: float = 0.5,
    lattice: int = 48,
) -> torch.Tensor:
    """(B, C, H, W) fractal value noise in [0, 1] with a per-sample base frequency.

    ``cells`` (B,) is how many noise cells span the image's longer side at the first octave;
    each octave doubles it (capped by the lattice). Bicubic zoom of a random lattice gives smooth
    noise; a random offset per sample decorrelates samples that share a lattice size.
    """
    device = generator.device
    x, y = _pixel_coords(batch, height, width, device)
    total = torch.zeros(batch, channels, height, width, device=device)
    amp, norm = 1.0, 0.0
    for octave in range(octaves):
        c = (cells * 2.0**octave).clamp(1.0, lattice - 2.0).view(batch, 1, 1)
        offset = uniform((batch, 2, 1, 1), generator).squeeze(-1) * (lattice - 1.0 - c)
        gx = (offset[:, :1] + x * c) / (lattice - 1) * 2 - 1
        gy = (offset[:, 1:] + y * c) / (lattice - 1) * 2 - 1
        grid = torch.stack([gx, gy], -1)
        values = uniform((batch, channels, lattice, lattice), generator)
        total = total + amp * F.grid_sample(values, grid, mode="bicubic", align_corners=True)
        norm += amp
        amp *= persistence
    total = total / norm
    lo = total.amin((1, 2, 3), keepdim=True)
    hi = total.amax((1, 2, 3), keepdim=True)
    return (total - lo) / (hi - lo).clamp_min(1e-6)


def _palette(batch: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """(B, P, 3): half the samples get a harmonious palette (hues near one base), half random."""
    u = uniform((batch, size, 3), generator)
    base = uniform((batch, 1), generator)
    spread = torch.where(uniform((batch, 1), generator) < 0.5, 0.08, 0.5)
    hue = torch.remainder(base + spread * (u[..., 0] - 0.5) * 2.0, 1.0)
    sat = u[..., 1] ** 0.7
    sat = torch.where(uniform((batch, 1), generator) < 0.15, sat * 0.15, sat)  # some near-grey sets
    val = 0.2 + 0.8 * u[..., 2]
    return _hsv_to_linear(hue, sat, val)


def _lerp_colors(c0, c1, t):
    """c0, c1: (B, 3); t: (B, 1, H, W) -> (B, 3, H, W)."""
    return c0[..., None, None] + (c1 - c0)[..., None, None] * t


def random_albedo(batch: int, height: int, width: int, generator: torch.Generator) -> torch.Tensor:
    """(B, 3, H, W) linear albedo in [0.02, 0.95], spatially varying and diverse.

    Each sample picks a base pattern (uniform / noise ramp / Voronoi patches / warped stripes or
    checkers), may blend a second pattern through a soft noise mask, may get speckles, and may
    get a multiplicative grime layer.
    """
    device = generator.device
    B, H, W = batch, height, width
    pal = _palette(B, 8, generator)
    x, y = _pixel_coords(B, H, W, device)
    warp = value_noise(B, 2, H, W, generator, 1.0 + 4.0 * uniform((B,), generator), octaves=3) - 0.5
    warp_amp = 0.1 * uniform((B, 1, 1), generator) ** 2
    wx, wy = x + warp_amp * warp[:, 0], y + warp_amp * warp[:, 1]

    # 1. uniform colour
    plain = pal[:, 0, :, None, None].expand(B, 3, H, W)

    # 2. smooth multi-octave noise through a 3-colour ramp
    t = value_noise(B, 1, H, W, generator, 1.5 + 10.0 * uniform((B,), generator) ** 2)
    ramp = torch.where(
        t < 0.5,
        _lerp_colors(pal[:, 1], pal[:, 2], t * 2.0),
        _lerp_colors(pal[:, 2], pal[:, 3], t * 2.0 - 1.0),
    )

    # 3. Voronoi-like patches: nearest of n_b seeds (n_b in [3, 32]) in noise-warped coordinates
    n_max = 32
    seeds = uniform((B, n_max, 2), generator) * torch.tensor([W, H], device=device) / max(H, W)
    n_active = 3 + (uniform((B, 1), generator) ** 1.5 * (n_max - 3)).long()
    far = (torch.arange(n_max, device=device)[None] >= n_active).float() * 1e3
    pts = torch.stack([wx, wy], -1).reshape(B, 1, H * W, 2)
    d2 = ((pts - seeds[:, :, None]) ** 2).sum(-1) + far[..., None]  # (B, N, HW)
    cell = d2.argmin(1)  # (B, HW)
    cell_colors = torch.cat([pal, random_colors((B, n_max - 8), generator)], 1)
    cell_colors = torch.where(
        uniform((B, 1, 1), generator) < 0.5, cell_colors, pal.repeat(1, n_max // 8, 1)
    )
    cells = torch.gather(cell_colors, 1, cell[..., None].expand(-1, -1, 3))
    voronoi = cells.permute(0, 2, 1).reshape(B, 3, H, W)

    # 4. stripes or checkers, warped by noise, with sharp or soft edges
    freq = (2.0 + 22.0 * uniform((B, 1, 1), generator) ** 1.5) * 2.0 * math.pi
    ang = uniform((B, 1, 1), generator) * math.pi
    u_ = wx * torch.cos(ang) + wy * torch.sin(ang)
    v_ = -wx * torch.sin(ang) + wy * torch.cos(ang)
    stripes = torch.sin(freq * u_)
    checker = torch.sin(freq * u_) * torch.sin(freq * v_)
    wave = torch.where(uniform((B, 1, 1), generator) < 0.5, stripes, checker)
    edge = 0.02 + 0.6 * uniform((B, 1, 1), generator) ** 2
    t = smoothstep(-edge, edge, wave)[:, None]
    periodic = _lerp_colors(pal[:, 4], pal[:, 5], t)

    patterns = torch.stack([plain, ramp, voronoi, periodic], 1)  # (B, 4, 3, H, W)
    rows = torch.arange(B, device=device)
    base_idx = torch.multinomial(
        torch.tensor([0.15, 0.25, 0.3, 0.3], device=device).expand(B, -1), 1, generator=generator
    ).squeeze(1)
    second_idx = (base_idx + 1 + (uniform((B,), generator) * 3).long()) % 4
    albedo = patterns[rows, base_idx]

    # blend a second pattern through a soft noise mask
    blend = uniform((B, 1, 1, 1), generator) < 0.35
    mask_noise = value_noise(B, 1, H, W, generator, 1.0 + 4.0 * uniform((B,), generator), octaves=3)
    thr = 0.3 + 0.4 * uniform((B, 1, 1, 1), generator)
    soft = 0.01 + 0.15 * uniform((B, 1, 1, 1), generator)
    m = smoothstep(thr - soft, thr + soft, mask_noise) * blend
    albedo = albedo * (1 - m) + patterns[rows, second_idx] * m

    # speckles: small blobs from high-frequency noise thresholded near its top
    speck = value_noise(
        B, 1, H, W, generator, max(H, W) / (2.0 + 4.0 * uniform((B,), generator)), octaves=1
    )
    density = 0.75 + 0.2 * uniform((B, 1, 1, 1), generator)
    s = smoothstep(density, density + 0.03, speck) * (uniform((B, 1, 1, 1), generator) < 0.3)
    albedo = albedo * (1 - s) + pal[:, 6, :, None, None] * s

    # grime / fading: low-frequency multiplicative darkening
    grime = value_noise(B, 1, H, W, generator, 2.0 + 6.0 * uniform((B,), generator))
    strength = 0.5 * uniform((B, 1, 1, 1), generator) * (uniform((B, 1, 1, 1), generator) < 0.5)
    albedo = albedo * (1 - strength * grime)
    return albedo.clamp(ALBEDO_MIN, ALBEDO_MAX)


def random_materials(
    batch: int,
    generator: torch.Generator,
    height: int | None = None,
    width: int | None = None,
    metal_prob: float = 0.15,
) -> dict[str, torch.Tensor]:
    """Per-sample BRDF parameters as (B, 1, 1, 1) tensors (roughness may be a (B, 1, H, W) map).

    - ``roughness`` in [0.05, 0.9], skewed toward glossy (GGX alpha = roughness^2, so the low end
      gives sharp highlights and the high end an almost diffuse sheen).
    - ``metalness``: 0 for most samples; in (0.5, 1] with probability ``metal_prob``.
    - ``specular``: dielectric F0 in [0.02, 0.08] (water ~0.02, plastics ~0.04, gems ~0.08).
    - ``ambient``: strength in [0, 0.15] of a light-independent sky term that stands in for
      interreflections and room light.
    With ``height`` and ``width`` given, half the samples get a per-pixel roughness map (base
    roughness times smooth noise in [0.6, 1.4]) so highlights vary in sharpness across a surface.
    """

    def r():
        return uniform((batch, 1, 1, 1), generator)

    roughness = 0.05 + 0.85 * r() ** 1.5
    metal = r() < metal_prob
    metalness = torch.where(metal, 0.5 + 0.5 * r().clamp_min(1e-3), torch.zeros_like(roughness))
    specular = 0.02 + 0.06 * r()
    ambient = 0.15 * r()
    if height is not None and width is not None:
        noise = value_noise(
            batch, 1, height, width, generator, 2.0 + 10.0 * uniform((batch,), generator), 3
        )
        varying = r() < 0.5
        roughness = (
            roughness * torch.where(varying, 0.6 + 0.8 * noise, torch.ones_like(noise))
        ).clamp(0.05, 0.9)
    return {
        "roughness": roughness,
        "metalness": metalness,
        "specular": specular,
        "ambient": ambient,
    }
