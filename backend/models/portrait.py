"""Single-portrait network (issue 4; the source paper's): one photo -> normals, shading and a mask.

A shared encoder (two full-resolution convs, then two stride-2 convs to 128 features at a
quarter of the size) feeds three heads of the same shape, for the normal, the shading and the
mask. Each head is 3 residual blocks at 1/4 resolution, one 4x upsampling, and five convs; the
second and third of them also see the encoder's full-resolution features (skip connections),
which is what keeps the maps sharp. Convs are followed by BatchNorm and ReLU, as in the paper.

Outputs: "normal" unit camera-frame vectors; "shading" positive linear shading in the input's
units (the head predicts log-shading, so the scale-invariant loss is a plain difference and
positivity is free); "log_shading"; "mask_logits". Shading is RGB by default (the paper used one
channel): the light's colour then stays in the shading and out of the albedo.

The input must be exposure-normalised with `normalise_portrait_exposure`, in training and at
inference alike; the shading comes out in those normalised units (multiply by the level back).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..photometric.exposure import normalise_exposure
from .layers import init_weights, make_norm, pad_to_multiple
from .registry import resolve_config

PAD_MULTIPLE = 4  # two stride-2 convs
LOG_SHADING_RANGE = (-12.0, 6.0)  # exp() stays finite; far beyond any normalised shading
HEADS = ("normal", "shading", "mask")
CENTRE_FRACTION = 0.5  # the face crop puts the face in the middle half of the frame


def normalise_portrait_exposure(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 3, H, W) linear -> (images / level, level (B,)): the multi-light exposure rule
    (99th percentile of grey) taken over the centre of the frame, where the face crop and the
    synthetic framing both put the face, so a bright sky or a black letterbox does not set it."""
    b, _, h, w = images.shape
    mask = images.new_zeros(b, 1, h, w)
    top, left = int(h * (1 - CENTRE_FRACTION) / 2), int(w * (1 - CENTRE_FRACTION) / 2)
    mask[..., top : h - top, left : w - left] = 1.0
    normalised, level = normalise_exposure(images[:, None], mask)
    return normalised[:, 0], level


def conv_bn_relu(cin: int, cout: int, k: int = 3, stride: int = 1, norm: str | None = "batch"):
    has_norm = norm not in (None, "none")
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, bias=not has_norm),
        make_norm(norm, cout),
        nn.ReLU(inplace=True),
    )


class ResidualBlock(nn.Module):
    """ResNet basic block: conv-norm-ReLU-conv-norm plus identity, then ReLU."""

    def __init__(self, channels: int, norm: str | None = "batch"):
        super().__init__()
        has_norm = norm not in (None, "none")
        self.body = nn.Sequential(
            conv_bn_relu(channels, channels, norm=norm),
            nn.Conv2d(channels, channels, 3, 1, 1, bias=not has_norm),
            make_norm(norm, channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.body(x))


class PortraitHead(nn.Module):
    """blocks (1/4 res) -> reduce (1/4 res) -> 4x upsample -> first -> fuse2(+f2) -> fuse1(+f1)
    -> tail. The reference has no reduce; the lite one narrows before upsampling (cheaper)."""

    def __init__(self, blocks, reduce, first, fuse2, fuse1, tail):
        super().__init__()
        self.blocks, self.reduce, self.first = blocks, reduce, first
        self.fuse2, self.fuse1, self.tail = fuse2, fuse1, tail

    def forward(self, z: torch.Tensor, f1: torch.Tensor, f2: torch.Tensor) -> torch.Tensor:
        y = self.reduce(self.blocks(z))
        y = F.interpolate(y, size=f1.shape[-2:], mode="bilinear", align_corners=False)
        y = self.first(y)
        y = self.fuse2(torch.cat([y, f2], 1))
        y = self.fuse1(torch.cat([y, f1], 1))
        return self.tail(y)


class PortraitNet(nn.Module):
    """Shared encoder + one head per output; any H, W (padded to a multiple of 4, cropped back)."""

    def __init__(self, full1: nn.Module, full2: nn.Module, down: nn.Module, heads: nn.ModuleDict,
                 shading_channels: int = 3):
        super().__init__()
        self.full1, self.full2, self.down, self.heads = full1, full2, down, heads
        self.shading_channels = shading_channels

    def channels_last(self) -> PortraitNet:
        """Store the weights channels-last (call after initialising them: random init fills
        memory in order, so converting first would change which weights a seed draws).
        Channels-last runs the depthwise and full-resolution convs 1.5x (training) to 3x
        (inference) faster on CPU; load_state_dict and .to(device) keep the layout."""
        return self.to(memory_format=torch.channels_last)

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        if image.ndim != 4 or image.shape[1] != 3:
            raise ValueError(f"image must be (B, 3, H, W), got {tuple(image.shape)}")
        h, w = image.shape[-2:]
        x = pad_to_multiple(image, PAD_MULTIPLE).contiguous(memory_format=torch.channels_last)
        f1 = self.full1(x)
        f2 = self.full2(f1)
        z = self.down(f2)
        raw = {name: head(z, f1, f2)[..., :h, :w].contiguous() for name, head in self.heads.items()}
        log_shading = raw["shading"].float().clamp(*LOG_SHADING_RANGE)
        if log_shading.shape[1] == 1:
            log_shading = log_shading.expand(-1, 3, -1, -1)
        return {
            "normal": F.normalize(raw["normal"].float(), dim=1),
            "shading": log_shading.exp(),
            "log_shading": log_shading,
            "mask_logits": raw["mask"].float(),
        }


def out_channels(shading_channels: int) -> dict[str, int]:
    return {"normal": 3, "shading": shading_channels, "mask": 1}


def reference_head(features: int, f1: int, f2: int, cout: int, blocks: int, norm) -> PortraitHead:
    return PortraitHead(
        blocks=nn.Sequential(*[ResidualBlock(features, norm) for _ in range(blocks)]),
        reduce=nn.Identity(),
        first=conv_bn_relu(features, 64, norm=norm),
        fuse2=conv_bn_relu(64 + f2, 64, norm=norm),
        fuse1=conv_bn_relu(64 + f1, 32, norm=norm),
        tail=nn.Sequential(conv_bn_relu(32, 16, norm=norm), nn.Conv2d(16, cout, 3, 1, 1)),
    )


PORTRAIT_DEFAULTS = {
    "widths": [32, 64, 128],  # full-res conv 1, full-res conv 2, encoder features
    "blocks": 3,
    "norm": "batch",
    "shading_channels": 3,
}


def portrait(**overrides) -> PortraitNet:
    """The source paper's network: a shared encoder to 128 features, three residual heads."""
    cfg = resolve_config("portrait", PORTRAIT_DEFAULTS, overrides)
    c1, c2, c = cfg["widths"]
    norm = cfg["norm"]
    heads = nn.ModuleDict({
        name: reference_head(c, c1, c2, n, cfg["blocks"], norm)
        for name, n in out_channels(cfg["shading_channels"]).items()
    })
    model = PortraitNet(
        full1=conv_bn_relu(3, c1, norm=norm),
        full2=conv_bn_relu(c1, c2, norm=norm),
        down=nn.Sequential(
            conv_bn_relu(c2, c, stride=2, norm=norm), conv_bn_relu(c, c, stride=2, norm=norm)
        ),
        heads=heads,
        shading_channels=cfg["shading_channels"],
    )
    init_weights(model)
    model.config = cfg
    return model.channels_last()
