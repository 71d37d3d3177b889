"""SDPS-Net lite: the same two stages and interface as `sdps`, at under a quarter of the size.

Each pair of plain 3x3 convs of the reference becomes one residual block of two depthwise-
separable convs (`ResidualSeparable`), dense 4x4 deconvs become bilinear upsampling + separable
conv (`UpSeparable`), and the first conv of each extractor stays a plain 3x3 conv (a depthwise
conv on 4-6 input channels would see too little). Widths and strides match the reference, so
LCNet-lite still reaches 1 x 1 at 128 x 128 and NENet-lite fuses at half resolution.

Normalisation defaults to SetNorm inside the blocks (statistics of each image set, the same in
training and at inference; see `layers.SetNorm` for why not BatchNorm). "batch", "group" and
None remain available for comparison.
"""

from __future__ import annotations

from torch import nn

from .layers import ResidualSeparable, UpSeparable, conv, init_weights
from .registry import resolve_config
from .sdps import LCNet, NENet, SDPSNet


def lite_lcnet(use_mask=True, norm="set", light_size=128) -> LCNet:
    extractor = nn.Sequential(
        conv(3 + use_mask, 64, stride=2, norm=norm),  # 64^2
        ResidualSeparable(64, 128, stride=2, norm=norm),  # 32^2
        ResidualSeparable(128, 128, stride=2, norm=norm),  # 16^2
        ResidualSeparable(128, 256, stride=2, norm=norm),  # 8^2
    )
    classifier = nn.Sequential(
        ResidualSeparable(512, 256, norm=norm),
        ResidualSeparable(256, 256, stride=2, norm=norm),  # 4^2
        ResidualSeparable(256, 256, stride=2, norm=norm),  # 2^2
        ResidualSeparable(256, 256, stride=2, norm=norm),  # 1^2
    )
    return LCNet(extractor, classifier, 256, light_size, use_mask, norm)


def lite_nenet(norm="set") -> NENet:
    extractor = nn.Sequential(
        conv(6, 64, norm=norm),
        ResidualSeparable(64, 128, stride=2, norm=norm),  # 1/2
        ResidualSeparable(128, 256, stride=2, norm=norm),  # 1/4
        ResidualSeparable(256, 256, norm=norm),
        UpSeparable(256, 128, norm=norm),  # 1/2
        ResidualSeparable(128, 128, norm=norm),
    )
    regressor = nn.Sequential(
        ResidualSeparable(128, 128, norm=norm),
        UpSeparable(128, 64, norm=norm),  # 1/1
        nn.Conv2d(64, 3, 3, 1, 1, bias=False),
    )
    return NENet(extractor, regressor, pad_multiple=4)


SDPS_LITE_DEFAULTS = {"use_mask": True, "norm": "set", "light_size": 128}


def sdps_lite(**overrides) -> SDPSNet:
    """SDPS-Net with separable residual blocks (~1.0 M LCNet-lite + ~0.43 M NENet-lite)."""
    cfg = resolve_config("sdps_lite", SDPS_LITE_DEFAULTS, overrides)
    model = SDPSNet(
        lite_lcnet(cfg["use_mask"], cfg["norm"], cfg["light_size"]), lite_nenet(cfg["norm"])
    )
    init_weights(model)
    model.config = cfg
    return model
