"""Albedo and GGX roughness for a relief, with the height and the colour only loosely tied.

A single-photo model reads relief from shading; the danger is reading it from colour. Real
surfaces have both: dark mortar beside light bricks (colour that follows height), rust, paint,
print and wood grain on a flat plane (colour with no height), and bare relief in one colour
(height with no colour). Each sample here draws how much its colour follows the relief, from
not at all to fully, and most samples get a pattern laid over it that ignores the relief (the
shared `materials.random_albedo`, grain stripes, stains), so that an albedo edge alone is never
evidence of a bump.
"""

from __future__ import annotations

import math

import torch

from ..materials import ALBEDO_MAX, ALBEDO_MIN, random_albedo, random_colors, smoothstep
from ..random import uniform
from .geometry import LATTICE, Relief, _coords, _table, fbm, log_uniform


def _segment_tint(segment, g, spread):
    """(B, 3, H, W) multiplicative tint per segment, about 1 +- spread."""
    B = segment.shape[0]
    tints = []
    for _ in range(3):
        table = _table(B, g)
        tints.append(torch.gather(table, 1, segment.reshape(B, -1) % (LATTICE * LATTICE)))
    t = torch.stack(tints, 1).view(B, 3, *segment.shape[-2:])
    common = t.mean(1, keepdim=True)  # mostly a brightness change, a little hue
    return 1 + spread * ((common - 0.5) * 1.6 + (t - common) * 0.5)


def _grain(B, H, W, g):
    """Stretched, warped stripes (wood grain, brushed paint, rust streaks): (B, 1, H, W), [0, 1]."""
    x, y = _coords(B, H, W, g)
    spacing = log_uniform((B, 1, 1), 2, 25, g)
    warp = 1 + 3 * uniform((B, 1, 1), g)
    phase = y / spacing + warp * fbm(x / (spacing * 12), y / (spacing * 4), g, 3)
    sharp = 0.05 + 0.9 * uniform((B, 1, 1), g)
    return smoothstep(-sharp, sharp, torch.sin(2 * math.pi * phase))[:, None]


def material_appearance(relief: Relief, family: str, g: torch.Generator) -> dict:
    """{"albedo": (B, 3, H, W) linear in [0.02, 0.95], "roughness": (B, 1, H, W) in [0.1, 1]}."""
    B, _, H, W = relief.height.shape

    def u(*shape):
        return uniform((B, *shape) if shape else (B, 1, 1, 1), g)

    base = random_colors((B,), g)[..., None, None]  # (B, 3, 1, 1)
    # Surfaces are rarely saturated: pull most base colours toward grey.
    grey = base.mean(1, keepdim=True)
    base = grey + (base - grey) * u() ** 0.7
    albedo = base * _segment_tint(relief.segment, g, 0.6 * u())

    # colour that follows the relief: cavities (mortar, gaps, cracks) lighter or darker
    cavity_colour = random_colors((B,), g)[..., None, None]
    cavity_colour = torch.where(u() < 0.5, base * (0.3 + 1.2 * u()), cavity_colour)
    follows = torch.where(u() < 0.5, u(), torch.zeros_like(u()))
    albedo = torch.lerp(albedo, cavity_colour.expand_as(albedo), relief.cavity * follows)

    # colour that ignores the relief: a pattern over it, painted, stained or printed
    pattern = random_albedo(B, H, W, g)
    grain = _grain(B, H, W, g)
    grain_colour = torch.lerp(albedo, random_colors((B,), g)[..., None, None], 0.5 * u())
    kind = u()
    strength = 0.3 + 0.7 * u()
    if family == "flat":  # the family's whole point: colour without relief
        kind, strength = 0.4 + 0.6 * kind, torch.ones_like(strength)
    stained = albedo * (0.5 + pattern.mean(1, keepdim=True) / pattern.mean((1, 2, 3), True) / 2)
    painted = torch.lerp(albedo, pattern, strength)
    grained = torch.lerp(albedo, grain_colour * (0.6 + 0.8 * grain), strength)
    albedo = torch.where(kind < 0.2, albedo, torch.where(
        kind < 0.45, stained, torch.where(kind < 0.75, painted, grained)))
    # speckle and dirt at a few pixels' scale: colour noise that no relief explains
    x, y = _coords(B, H, W, g)
    speck = fbm(x / log_uniform((B, 1, 1), 1, 4, g), y / 2, g, 2)[:, None]
    albedo = albedo * (1 + 0.6 * u() * speck)
    # bare relief in one colour, in some samples
    albedo = torch.where(u() < 0.12, base.expand_as(albedo), albedo)

    rough = 0.3 + 0.65 * u()
    rough = rough * (1 + 0.3 * (_segment_tint(relief.segment, g, u())[:, :1] - 1))
    rough = rough + 0.2 * relief.cavity * u() + 0.3 * u() * fbm(x / 20, y / 20, g, 3)[:, None]
    return {
        "albedo": albedo.clamp(ALBEDO_MIN, ALBEDO_MAX),
        "roughness": rough.clamp(0.1, 1.0),
    }
