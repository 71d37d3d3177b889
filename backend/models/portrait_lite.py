"""Portrait lite: the `portrait` network's layout with depthwise-separable convs, for CPU speed.

Same encoder/heads/skips and outputs as `models.portrait`. Residual blocks become
`ResidualSeparable`, convs become `SeparableConv` (the first full-resolution conv stays a plain
3x3 conv: a depthwise conv on 3 input channels would see too little), and each head narrows its
features before the 4x upsampling instead of after it, so the full-resolution part of the three
heads runs at 32/16 channels. Widths are halved at full resolution, where most of the time goes.
"""

from __future__ import annotations

from torch import nn

from .layers import ResidualSeparable, SeparableConv, init_weights
from .portrait import PortraitHead, PortraitNet, conv_bn_relu, out_channels
from .registry import resolve_config


def lite_head(features: int, f1: int, f2: int, cout: int, blocks: int, norm) -> PortraitHead:
    return PortraitHead(
        blocks=nn.Sequential(
            *[ResidualSeparable(features, features, norm=norm) for _ in range(blocks)]
        ),
        reduce=SeparableConv(features, 64, norm=norm),
        first=nn.Identity(),
        fuse2=SeparableConv(64 + f2, 32, norm=norm),
        fuse1=SeparableConv(32 + f1, 16, norm=norm),
        tail=nn.Sequential(SeparableConv(16, 16, norm=norm), nn.Conv2d(16, cout, 3, 1, 1)),
    )


PORTRAIT_LITE_DEFAULTS = {
    "widths": [16, 32, 128],  # full-res conv 1, full-res conv 2, encoder features
    "blocks": 3,
    "norm": "batch",
    "shading_channels": 3,
}


def portrait_lite(**overrides) -> PortraitNet:
    """Separable `portrait`: same interface, a fraction of the weights and the time."""
    cfg = resolve_config("portrait_lite", PORTRAIT_LITE_DEFAULTS, overrides)
    c1, c2, c = cfg["widths"]
    norm = cfg["norm"]
    heads = nn.ModuleDict({
        name: lite_head(c, c1, c2, n, cfg["blocks"], norm)
        for name, n in out_channels(cfg["shading_channels"]).items()
    })
    model = PortraitNet(
        full1=conv_bn_relu(3, c1, norm=norm),
        full2=SeparableConv(c1, c2, norm=norm),
        down=nn.Sequential(
            ResidualSeparable(c2, c // 2, stride=2, norm=norm),
            ResidualSeparable(c // 2, c, stride=2, norm=norm),
        ),
        heads=heads,
        shading_channels=cfg["shading_channels"],
    )
    init_weights(model)
    model.config = cfg
    return model.channels_last()
