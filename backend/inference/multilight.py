"""Uncalibrated multi-light inference: a set of photos of one viewpoint -> normals and lights.

The network sees what it saw in training: the object cropped to its mask's box, exposure-
normalised, black background. Lights are estimated once from the whole set; the normal stage
then runs tile by tile when (images x pixels) would not fit a memory budget, and the tiles are
blended with linear ramps so no seams show.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..models.registry import MULTILIGHT
from ..models.weights import load_model, read_metadata, shipped_weights
from ..photometric.calibrated import RobustOptions, foreground_mask, solve_calibrated
from ..photometric.exposure import normalise_exposure
from ..photometric.light_fit import fit_lights, sample_pixels
from ..photometric.specular_gbr import resolve_gbr
from . import runtime as runtimes

PIXEL_BUDGET = 1 << 23  # images x pixels per normal-stage pass (~8 M): bounds peak memory
TILE_OVERLAP = 32
COARSE_SIZE = 64  # px across the object's box for the shape pass: the scale the net trained at
GBR_PIXELS = 40000  # sampled for the highlights' bas-relief fit: the ball has 15,700
# Least squares on an object known to show highlights drops each pixel's brightest fifth of the
# samples (from five photos up), not a tenth: with 8 photos the default drops none, and a
# highlight pulls the peak's normal toward its light (ball, 10 random sets of 8, measured on an
# earlier version of the fit: 6.1 deg without, 3.8 dropping one in the factorisation, 3.4 also
# in the final solve).
HIGHLIGHT_OPTIONS = RobustOptions(bright_fraction=0.2)
LAMBERTIAN_RESIDUAL = 0.1  # a light fit on the estimated normals that explains the images this
# well replaces the network's lights (see `light_fit`); on the ball it scores 0.05, on glossy or
# shadowed synthetic objects 0.12-0.5, where the network's classifier is the safer estimate


@dataclass
class MultiLightEstimate:
    normals: np.ndarray  # (H, W, 3) camera frame, zeros outside the mask
    mask: np.ndarray  # (H, W) bool
    light_dirs: np.ndarray  # (K, 3) unit
    light_ints: np.ndarray  # (K, 3) relative RGB, mean 1
    timings: dict = field(default_factory=dict)
    coarse_size: int | None = None  # px across of the coarse shape pass, None if it did not run
    light_fit_residual: float | None = None  # of the Lambertian light fit, None if not tried
    lights_fitted: bool = False  # the lights come from that fit, not from the network
    gbr_highlight_error: float | None = None  # deg; set when highlights resolved the bas-relief
    # ambiguity, and then the normals are least squares on those lights (see `_specular_gbr`)


class MultiLightModel:
    """A multi-light network ready to run: the shipped one (the weights index's multi mode), or
    the weight file ``path``. ``runtime`` says where the network's forward runs (see
    `runtime`: "auto" is ONNX Runtime on a CPU where it is installed, else torch); ``threads``
    is ONNX Runtime's thread count (default 2)."""

    def __init__(self, path=None, device: str = "cpu", coarse_size: int | None = COARSE_SIZE,
                 fit_lights: bool = True, specular_gbr: bool = True, runtime: str = "torch",
                 threads: int | None = None, log=None):
        self.path = Path(path) if path else shipped_weights(MULTILIGHT)
        self.coarse_size = coarse_size  # None: the full-resolution pass alone
        self.fit_lights = fit_lights
        self.specular_gbr = specular_gbr
        self.device = torch.device(device)
        self.model = load_model(self.path, self.device)
        self.metadata = read_metadata(self.path)
        self.name = self.model.config["name"]
        self._onnx = runtimes.select(
            runtime, self.device,
            lambda engine: runtimes.OnnxMultiLight(self.model, self.path, threads, log, engine),
            log, MULTILIGHT.name)
        self.runtime = self._onnx.runtime if self._onnx else "torch"

    @property
    def net(self):
        """What runs the network: the ONNX graphs, or the torch model (which the service may
        have wrapped in autocast)."""
        return self._onnx or self.model

    @torch.inference_mode()
    def estimate(self, images: np.ndarray, mask: np.ndarray | None = None) -> MultiLightEstimate:
        """images: (K, H, W, 3) float32 linear RGB of one viewpoint; mask: (H, W) bool or None."""
        timings = {}
        start = time.perf_counter()
        if mask is None:
            mask = foreground_mask(images)
        top, bottom, left, right = _box(mask)
        crop = torch.from_numpy(np.ascontiguousarray(images[:, top:bottom, left:right])).to(
            self.device
        )
        x = crop.permute(0, 3, 1, 2)[None].float()  # (1, K, 3, h, w)
        m = torch.from_numpy(mask[top:bottom, left:right]).to(self.device)[None, None].float()
        x, _ = normalise_exposure(x * m[:, None], m)
        timings["prepare_s"] = time.perf_counter() - start

        start = time.perf_counter()
        dirs, ints = self.net.estimate_lights(x, m)
        timings["lights_s"] = time.perf_counter() - start
        start = time.perf_counter()
        normal = _tiled(lambda xt, mt: self.net.estimate_normals(xt, mt, dirs, ints), x, m)
        coarse = (
            self.coarse_size
            if self.coarse_size and max(x.shape[-2:]) > 1.5 * self.coarse_size
            else None
        )
        if coarse:
            normal = self._with_coarse_shape(normal, x, m, dirs, ints)
        timings["normals_s"] = time.perf_counter() - start

        normals = np.zeros(images.shape[1:], np.float32)
        normals[top:bottom, left:right] = normal[0].permute(1, 2, 0).cpu().numpy()
        normals *= mask[..., None]
        grey = ints[0].mean(-1).cpu().numpy()
        grey, dirs = grey / grey.mean(), dirs[0].cpu().numpy()
        residual, fitted, gbr_error = None, False, None
        if self.fit_lights and len(images) >= 3:
            start = time.perf_counter()
            fit = fit_lights(images, normals, mask, dirs, grey)
            residual, fitted = (
                fit.residual,
                fit.residual < LAMBERTIAN_RESIDUAL and bool(fit.fitted.all()),
            )
            if fitted:
                dirs, grey = fit.directions, fit.intensities
            timings["light_fit_s"] = time.perf_counter() - start
        if fitted and self.specular_gbr and len(images) >= 4:
            start = time.perf_counter()
            resolved = _specular_gbr(images, normals, mask, dirs, grey)
            if resolved:
                normals, dirs, grey, gbr_error = resolved
            timings["specular_gbr_s"] = time.perf_counter() - start
        light_ints = grey[:, None] * light_colours(images, mask)
        return MultiLightEstimate(
            normals,
            mask,
            dirs,
            light_ints.astype(np.float32),
            timings,
            coarse,
            residual,
            fitted,
            gbr_error,
        )

    def _with_coarse_shape(self, normal, x, m, dirs, ints) -> torch.Tensor:
        """The full-resolution normals' detail on the shape of a pass at ``coarse_size``.

        The network reads shape from local context at the scale it was trained at; across a
        large object it sees gently curving surfaces and flattens them (the DiLiGenT ball, 141 px
        across: 12 deg in one pass, 7 deg with the shape from a 64 px pass). The coarse pass
        gives the low frequencies, the full pass what they lack.
        """
        h, w = x.shape[-2:]
        scale = self.coarse_size / max(h, w)
        size = (max(8, round(h * scale)), max(8, round(w * scale)))
        small = F.interpolate(x[0], size=size, mode="area")[None]
        small_mask = (F.interpolate(m, size=size, mode="area") > 0.5).float()
        coarse = self.net.estimate_normals(small * small_mask[:, None], small_mask, dirs, ints)
        up = lambda t: F.interpolate(t, size=(h, w), mode="bilinear", align_corners=False)
        detail = normal - up(F.interpolate(normal, size=size, mode="area"))
        return F.normalize(up(coarse) + detail, dim=1)


