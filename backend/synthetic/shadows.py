"""Soft cast shadows over a height field, for both engines (and the portrait bank's occlusion)."""

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
