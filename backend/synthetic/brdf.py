"""The GGX microfacet lobe both engines shade their speculars with.

GGX (Trowbridge-Reitz) normal distribution D with alpha = roughness², Smith-Schlick geometry
with k = alpha / 2. Each engine adds its own Fresnel term: the multi-light renderer a Schlick
term with a grazing F90 (see `multilight.render`), the portrait engine skin's constant F0.
"""

from __future__ import annotations

import math

import torch


def ggx_distribution(n_dot_h: torch.Tensor, a2: torch.Tensor) -> torch.Tensor:
    """GGX D for alpha² = ``a2`` at the cosine between the normal and the half vector."""
    return a2 / (math.pi * (n_dot_h * n_dot_h * (a2 - 1.0) + 1.0) ** 2)


def ggx_specular(n_dot_l: torch.Tensor, n_dot_h: torch.Tensor, n_dot_v: torch.Tensor,
                 alpha: torch.Tensor) -> torch.Tensor:
    """pi * D * G / (4 n.l n.v) * n.l, without Fresnel, from clamped cosines: the specular
    radiance of a unit light in the units where a white Lambertian surface facing it returns 1.
    Written as pi * D * G1(l) / (4 (n.v (1-k) + k)), it stays finite at silhouettes."""
    k = alpha / 2.0
    d = ggx_distribution(n_dot_h, alpha * alpha)
    return d * (n_dot_l / (n_dot_l * (1.0 - k) + k)) * (math.pi / 4.0) / (n_dot_v * (1.0 - k) + k)