def _specular_gbr(images, normals, mask, dirs, grey):
    """Normals and lights with the bas-relief bias removed by the highlights, or None.

    Lights fitted to the network's normals explain the images but share the normals' GBR bias.
    Least squares on those lights gives a Lambertian factorisation; the highlights then fix its
    three free parameters (see `specular_gbr`), and least squares on the corrected lights gives
    the normals. On the ball: 6.3 -> 2.2 deg with 8 photos, 7.2 -> 2.5 with 96 (least squares on
    the true lights: 2.7 and 2.1). Pixels least squares cannot solve keep the network's normals,
    carried through the same transform.
    """
    ones = np.ones((len(images), 3), np.float32)
    # The factorisation only needs a sample of pixels (as the light fit does); dense enough that
    # a highlight's peak is within a pixel or two, and cheap when no highlight turns up.
    pixels = sample_pixels(mask, GBR_PIXELS)
    sample = images.reshape(len(images), -1, 1, 3)[:, pixels]  # (K, P, 1, 3): a one-column image
    first = solve_calibrated(sample, dirs, grey[:, None] * ones, np.ones(sample.shape[1:3], bool),
                             HIGHLIGHT_OPTIONS)
    pseudo = first.normals[:, 0] * first.albedo[:, 0].mean(-1, keepdims=True)
    fit = resolve_gbr(sample[:, :, 0].mean(-1), pseudo, dirs * grey[:, None])
    if fit is None:
        return None
    solved = solve_calibrated(
        images, fit.directions, fit.intensities[:, None] * ones, mask, HIGHLIGHT_OPTIONS
    )
    out = np.where(solved.mask[..., None], solved.normals, fit.normals(normals)) * mask[..., None]
    return out.astype(np.float32), fit.directions, fit.intensities, fit.highlight_error_deg


