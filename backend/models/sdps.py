"""SDPS-Net (Chen et al., CVPR 2019) at its published size: the reference the others must beat.

Two stages, both shared per-image networks fused over the set by max-pooling (so any K >= 1
works and image order does not matter):

* LCNet (lighting calibration, 4.41 M params): classifies each image's light direction and
  intensity. It sees the set at 128 x 128 (inputs are resized, as the original does), because
  its classifier strides down to 1 x 1 and light is a global property of the image.
* NENet (normal estimation = PS-FCN, 2.21 M params): each image is divided by its intensity and
  concatenated with its light direction as a constant map; fully convolutional at any H, W.

Layer lists follow guanyingc/SDPS-Net ``models/{LCNet,NENet}.py``; note the original regressor
has two 3x3 convs before its deconv (without the second, NENet would be 2.06 M).
Differences: lights are decoded by soft-argmax (see `light_bins`) and inputs are padded to a
multiple of 4 so odd sizes work.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import (
    constant_maps,
    conv,
    deconv,
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
from .light_bins import AZIMUTH_BINS, ELEVATION_BINS, INTENSITY_BINS, decode_light_logits
from .registry import resolve_config

LIGHT_BINS = {"azimuth": AZIMUTH_BINS, "elevation": ELEVATION_BINS, "intensity": INTENSITY_BINS}


class LCNet(nn.Module):
    """Per-image light classifier with local-global fusion.

    ``extractor``: (N, 3 or 4, S, S) -> (N, C, s, s); ``classifier``: (N, 2C, s, s) -> (N, D, *);
    the classifier output is averaged over space (a no-op at the original's 1 x 1) before the heads.
    """

    def __init__(
        self,
        extractor: nn.Module,
        classifier: nn.Module,
        head_channels: int,
        light_size: int = 128,
        use_mask: bool = True,
        norm: str | None = None,
    ):
        super().__init__()
        self.extractor, self.classifier = extractor, classifier
        self.heads = light_heads(head_channels, LIGHT_BINS, norm)
        self.light_size, self.use_mask = light_size, use_mask

    @over_image_sets
    def forward(self, images: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        b, k = images.shape[:2]
        x = with_mask(images, mask) if self.use_mask else images.flatten(0, 1)
        feats = self.extractor(resize(x, self.light_size))
        out = self.classifier(fuse_local_global(feats, k)).mean((2, 3), keepdim=True)
        return {name: head(out).view(b, k, -1) for name, head in self.heads.items()}


class NENet(nn.Module):
    """Normal estimation from images and (given or estimated) lights, max-fused over the set.

    ``extractor``: (N, 6, H, W) -> per-image features; ``regressor``: pooled features ->
    (B, 3, H, W).
    """

    def __init__(self, extractor: nn.Module, regressor: nn.Module, pad_multiple: int = 4):
        super().__init__()
        self.extractor, self.regressor = extractor, regressor
        self.pad_multiple = pad_multiple

    @over_image_sets
    def forward(self, images: torch.Tensor, dirs: torch.Tensor, ints: torch.Tensor) -> torch.Tensor:
        k, (h, w) = images.shape[1], images.shape[-2:]
        # Dividing by the intensity makes the images look as if lit at unit strength.
        x = images / ints.clamp_min(1e-6)[..., None, None]
        x = pad_to_multiple(x.flatten(0, 1), self.pad_multiple)
        x = torch.cat([x, constant_maps(dirs.to(x.dtype), *x.shape[-2:])], 1)
        pooled = set_max_pool(self.extractor(x), k)
        with images_per_set(1):  # after fusion each sample is one feature map
            normal = self.regressor(pooled)[..., :h, :w]
        return F.normalize(normal, dim=1)


class SDPSNet(nn.Module):
    """LCNet then NENet; the interface every registered model shares.

    ``forward(images (B,K,3,H,W), mask (B,1,H,W) | None, lights (dirs, ints) | None)`` returns
    ``normal`` (B,3,H,W) unit vectors (not masked: the caller masks), ``light_dir`` (B,K,3),
    ``light_int`` (B,K,3) and the raw ``logits``. ``light_dir``/``light_int`` are always the
    network's own estimate; given ``lights`` (calibrated capture, or teacher forcing during
    training) only replace what NENet is fed. The soft decode is differentiable, so without
    ``lights`` a normal loss also reaches LCNet; freeze ``model.lcnet`` for stage-wise training.
    """

    def __init__(self, lcnet: nn.Module, nenet: nn.Module):
        super().__init__()
        self.lcnet, self.nenet = lcnet, nenet

    def forward(self, images, mask=None, lights=None) -> dict:
        images, mask = prepare_inputs(images, mask)
        logits = self.lcnet(images, mask)
        light_dir, light_int = decode_light_logits(logits)
        dirs, ints = (light_dir, light_int) if lights is None else check_lights(lights, images)
        normal = self.nenet(images, dirs, ints)
        return {"normal": normal, "light_dir": light_dir, "light_int": light_int, "logits": logits}

    # The two halves separately, so inference can estimate lights on the whole set once and
    # then run the normal stage tile by tile on large photos.
    def estimate_lights(self, images, mask=None) -> tuple[torch.Tensor, torch.Tensor]:
        images, mask = prepare_inputs(images, mask)
        return decode_light_logits(self.lcnet(images, mask))

    def estimate_normals(self, images, mask, dirs, ints) -> torch.Tensor:
        images, mask = prepare_inputs(images, mask)
        return self.nenet(images, *check_lights((dirs, ints), images))


def check_lights(lights, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate ``(dirs (B,K,3), ints (B,K,3) | (B,K,1) | (B,K))``; ints come back (B,K,3)."""
    dirs, ints = lights
    b, k = images.shape[:2]
    if ints.ndim == 2:
        ints = ints.unsqueeze(-1)
    if dirs.shape != (b, k, 3) or ints.shape[:2] != (b, k) or ints.shape[2] not in (1, 3):
        raise ValueError(f"lights must be dirs (B,K,3) and ints (B,K,3) with B,K = {b},{k}")
    return dirs.to(images.dtype), ints.to(images.dtype).expand(b, k, 3)


