"""The portrait engine's camera: a phone or a press photographer's, saved as a JPEG.

White balance, exposure on the face, shot and read noise, a mild tone curve, 8-bit sRGB and JPEG
at a random quality, decoded back exactly as our reader decodes 8-bit files (`imaging`).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch

from ..imaging import decode_srgb8, srgb8_codes
from ..random import uniform


def apply_camera(x: torch.Tensor, face: torch.Tensor, g: torch.Generator):
    """(image, gain (B, 3)) of a linear scene (B, 3, H, W) whose face region is ``face``."""
    B = x.shape[0]
    wb = 1 + 0.3 * (uniform((B, 3), g) - 0.5)
    wb[:, 1] = 1.0
    lum = (x * torch.tensor([0.2126, 0.7152, 0.0722], device=x.device).view(1, 3, 1, 1)).sum(1)
    ref = []
    for b in range(B):
        vals = lum[b][face[b, 0] > 0.5]
        vals = vals if vals.numel() > 16 else lum[b].flatten()
        ref.append(torch.quantile(vals[:65536], 0.9))
    ref = torch.stack(ref).clamp_min(1e-6)
    target = 0.25 + 0.6 * uniform((B,), g)
    gain = wb * (target / ref)[:, None]
    y = x * gain[..., None, None]
    a = torch.exp(math.log(3e-5) + uniform((B, 1, 1, 1), g) * math.log(3e-3 / 3e-5))
    r = torch.exp(math.log(1e-4) + uniform((B, 1, 1, 1), g) * math.log(4e-3 / 1e-4))
    noise = torch.randn(y.shape, generator=g, device=g.device)
    y = y + (y.clamp_min(0) * a + r * r).sqrt() * noise
    gamma = 1 + 0.15 * (uniform((B, 1, 1, 1), g) - 0.5)
    y = y.clamp(0, 1) ** gamma
    codes = srgb8_codes(y).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    quality = (40 + 56 * uniform((B,), g)).long().tolist()
    use_jpeg = (uniform((B,), g) < 0.85).tolist()
    out = []
    for b in range(B):
        img = codes[b]
        if use_jpeg[b]:
            _, buf = cv2.imencode(
                ".jpg", np.ascontiguousarray(img[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality[b]]
            )
            img = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
        out.append(np.ascontiguousarray(img))
    codes = torch.from_numpy(np.stack(out)).to(x.device).long().permute(0, 3, 1, 2)
    return decode_srgb8(codes), gain
