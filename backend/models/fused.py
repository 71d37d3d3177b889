"""Fused: light calibration and normal estimation as one network, trained end to end.

One shared per-image encoder feeds two branches:

* light branch: the encoder's features of the set, seen at 128 x 128 like LCNet (the input is
  resized, so the classifier sees the same scale in training and at any inference size), go
  through local-global fusion, strided residual blocks and global average pooling to per-image
  azimuth / elevation / intensity logits (the SDPS-Net bins);
* normal branch: the encoder's full-resolution features of each image, concatenated with maps
  of its soft-decoded light (direction, log intensity), max-fused over the set, regressed to
  unit normals. The soft-argmax decode is differentiable, so the normal loss also trains the
  light branch and the encoder learns features that serve both tasks.

At 128 x 128 input the encoder runs once; otherwise a second, cheap pass at 128 x 128 serves
the light branch. ``lights`` (teacher forcing, or a calibrated capture) replace the estimate
fed to the normal branch; the outputs still report the estimate. Lite-sized (~1.0 M params):
depthwise-separable residual blocks, SetNorm by default (see `layers.SetNorm`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import (
    ResidualSeparable,
    UpSeparable,
    constant_maps,
    conv,
    fuse_local_global,
    images_per_set,
    init_weights,
    light_heads,
    over_image_sets,
    pad_to_multiple,
    prepare_inputs,
    resize,
    set_max_pool,
    with_mask,
)
from .light_bins import decode_light_logits
from .registry import resolve_config
from .sdps import LIGHT_BINS, check_lights

ENCODER_STRIDE = 4
LIGHT_MAPS = 4  # direction (3) + log intensity (1)


class FusedNet(nn.Module):
    def __init__(
        self,
        use_mask: bool = True,
        norm: str | None = "set",
        light_size: int = 128,
        block: str = "separable",
    ):
        super().__init__()
        self.use_mask, self.light_size = use_mask, light_size
        layers = {"separable": _separable_layers, "dense": _dense_layers}
        if block not in layers:
            raise ValueError(f"unknown block {block!r}; use one of {sorted(layers)}")
        for name, module in layers[block](3 + use_mask, norm).items():
            setattr(self, name, module)

    def light_logits(self, feats: torch.Tensor, b: int, k: int) -> dict[str, torch.Tensor]:
        out = self.light_global(fuse_local_global(self.light_local(feats), k))
        out = out.mean((2, 3), keepdim=True)
        return {name: head(out).view(b, k, -1) for name, head in self.light_heads.items()}

    @over_image_sets
    def forward(self, images, mask=None, lights=None) -> dict:
        images, mask = prepare_inputs(images, mask)
        b, k, _, h, w = images.shape
        x = with_mask(images, mask) if self.use_mask else images.flatten(0, 1)
        padded = pad_to_multiple(x, ENCODER_STRIDE)
        feats = self.encoder(padded)
        small = resize(x, self.light_size)
        light_feats = feats if small is padded else self.encoder(small)  # same input: reuse
        logits = self.light_logits(light_feats, b, k)
        light_dir, light_int = decode_light_logits(logits)
        dirs, ints = (light_dir, light_int) if lights is None else check_lights(lights, images)
        normal = self.normals_from_features(feats, dirs, ints, k, h, w)
        return {"normal": normal, "light_dir": light_dir, "light_int": light_int, "logits": logits}

    def normals_from_features(self, feats, dirs, ints, k, h, w) -> torch.Tensor:
        log_int = ints.mean(-1, keepdim=True).clamp_min(1e-3).log()
        maps = constant_maps(torch.cat([dirs, log_int], -1), *feats.shape[-2:])
        pooled = set_max_pool(self.normal_local(torch.cat([feats, maps], 1)), k)
        with images_per_set(1):  # after fusion each sample is one feature map
            return F.normalize(self.regressor(pooled)[..., :h, :w], dim=1)

    # The two halves separately, so inference can estimate lights on the whole set once and
    # then run the normal branch tile by tile on large photos.
    @over_image_sets
    def estimate_lights(self, images, mask=None) -> tuple[torch.Tensor, torch.Tensor]:
        images, mask = prepare_inputs(images, mask)
        b, k = images.shape[:2]
        x = with_mask(images, mask) if self.use_mask else images.flatten(0, 1)
        return decode_light_logits(
            self.light_logits(self.encoder(resize(x, self.light_size)), b, k)
        )

    @over_image_sets
    def estimate_normals(self, images, mask, dirs, ints) -> torch.Tensor:
        images, mask = prepare_inputs(images, mask)
        k, h, w = images.shape[1], images.shape[3], images.shape[4]
        x = with_mask(images, mask) if self.use_mask else images.flatten(0, 1)
        feats = self.encoder(pad_to_multiple(x, ENCODER_STRIDE))
        dirs, ints = check_lights((dirs, ints), images)
        return self.normals_from_features(feats, dirs, ints, k, h, w)


def _separable_layers(cin: int, norm) -> dict[str, nn.Module]:
    """The lite layout (~1.0 M params): separable residual blocks, fusion at 1/2 resolution.

    Few FLOPs, but depthwise convs and the per-image 1/2-resolution stage are slow on CPUs."""
    return {
        "encoder": nn.Sequential(
            conv(cin, 32, norm=norm),
            ResidualSeparable(32, 64, stride=2, norm=norm),  # 1/2
            ResidualSeparable(64, 128, stride=2, norm=norm),  # 1/4
            ResidualSeparable(128, 128, norm=norm),
        ),
        "light_local": nn.Sequential(  # 32^2 -> 8^2 at light_size 128
            ResidualSeparable(128, 192, stride=2, norm=norm),
            ResidualSeparable(192, 256, stride=2, norm=norm),
        ),
        "light_global": nn.Sequential(  # after local-global fusion: 8^2 -> 2^2
            ResidualSeparable(512, 256, stride=2, norm=norm),
            ResidualSeparable(256, 256, stride=2, norm=norm),
        ),
        "light_heads": light_heads(256, LIGHT_BINS, norm),
        "normal_local": nn.Sequential(  # per image, before fusion
            ResidualSeparable(128 + LIGHT_MAPS, 128, norm=norm),  # 1/4
            UpSeparable(128, 128, norm=norm),  # 1/2
            ResidualSeparable(128, 128, norm=norm),
        ),
        "regressor": nn.Sequential(  # once per set, after max-pool fusion
            ResidualSeparable(128, 128, norm=norm),
            UpSeparable(128, 64, norm=norm),  # 1/1
            nn.Conv2d(64, 3, 3, 1, 1, bias=False),
        ),
    }


def _dense_layers(cin: int, norm) -> dict[str, nn.Module]:
    """The fast layout: narrow dense 3x3 convs, which CPUs run near peak, and the set fused at
    1/4 resolution, so the per-image work ends there and upsampling runs once per set."""
    return {
        "encoder": nn.Sequential(
            conv(cin, 16, norm=norm),
            conv(16, 32, stride=2, norm=norm),  # 1/2
            conv(32, 64, stride=2, norm=norm),  # 1/4
            conv(64, 64, norm=norm),
        ),
        "light_local": nn.Sequential(  # 32^2 -> 8^2 at light_size 128
            conv(64, 128, stride=2, norm=norm),
            conv(128, 128, stride=2, norm=norm),
        ),
        "light_global": nn.Sequential(  # after local-global fusion: 8^2 -> 2^2
            conv(256, 128, stride=2, norm=norm),
            conv(128, 128, stride=2, norm=norm),
        ),
        "light_heads": light_heads(128, LIGHT_BINS, norm),
        "normal_local": nn.Sequential(  # per image, at 1/4
            conv(64 + LIGHT_MAPS, 64, norm=norm),
            conv(64, 64, norm=norm),
        ),
        "regressor": nn.Sequential(  # once per set, after max-pool fusion
            conv(64, 64, norm=norm),
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            conv(64, 32, norm=norm),  # 1/2
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            conv(32, 16, norm=norm),  # 1/1
            nn.Conv2d(16, 3, 3, 1, 1, bias=False),
        ),
    }


FUSED_DEFAULTS = {"use_mask": True, "norm": "set", "light_size": 128, "block": "separable"}
FUSED_FAST_DEFAULTS = {**FUSED_DEFAULTS, "block": "dense"}


def fused(**overrides) -> FusedNet:
    """Shared encoder + light branch + light-conditioned normal branch (~1.0 M params)."""
    return _build("fused", FUSED_DEFAULTS, overrides)


def fused_fast(**overrides) -> FusedNet:
    """The same two-branch network with dense narrow convs, for CPU speed (~0.5 M params)."""
    return _build("fused_fast", FUSED_FAST_DEFAULTS, overrides)


def _build(name: str, defaults: dict, overrides: dict) -> FusedNet:
    cfg = resolve_config(name, defaults, overrides)
    model = FusedNet(**cfg)
    init_weights(model)
    model.config = cfg
    return model
