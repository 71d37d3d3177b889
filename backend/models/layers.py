"""Building blocks shared by the model families, and helpers for sets of images.

A set of K images is processed by running the same per-image network on a (B*K, C, H, W) batch
and then pooling over the image axis. Max-pooling (rather than concatenation or a recurrent
net) makes the result independent of the number and the order of images: any K >= 1 works and
shuffling the inputs only permutes the per-image outputs. Max is preferred over mean because
the strongest response across lights (e.g. the one image where a facet is lit) is the
informative one; averages are diluted by shadowed images (PS-FCN, Chen et al. 2018).
"""

from __future__ import annotations

import functools
import math
from contextlib import contextmanager
from contextvars import ContextVar

import torch
import torch.nn.functional as F
from torch import nn

NEGATIVE_SLOPE = 0.1


def make_norm(kind: str | None, channels: int) -> nn.Module:
    """None/"none": identity, "set": SetNorm, "batch": BatchNorm2d, "group": GroupNorm (<= 8)."""
    if kind in (None, "none"):
        return nn.Identity()
    if kind == "set":
        return SetNorm(channels)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(math.gcd(channels, 8), channels)
    raise ValueError(f"unknown norm {kind!r} (use None, 'set', 'batch' or 'group')")


_SET_SIZE: ContextVar[int] = ContextVar("images_per_set", default=1)


@contextmanager
def images_per_set(k: int):
    """Tells SetNorm layers how the (B*K, ...) batch splits into sets while a model runs."""
    token = _SET_SIZE.set(k)
    try:
        yield
    finally:
        _SET_SIZE.reset(token)


def over_image_sets(method):
    """Decorator for forward-like methods taking (B, K, ...) images first: runs them with the
    set size K announced to the SetNorm layers inside."""

    @functools.wraps(method)
    def wrapper(self, images, *args, **kwargs):
        with images_per_set(images.shape[1]):
            return method(self, images, *args, **kwargs)

    return wrapper


class SetNorm(nn.Module):
    """Normalise each channel over the K images and all pixels of one set, then a learned affine.

    BatchNorm mixes the sets of a training batch and at inference falls back to running
    averages; both differ from what one real photo set looks like, and measured on our synthetic
    validation it cost ~15 degrees of normal error in eval mode. Statistics of the set itself are
    the same in training and at inference, and unlike per-image (instance/group) norms they keep
    the brightness ratios between the set's images that the intensity head reads.
    """

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = _SET_SIZE.get()
        sets = x.unflatten(0, (-1, k))  # (B, K, C, H, W)
        var, mean = torch.var_mean(sets, dim=(1, 3, 4), keepdim=True, correction=0)
        # Folded into one scale and shift per set and channel: a single pass over the big
        # tensor instead of four, which matters on CPUs where these layers are memory-bound.
        scale = torch.rsqrt(var + self.eps) * self.weight[:, None, None]
        shift = self.bias[:, None, None] - mean * scale
        return torch.addcmul(shift, sets, scale).flatten(0, 1)


def _act() -> nn.Module:
    return nn.LeakyReLU(NEGATIVE_SLOPE, inplace=True)


def conv(
    cin: int, cout: int, k: int = 3, stride: int = 1, norm: str | None = None
) -> nn.Sequential:
    """Conv k x k ('same' padding) + optional norm + LeakyReLU(0.1), as in SDPS-Net."""
    has_norm = norm not in (None, "none")
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, bias=not has_norm),
        make_norm(norm, cout),
        _act(),
    )


def deconv(cin: int, cout: int) -> nn.Sequential:
    """ConvTranspose 4x4 stride 2 (exact 2x upsampling) + LeakyReLU(0.1), as in SDPS-Net."""
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), _act())


class SeparableConv(nn.Sequential):
    """Depthwise 3x3 + pointwise 1x1 (+ norm, + LeakyReLU): ~k^2 times fewer weights than a
    dense 3x3 conv at the same width, which is what makes the lite models lite."""

    def __init__(
        self, cin: int, cout: int, stride: int = 1, norm: str | None = None, act: bool = True
    ):
        has_norm = norm not in (None, "none")
        super().__init__(
            nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False),
            nn.Conv2d(cin, cout, 1, bias=not has_norm),
            make_norm(norm, cout),
            _act() if act else nn.Identity(),
        )


