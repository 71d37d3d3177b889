"""Material network: one photo of a nearly flat surface -> normals, shading and roughness.

A compact U-Net built for a 1024² photo in well under a second on two CPU cores. Measured there,
a dense 3x3 conv runs at ~30 GMAC/s while depthwise-separable ones are memory-bound (a tenth of
the work took a third of the time), so this network uses dense convs and keeps them off the
full resolution: the stem folds each 4x4 block of pixels into 48 channels (pixel unshuffle),
four levels (1/4 to 1/32) of conv-BN-ReLU residual blocks see ~400 px of context, enough to tell
mortar from a stain; the decoder upsamples bilinearly with skips and unfolds back to full
resolution (pixel shuffle), where one small 3x3 conv also sees the photo itself, so edges stay
on their pixels. About 12 GMAC at 1024².

Outputs, all at the input's size:
- "normal": unit vectors in the surface's frame (x right, y up, z out of the surface). The raw
  z goes through a softplus shifted so that zero reads 1, and the last layer starts at zero
  (or nearly: ``head_std``, which training uses, since a zero layer passes no gradient back):
  an untrained network answers "flat", the safe guess on real surfaces.
- "log_shading" (1 channel): log of the diffuse light's luminance, in the units of the
  exposure-normalised input (`normalise_material_exposure`); albedo = photo / shading.
- "roughness" (1 channel): GGX roughness in (0, 1).

Normalisation is BatchNorm, frozen in eval: each tile of a large photo is then processed
exactly as if it were alone, which is what lets `inference.material` tile without seams.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .layers import init_weights
from .portrait import ResidualBlock, conv_bn_relu
from .registry import resolve_config

FOLD = 4  # pixel unshuffle factor of the stem
OUTPUTS = {"normal": 3, "log_shading": 1, "roughness": 1}
LOG_SHADING_RANGE = (-8.0, 5.0)
EXPOSURE_TARGET = 0.25  # mean grey of a normalised input
Z_SHIFT = math.log(math.e - 1)  # softplus(0 + Z_SHIFT) = 1

MATERIAL_DEFAULTS = {
    "widths": [32, 64, 128, 192],  # features at 1/4, 1/8, 1/16 and 1/32 of the input
    "blocks": [1, 1, 1, 2],  # residual blocks per level
    "norm": "batch",
    "input": "sqrt",  # "sqrt": the photo's square root; "log": with its log beside it
}
MATERIAL_FAST_DEFAULTS = {"widths": [24, 48, 96, 128], "blocks": [1, 1, 1, 1], "norm": "batch",
                          "input": "sqrt"}
LOG_FLOOR = 1e-2  # in exposure-normalised units, under the log input


def exposure_level(images: torch.Tensor) -> torch.Tensor:
    """(B,) the level a photo is divided by: its mean grey over EXPOSURE_TARGET. Tiles of one
    photo must share the photo's level, so inference computes it once on the whole."""
    return (images.mean((1, 2, 3)) / EXPOSURE_TARGET).clamp_min(1e-6)


def normalise_material_exposure(images: torch.Tensor, level: torch.Tensor | None = None):
    """(B, 3, H, W) linear -> (images / level, level (B,)), ``level`` computed if not given."""
    level = exposure_level(images) if level is None else level
    return images / level.view(-1, 1, 1, 1), level


class MaterialNet(nn.Module):
    def __init__(self, widths, blocks, norm, input="sqrt", head_std=0.0):
        super().__init__()
        if input not in ("sqrt", "log"):
            raise ValueError(f"input must be 'sqrt' or 'log', got {input!r}")
        self.input = input
        channels = 3 if input == "sqrt" else 6
        self.pad = FOLD * 2 ** (len(widths) - 1)
        self.encoder = nn.ModuleList()
        for i, (width, count) in enumerate(zip(widths, blocks, strict=True)):
            first = (conv_bn_relu(channels * FOLD * FOLD, width, norm=norm) if i == 0
                     else conv_bn_relu(widths[i - 1], width, stride=2, norm=norm))
            self.encoder.append(nn.Sequential(
                first, *[ResidualBlock(width, norm=norm) for _ in range(count)]))
        self.decoder = nn.ModuleList(
            conv_bn_relu(widths[i + 1] + widths[i], widths[i], norm=norm)
            for i in reversed(range(len(widths) - 1))
        )
        self.unfold = nn.Conv2d(widths[0], FOLD * FOLD * 8, 1)  # 8 features per output pixel
        self.head = nn.Conv2d(8 + channels, sum(OUTPUTS.values()), 3, 1, 1)
        init_weights(self)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        if head_std:  # a zero head passes no gradient back to the body (see the module notes)
            nn.init.normal_(self.head.weight, std=head_std)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """images: (B, 3, H, W) exposure-normalised linear RGB, any size."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be (B, 3, H, W), got {tuple(images.shape)}")
        h, w = images.shape[-2:]
        x = images.clamp(0, 16).sqrt()  # compress highlights, as a photo's tone curve does
        if self.input == "log":  # shading multiplies the albedo: in log it adds, level-free
            x = torch.cat([x, (images.clamp(0, 16) + LOG_FLOOR).log() * 0.25], 1)
        # Pad to the pyramid's multiple by repeating the edge: a surface goes on past the crop.
        ph, pw = -h % self.pad, -w % self.pad
        x = F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x
        x = x.contiguous(memory_format=torch.channels_last)
        skips = []
        f = F.pixel_unshuffle(x, FOLD)
        for level in self.encoder:
            f = level(f)
            skips.append(f)
        f = skips.pop()
        for fuse in self.decoder:
            skip = skips.pop()
            f = F.interpolate(f, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            f = fuse(torch.cat([f, skip], 1))
        f = F.pixel_shuffle(self.unfold(f), FOLD)
        out = self.head(torch.cat([F.relu(f), x], 1))[..., :h, :w].float()
        raw_normal, log_shading, roughness = out.split(list(OUTPUTS.values()), 1)
        z = F.softplus(raw_normal[:, 2:] + Z_SHIFT)
        normal = torch.cat([raw_normal[:, :2], z], 1)
        normal = normal * (normal * normal).sum(1, keepdim=True).clamp_min(1e-12).rsqrt()
        return {"normal": normal.contiguous(),
                "log_shading": log_shading.clamp(*LOG_SHADING_RANGE).contiguous(),
                "roughness": torch.sigmoid(roughness + 0.5).contiguous()}


def _build(name: str, defaults: dict, overrides: dict) -> MaterialNet:
    head_std = overrides.pop("head_std", 0.0)  # initialisation only: not part of the config
    cfg = resolve_config(name, defaults, overrides)
    if len(cfg["widths"]) != len(cfg["blocks"]):
        raise ValueError("widths and blocks need one entry per level")
    model = MaterialNet(list(cfg["widths"]), list(cfg["blocks"]), cfg["norm"],
                        cfg.get("input", "sqrt"), head_std)
    model.config = cfg
    # channels-last after initialising (a seed then draws the same weights either way): the
    # convs run up to 2x faster on CPU in that layout
    return model.to(memory_format=torch.channels_last)


def material(**overrides) -> MaterialNet:
    """The material U-Net."""
    return _build("material", MATERIAL_DEFAULTS, overrides)


def material_fast(**overrides) -> MaterialNet:
    """Narrower and shallower, for large photos on slow CPUs."""
    return _build("material_fast", MATERIAL_FAST_DEFAULTS, overrides)
