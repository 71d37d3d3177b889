"""The material engine's camera: a phone or a DSLR aimed at a wall or floor.

A slight perspective (the camera is never exactly square on), vignetting, lens blur, white
balance, exposure on the whole frame, shot and read noise, a mild tone curve, 8-bit sRGB and
JPEG at a random quality, decoded back exactly as our reader decodes 8-bit files (`imaging`).
The perspective moves the pixels of the photo and of every target together, and leaves the
normals as they are: the maps describe the surface in its own frame (a texture), and a camera a
few degrees off square is a nuisance to ignore, not a tilt to report.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..imaging import decode_srgb8, srgb8_codes
from ..random import uniform


def perspective_grid(B: int, H: int, W: int, g: torch.Generator, strength: float = 0.06):
    """(B, H, W, 2) sampling grid of a random mild homography (corners moved by up to
    ``strength`` of the frame, always inside it, so no border is invented)."""
    dev = g.device
    corners = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]], device=dev)
    inward = -corners * uniform((B, 4, 2), g) * strength * 2  # source corners, inside the frame
    src = corners + inward
    # Solve the 8-parameter homography mapping output corners to source corners.
    rows, rhs = [], []
    for i in range(4):
        x, y = corners[i]
        sx, sy = src[:, i, 0], src[:, i, 1]
        z, o = torch.zeros_like(sx), torch.ones_like(sx)
        rows.append(torch.stack([x * o, y * o, o, z, z, z, -x * sx, -y * sx], -1))
        rows.append(torch.stack([z, z, z, x * o, y * o, o, -x * sy, -y * sy], -1))
        rhs += [sx, sy]
    h = torch.linalg.solve(torch.stack(rows, 1), torch.stack(rhs, 1))
    h = torch.cat([h, torch.ones(B, 1, device=dev)], 1).view(B, 3, 3)
    ys = (torch.arange(H, device=dev) + 0.5) / H * 2 - 1
    xs = (torch.arange(W, device=dev) + 0.5) / W * 2 - 1
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    points = torch.stack([x, y, torch.ones_like(x)], -1).view(1, -1, 3)
    mapped = points @ h.transpose(1, 2)
    return (mapped[..., :2] / mapped[..., 2:]).view(B, H, W, 2)


def warp(maps: dict, grid: torch.Tensor) -> dict:
    """Resample every (B, C, H, W) map along ``grid``; normals are renormalised."""
    out = {}
    for key, value in maps.items():
        mode = "nearest" if not value.is_floating_point() else "bilinear"
        v = F.grid_sample(value.float(), grid, mode=mode, padding_mode="border",
                          align_corners=False)
        if key == "normal":
            v = v * (v * v).sum(1, keepdim=True).clamp_min(1e-12).rsqrt()
        out[key] = v.to(value.dtype)
    return out


def vignetting(B: int, H: int, W: int, g: torch.Generator) -> torch.Tensor:
    """(B, 1, H, W) lens falloff, up to 35 % darker in the corners."""
    dev = g.device
    ys = (torch.arange(H, device=dev) + 0.5) / H - 0.5
    xs = (torch.arange(W, device=dev) + 0.5) / W - 0.5
    r2 = (ys.view(1, 1, H, 1) ** 2 + xs.view(1, 1, 1, W) ** 2) * 2
    return 1 - 0.35 * uniform((B, 1, 1, 1), g) ** 2 * r2


def lens_blur(x: torch.Tensor, g: torch.Generator, share: float = 0.4) -> torch.Tensor:
    """A Gaussian blur of 0.4-1.2 px on ``share`` of the samples (focus, a soft lens, shake)."""
    B, C, H, W = x.shape
    sigma = 0.4 + 0.8 * uniform((B, 1), g)
    radius = 3
    t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = (k / k.sum(1, keepdim=True)).repeat_interleave(C, 0)
    y = F.pad(x.reshape(1, B * C, H, W), (radius,) * 4, mode="replicate")
    y = F.conv2d(y, k.view(B * C, 1, 1, -1), groups=B * C)
    y = F.conv2d(y, k.view(B * C, 1, -1, 1), groups=B * C).view(B, C, H, W)
    return torch.where((uniform((B, 1, 1, 1), g) < share), y, x)


def apply_camera(x: torch.Tensor, g: torch.Generator, jpeg: bool = True):
    """(image, gain (B, 3)) of a linear scene (B, 3, H, W): white balance, exposure, noise,
    tone, 8-bit sRGB and JPEG. ``image ~= gain * x`` up to noise, tone and compression."""
    B = x.shape[0]
    wb = 1 + 0.3 * (uniform((B, 3), g) - 0.5)
    wb[:, 1] = 1.0
    lum = (x * torch.tensor([0.2126, 0.7152, 0.0722], device=x.device).view(1, 3, 1, 1)).sum(1)
    ref = torch.quantile(lum.flatten(1)[:, ::7], 0.9, dim=1).clamp_min(1e-6)
    target = 0.2 + 0.65 * uniform((B,), g)
    gain = wb * (target / ref)[:, None]
    y = x * gain[..., None, None]
    a = torch.exp(math.log(3e-5) + uniform((B, 1, 1, 1), g) * math.log(3e-3 / 3e-5))
    r = torch.exp(math.log(1e-4) + uniform((B, 1, 1, 1), g) * math.log(4e-3 / 1e-4))
    y = y + (y.clamp_min(0) * a + r * r).sqrt() * torch.randn(y.shape, generator=g,
                                                               device=g.device)
    gamma = 1 + 0.15 * (uniform((B, 1, 1, 1), g) - 0.5)
    y = y.clamp(0, 1) ** gamma
    if not jpeg:
        return decode_srgb8(srgb8_codes(y)), gain
    codes = srgb8_codes(y).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    quality = (50 + 46 * uniform((B,), g)).long().tolist()
    use_jpeg = (uniform((B,), g) < 0.7).tolist()
    out = []
    for b in range(B):
        img = codes[b]
        if use_jpeg[b]:
            _, buf = cv2.imencode(".jpg", np.ascontiguousarray(img[..., ::-1]),
                                  [cv2.IMWRITE_JPEG_QUALITY, quality[b]])
            img = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
        out.append(np.ascontiguousarray(img))
    codes = torch.from_numpy(np.stack(out)).to(x.device).long().permute(0, 3, 1, 2)
    return decode_srgb8(codes), gain