class ResidualSeparable(nn.Module):
    """Two separable convs plus a skip: identity, or avg-pool (stride) and/or 1x1 conv (width).

    Replaces a pair of plain 3x3 convs. The skip keeps deep, thin stacks trainable; the
    parameter-free avg-pool downsampling keeps the skip cheap when only the stride changes.
    """

    def __init__(self, cin: int, cout: int, stride: int = 1, norm: str | None = None):
        super().__init__()
        self.body = nn.Sequential(
            SeparableConv(cin, cout, stride, norm),
            SeparableConv(cout, cout, 1, norm, act=False),
        )
        skip: list[nn.Module] = []
        if stride > 1:
            skip.append(nn.AvgPool2d(stride, ceil_mode=True))
        if cin != cout:
            has_norm = norm not in (None, "none")
            skip += [nn.Conv2d(cin, cout, 1, bias=not has_norm), make_norm(norm, cout)]
        self.skip = nn.Sequential(*skip)
        self.act = _act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.skip(x))


class UpSeparable(nn.Sequential):
    """2x bilinear upsampling + separable conv: the lite stand-in for `deconv`.

    A dense 4x4 transposed conv is the single largest layer of PS-FCN (0.5 M weights) and
    tends to leave checkerboard artefacts; resize-then-convolve avoids both.
    """

    def __init__(self, cin: int, cout: int, norm: str | None = None):
        super().__init__(
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            SeparableConv(cin, cout, 1, norm),
        )


def init_weights(module: nn.Module) -> None:
    """Kaiming-normal convs with zero bias, unit/zero norms (the original's initialisation)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


# ---- sets of images -------------------------------------------------------------------------


def set_max_pool(features: torch.Tensor, k: int) -> torch.Tensor:
    """(B*K, C, H, W) per-image features -> (B, C, H, W) max over the K images."""
    return features.unflatten(0, (-1, k)).amax(1)


def fuse_local_global(features: torch.Tensor, k: int) -> torch.Tensor:
    """(B*K, C, H, W) -> (B*K, 2C, H, W): each image's features next to the set's max-pool.

    LCNet's local-global fusion: an image's light is judged relative to the whole set.
    """
    pooled = set_max_pool(features, k)
    pooled = pooled.unsqueeze(1).expand(-1, k, *pooled.shape[1:]).flatten(0, 1)
    return torch.cat([features, pooled], 1)


def prepare_inputs(
    images: torch.Tensor, mask: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Check (B, K, 3, H, W) images; return them with a (B, 1, H, W) mask (all ones if None)."""
    if images.ndim != 5 or images.shape[2] != 3:
        raise ValueError(f"images must be (B, K, 3, H, W), got {tuple(images.shape)}")
    b, _, _, h, w = images.shape
    if mask is None:
        return images, images.new_ones(b, 1, h, w)
    if mask.ndim == 3:
        mask = mask.unsqueeze(1)
    if mask.shape != (b, 1, h, w):
        raise ValueError(f"mask must be (B, 1, H, W) = {(b, 1, h, w)}, got {tuple(mask.shape)}")
    return images, mask.to(images.dtype)


def with_mask(images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, K, 3, H, W) images + (B, 1, H, W) mask -> (B*K, 4, H, W) per-image inputs."""
    k = images.shape[1]
    mask = mask.unsqueeze(1).expand(-1, k, -1, -1, -1)
    return torch.cat([images, mask], 2).flatten(0, 1)


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear (antialiased when shrinking) resize of (N, C, H, W) to size x size."""
    if x.shape[-2:] == (size, size):
        return x
    return F.interpolate(x, (size, size), mode="bilinear", align_corners=False, antialias=True)


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad the bottom/right of (..., H, W) so that H and W divide by ``multiple``.

    Zeros read as black background, which is what masked training images look like.
    Callers crop outputs back with ``[..., :H, :W]``.
    """
    h, w = x.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    return F.pad(x, (0, pw, 0, ph)) if ph or pw else x


def constant_maps(values: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(B, K, C) per-image values -> (B*K, C, H, W) constant maps (e.g. light directions)."""
    return values.flatten(0, 1)[..., None, None].expand(-1, -1, height, width)


def light_heads(cin: int, bins: dict[str, int], norm: str | None = None) -> nn.ModuleDict:
    """SDPS-Net's classifier heads: per output, 1x1 conv (cin->64) + LeakyReLU, 1x1 conv -> bins."""
    return nn.ModuleDict(
        {
            name: nn.Sequential(conv(cin, 64, k=1, norm=norm), nn.Conv2d(64, n, 1))
            for name, n in bins.items()
        }
    )