def light_colours(images: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(K, 3) per-light colour, each channel normalised to a mean of 1 over the set.

    Shading is the same in every channel, so a light's colour shows in the ratio of its image's
    channel sums; dividing by the set's mean ratio leaves the albedo's own colour to the albedo
    (the average light is taken as white, the only choice the images leave open).
    """
    sums = images[:, mask].sum(axis=1).astype(np.float64) + 1e-12  # (K, 3)
    ratio = sums / sums.mean(axis=1, keepdims=True)
    return (ratio / ratio.mean(axis=0, keepdims=True)).astype(np.float32)


def _box(mask: np.ndarray, margin_fraction: float = 0.05) -> tuple[int, int, int, int]:
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    h, w = mask.shape
    margin = max(8, int(margin_fraction * max(rows[-1] - rows[0], cols[-1] - cols[0])))
    return (max(0, rows[0] - margin), min(h, rows[-1] + 1 + margin),
            max(0, cols[0] - margin), min(w, cols[-1] + 1 + margin))


def _tiled(fn, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """fn over overlapping tiles of (1, K, 3, h, w), blended with linear ramps."""
    k, h, w = x.shape[1], x.shape[3], x.shape[4]
    tile = max(96, int((PIXEL_BUDGET / k) ** 0.5) // 8 * 8)
    if h <= tile and w <= tile:
        return fn(x, m)
    out = x.new_zeros(1, 3, h, w)
    weight = x.new_zeros(1, 1, h, w)
    step = tile - TILE_OVERLAP
    for top in range(0, max(h - TILE_OVERLAP, 1), step):
        for left in range(0, max(w - TILE_OVERLAP, 1), step):
            y0, x0 = min(top, max(h - tile, 0)), min(left, max(w - tile, 0))
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            ramp = _ramp(y1 - y0, x1 - x0, TILE_OVERLAP, x)
            out[..., y0:y1, x0:x1] += fn(x[..., y0:y1, x0:x1], m[..., y0:y1, x0:x1]) * ramp
            weight[..., y0:y1, x0:x1] += ramp
    return torch.nn.functional.normalize(out / weight.clamp_min(1e-6), dim=1)


def _ramp(h: int, w: int, overlap: int, like: torch.Tensor) -> torch.Tensor:
    def axis(n):
        i = torch.arange(n, dtype=like.dtype, device=like.device)
        return torch.minimum(torch.ones_like(i), torch.minimum(i + 1, n - i) / overlap)

    return (axis(h)[:, None] * axis(w)[None, :])[None, None]
