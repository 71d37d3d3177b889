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
* Cast shadows come from :func:`cast_shadow_visibility`.
Background (mask 0) is black, as in DiLiGenT.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def cast_shadow_visibility(
    depth: torch.Tensor,
    mask: torch.Tensor,
    light_dirs: torch.Tensor,
    bias_px: float = 0.5,
    penumbra_px: float = 1.5,
) -> torch.Tensor:
    """(B, K, 1, H, W) visibility in [0, 1] of each light over a height field, soft-edged.

    Exact screen-space ray marching with unlimited steps, done as a horizon scan. In image units a
    ray toward light l moves along u = (l_x, -l_y) / |l_xy| (cols, rows) and rises by
    s = l_z / |l_xy| per pixel. A pixel p (height h) is shadowed if some point q at distance t
    ahead along u has depth(q) > h + s * t. With w = -u and t' the coordinate along w (so the
    light side has the smaller t'), that is

        margin(p) = max_{t' < t'_p} (depth(t') / s + t') - t'_p - h / s  >  0   (pixel units),

    a running (cumulative) max along w. So the depth map is resampled onto a grid rotated so that
    its columns run along w (one bilinear ``grid_sample``), ``cummax`` runs along each row, and
    the running max is sampled back one grid step behind each pixel (strictly ahead of it toward
    the light); the pixel's own depth and position stay exact. The margin is a distance in pixels
    from the shadow boundary, so a linear ramp over ``penumbra_px`` gives a ~1-2 px penumbra
    whatever the light angle, and ``bias_px`` stops smooth lit surfaces from shadowing themselves
    through interpolation error. Lights along +z have s -> inf and cast nothing. Pixels outside
    the mask never occlude (they are set below the lowest masked height).
    """
    B, _, H, W = depth.shape
    K = light_dirs.shape[1]
    dtype = depth.dtype
    inside = mask > 0.5
    big = torch.finfo(dtype).max
    lowest = torch.where(inside, depth, torch.full_like(depth, big)).amin((1, 2, 3), keepdim=True)
    lowest = torch.where(lowest < big, lowest, torch.zeros_like(lowest)) - 1.0
    src = torch.where(inside, depth - lowest, torch.zeros_like(depth))  # >= 0, outside = 0

    lxy = torch.linalg.norm(light_dirs[..., :2], dim=-1).clamp_min(1e-6)  # (B,K)
    slope = (light_dirs[..., 2].clamp_min(1e-6) / lxy).reshape(B * K, 1, 1, 1)
    wx, wy = (-light_dirs[..., 0] / lxy).reshape(-1), (light_dirs[..., 1] / lxy).reshape(-1)
    # Rotated S x S grid at 1 px spacing around the image centre whose column index j runs along
    # w and row index i along w_perp: image point = centre + j w + i w_perp (an affine map,
    # built by broadcasting: ``affine_grid`` goes through a slow batched matmul on CPU).
    S = math.ceil(math.hypot(H, W)) + 2
    j = torch.arange(S, device=depth.device, dtype=dtype) - (S - 1) / 2.0
    wx_, wy_ = wx.view(-1, 1, 1), wy.view(-1, 1, 1)
    jc, ir = j.view(1, 1, S), j.view(1, S, 1)
    gx = (jc * wx_ * (2.0 / W)) - (ir * wy_ * (2.0 / W))  # normalised x (image centre = 0)
    gy = (jc * wy_ * (2.0 / H)) + (ir * wx_ * (2.0 / H))
    grid = torch.stack([gx, gy], -1).view(B, K * S, S, 2)
    rot = F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    # s * (depth / s + t') = depth + s t'; its running max (s > 0) is s times the wanted one.
    run = torch.addcmul(rot.view(B * K, 1, S, S), slope, j).cummax(-1).values
    # Back: pixel (r, c) sits at t'_p = dc wx + dr wy, i_p = -dc wy + dr wx (offsets from the
    # centre). Sample the running max one step earlier, t'_p - 1, so that only points strictly
    # toward the light count.
    dc = (torch.arange(W, device=depth.device, dtype=dtype) + 0.5 - W / 2.0).view(1, 1, W)
    dr = (torch.arange(H, device=depth.device, dtype=dtype) + 0.5 - H / 2.0).view(1, H, 1)
    t_p = (dc * wx_) + (dr * wy_)  # (BK,H,W)
    back = torch.stack([(t_p - 1.0) * (2.0 / S), ((dr * wx_) - (dc * wy_)) * (2.0 / S)], -1)
    ahead = F.grid_sample(run, back, mode="bilinear", padding_mode="border", align_corners=False)
    own = (depth - lowest).repeat_interleave(K, 0)
    margin = (ahead - own) / slope - t_p.unsqueeze(1) - bias_px
    vis = (0.5 - margin / penumbra_px).clamp(0.0, 1.0)
    return vis.view(B, K, 1, H, W)


def render_photometric(
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
    a2 = alpha * alpha
    D = a2 / (math.pi * (n_dot_h * n_dot_h * (a2 - 1.0) + 1.0) ** 2)
    k = alpha / 2.0
    # pi * D * G / (4 n.l n.v) * n.l = pi * D * G1(l) / (4 (n.v (1-k) + k)): finite at silhouettes.
    s = D * (n_dot_l / (n_dot_l * (1.0 - k) + k)) * (math.pi / 4.0) / (n_dot_v * (1.0 - k) + k)

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