def reference_lcnet(use_mask=True, batch_norm=False, light_size=128) -> LCNet:
    n = "batch" if batch_norm else None
    extractor = nn.Sequential(
        conv(3 + use_mask, 64, stride=2, norm=n),
        conv(64, 128, stride=2, norm=n),
        conv(128, 128, norm=n),
        conv(128, 128, stride=2, norm=n),
        conv(128, 128, norm=n),
        conv(128, 256, stride=2, norm=n),
        conv(256, 256, norm=n),
    )
    classifier = nn.Sequential(
        conv(512, 256, norm=n),
        conv(256, 256, stride=2, norm=n),
        conv(256, 256, stride=2, norm=n),
        conv(256, 256, stride=2, norm=n),
    )
    return LCNet(extractor, classifier, 256, light_size, use_mask, n)


def reference_nenet(batch_norm=False) -> NENet:
    n = "batch" if batch_norm else None
    extractor = nn.Sequential(
        conv(6, 64, norm=n),
        conv(64, 128, stride=2, norm=n),
        conv(128, 128, norm=n),
        conv(128, 256, stride=2, norm=n),
        conv(256, 256, norm=n),
        deconv(256, 128),
        conv(128, 128, norm=n),
    )
    regressor = nn.Sequential(
        conv(128, 128, norm=n),
        conv(128, 128, norm=n),
        deconv(128, 64),
        nn.Conv2d(64, 3, 3, 1, 1, bias=False),
    )
    return NENet(extractor, regressor, pad_multiple=4)


SDPS_DEFAULTS = {"use_mask": True, "batch_norm": False, "light_size": 128}


def sdps(**overrides) -> SDPSNet:
    """SDPS-Net reference (LCNet 4.41 M + NENet 2.21 M params), original layer lists."""
    cfg = resolve_config("sdps", SDPS_DEFAULTS, overrides)
    model = SDPSNet(
        reference_lcnet(cfg["use_mask"], cfg["batch_norm"], cfg["light_size"]),
        reference_nenet(cfg["batch_norm"]),
    )
    init_weights(model)
    model.config = cfg
    return model
