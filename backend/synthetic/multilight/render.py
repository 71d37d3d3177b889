"""Physically based rendering of K directional-light photographs from geometry buffers.

Model (orthographic camera, view v = +z, directional lights of RGB intensity E):

    I_k = E_k * vis_k * max(n.l_k, 0) * [ albedo * (1 - metalness) + pi * f_spec ]
          + ambient * albedo * (1 + n_z) / 2 * mean_k(E_k)

* Diffuse is scaled so that a white Lambertian surface facing the light returns E (no 1/pi);
  the GGX lobe is multiplied by pi to stay in the same units, so diffuse/specular ratios are
  physical.
* f_spec = D * G * F / (4 n.l n.v): GGX D with alpha = roughness^2, Smith-Schlick G with
  k = alpha / 2, Schlick Fresnel with F0 = mix(specular, albedo, metalness). The grazing term
  uses F90 = clamp(50 * F0, 0, 1) (the Unreal convention: F0 below 2 % is treated as
  specular occlusion), so ``specular=0, metalness=0`` is exactly Lambertian.
* The ambient term is a cosine-weighted sky around the camera (irradiance from the +z
  hemisphere ~ (1 + n_z) / 2). It does not change with the light: real photographs carry
  such an offset from interreflections and room light, and a network trained without it would
  read it as shading. It is scaled by the mean light intensity of the sample so it tracks the
  rig's overall brightness but stays constant across the K shots.
* Cast shadows come from :func:`..shadows.cast_shadow_visibility`.
Background (mask 0) is black, as in DiLiGenT.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..brdf import ggx_specular
from ..shadows import cast_shadow_visibility


def render_multilight(
    normals: torch.Tensor,
    depth: torch.Tensor,
    mask: torch.Tensor,
    albedo: torch.Tensor,
    material: dict[str, torch.Tensor],
    light_dirs: torch.Tensor,
    light_ints: torch.Tensor,
    cast_shadows: bool = True,
) -> torch.Tensor:
    """(B, K, 3, H, W) linear radiance of K shots; see the module docstring for the model.

    ``normals`` (B,3,H,W) unit, ``depth`` and ``mask`` (B,1,H,W), ``albedo`` (B,3,H,W), material
    entries broadcastable to (B,1,H,W) (missing entries: roughness 0.5, metalness 0, specular
    0.04, ambient 0), ``light_dirs`` and ``light_ints`` (B,K,3).
    """
    B, _, H, W = normals.shape
    K = light_dirs.shape[1]
    zeros = normals.new_zeros(B, 1, 1, 1)
    roughness = material.get("roughness", zeros + 0.5)
    metalness = material.get("metalness", zeros)
    specular = material.get("specular", zeros + 0.04)
    ambient = material.get("ambient", zeros)

    flat_n = normals.reshape(B, 3, H * W)
    h = F.normalize(light_dirs + light_dirs.new_tensor([0.0, 0.0, 1.0]), dim=-1)  # (B,K,3)
    n_dot_l = torch.bmm(light_dirs, flat_n).view(B, K, 1, H, W).clamp_min(0.0)
    n_dot_h = torch.bmm(h, flat_n).view(B, K, 1, H, W).clamp_min(0.0)
    n_dot_v = normals[:, None, 2:3].clamp_min(0.0)  # (B,1,1,H,W)
    v_dot_h = h[..., 2, None, None, None]  # (B,K,1,1,1)

    alpha = (roughness * roughness).clamp_min(1e-4).unsqueeze(1)  # (B,1,1,.,.)
    s = ggx_specular(n_dot_l, n_dot_h, n_dot_v, alpha)

    gate = mask.unsqueeze(1)
    if cast_shadows:
        gate = gate * cast_shadow_visibility(depth, mask, light_dirs)
    n_dot_l = n_dot_l * gate
    s = s * gate
    # Schlick: F = f0 (1 - w) + f90 w with w = (1 - v.h)^5 constant per light.
    w = (1.0 - v_dot_h).clamp_min(0.0) ** 5
    f0 = (specular * (1.0 - metalness) + albedo * metalness).unsqueeze(1)  # (B,1,3,H|1,W|1)
    f90 = (50.0 * f0).clamp(max=1.0)
    out = (albedo * (1.0 - metalness)).unsqueeze(1) * n_dot_l
    out = out.addcmul_(f0, s * (1.0 - w)).addcmul_(f90, s * w)
    out = out.mul_(light_ints[..., None, None])
    sky = ambient * albedo * (1.0 + normals[:, 2:3]) * 0.5 * mask  # (B,3,H,W)
    return out.add_(sky.unsqueeze(1) * light_ints.mean(1)[:, None, :, None, None])
