"""Surface-material inference: one photo of a nearly flat surface -> tileable maps (bpy-free).

The network (`models.material`) runs on the whole photo when it fits one tile, else:

* on overlapping tiles at full resolution, blended with linear ramps; every tile is divided by
  the whole photo's exposure level (BatchNorm is frozen), so neighbouring tiles answer in the
  same units and the ramps have nothing to hide;
* and once on the photo shrunk to one tile (the coarse pass). Normals do not change when a
  photo is resized (height and width scale together), so the coarse pass's slopes are the
  large-scale relief a tile cannot see (a cobble 800 px across is flat within any tile), and
  its log-shading is the light's gradient across the whole wall. The two passes are joined in
  frequency: the coarse pass below a Gaussian of ``4 x`` the shrink factor, the tiles above.

Then: shading = exp(log_shading) x the exposure level (grey, linear, in the photo's units);
albedo = photo / shading, per channel, so the light's colour stays in the albedo as the photo
showed it (one photo cannot tell a warm light on a white wall from a warm wall); height =
least-squares integration of the normals (`geometry.height.integrate_surface`).

``seamless`` makes every map tile: the maps are cross-faded with a copy shifted by half the
frame in each direction, whose content at the frame's edges is the original's middle, which
wraps continuously. The cross-fade follows the relief (the higher of the two surfaces shows,
as stones pile over each other), so a transition runs along mortar and gaps rather than
ghosting two bricks into one; the height is then integrated periodically from the joined
normals, so it tiles exactly too.

``light_from``: the model reads relief as light from the photo's top shows it (it was trained
so, `weights/material.md`: one photo cannot tell a bump lit from the left from a dent lit from
the right). A photo lit from another side is turned by quarter turns until its light comes
from the top, and every map is turned back, the normals' x, y with the pixels. ``"auto"``: the
side is detected first (`inference.light_side`, a small network trained on the same engine).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.nn.utils.fusion import fuse_conv_bn_eval

from ..errors import ModelNotAvailable, UserError
from ..geometry.height import integrate_surface
from ..models.material import EXPOSURE_TARGET
from ..models.registry import MATERIAL
from ..models.weights import load_model, read_metadata, shipped_weights
from ..synthetic.flips import rot90

TILE = 1024  # px: photos up to this size run in one pass (about 12 GMAC)
OVERLAP = 128  # px between tiles; the network's context reaches ~200 px, its error less
COARSE_BLEND = 4.0  # Gaussian sigma of the coarse/fine split, in coarse pixels
SHADING_FLOOR = 0.03  # x the exposure level: darker shading is deep shadow for the albedo
SEAM_BAND = 0.25  # share of each side cross-faded by `seamless`
MIN_SIZE = 16  # px: smaller photos have no surface to read
# Counter-clockwise quarter turns (as `flips.rot90` counts them) that bring the light from each
# side of the photo to its top: the right edge turns up by one, the left by three.
QUARTER_TURNS = {"top": 0, "left": 3, "right": 1, "bottom": 2}
AUTO = "auto"  # light_from: detect the side from the photo


@dataclass
class MaterialEstimate:
    normals: np.ndarray  # (H, W, 3) unit, the surface's frame (x right, y up, z out)
    height: np.ndarray  # (H, W) float32, pixels, zero-mean, larger = nearer the camera
    albedo: np.ndarray  # (H, W, 3) linear, [0, 1] not enforced (see predict)
    shading: np.ndarray | None  # (H, W) linear grey, the photo's units (one photo only)
    roughness: np.ndarray | None  # (H, W) GGX roughness in (0, 1) (one photo only)
    seamless: bool = False
    tiles: int = 1  # network passes at full resolution
    coarse_pass_px: int | None = None  # long side of the coarse pass, None if it did not run
    timings: dict = field(default_factory=dict)
    light_from: str = "top"  # the side the photo was read as lit from
    light_detected: bool = False  # light_from is the detector's confident pick ("auto")
    light_probabilities: dict | None = None  # the detector's per side, when it ran
    light_note: str | None = None  # why "auto" read the photo as lit from the top undetected


class MaterialModel:
    """A material network ready to run: the shipped one (the weights index's material mode),
    or the weight file ``path``."""

    _detector = None  # the light-side detector, loaded on the first light_from="auto"

    def __init__(self, path: Path | str | None = None, device: str = "cpu", tile: int = TILE,
                 runtime: str = "auto", threads: int | None = None, log=None,
                 flip_average: bool = True):
        # The material network has no exported graph yet (inference/runtime.py covers the
        # multi-light and portrait networks): it runs in torch, and asking for a graph says so.
        if runtime in ("onnx", "openvino"):
            raise UserError(f"--runtime {runtime}: the material model runs in torch only; "
                            "use --runtime auto or torch")
        self.runtime = "torch"
        self.path = Path(path) if path else shipped_weights(MATERIAL)
        self.device = torch.device(device)
        self.model = fold_batchnorm(load_model(self.path, self.device))
        self.metadata = read_metadata(self.path)
        self.name = self.model.config["name"]
        self.tile = tile
        self.flip_average = flip_average

    def detect_light(self, image: np.ndarray):
        """The side ``image``'s light comes from (`inference.light_side.LightSide`)."""
        if self._detector is None:
            from .light_side import LightSideDetector

            self._detector = LightSideDetector(device=str(self.device))
        return self._detector.detect(image)

    @torch.inference_mode()
    def estimate(self, image: np.ndarray, seamless: bool = False,
                 light_from: str = "top") -> MaterialEstimate:
        """image: (H, W, 3) float32 linear RGB of a surface seen roughly square on, lit from
        the side ``light_from`` (top, left, right or bottom of the photo, or "auto": detected)."""
        if light_from == AUTO:
            check_image(image)
            start = time.perf_counter()
            try:
                found = self.detect_light(image)
            except ModelNotAvailable:
                # A weights folder without the detector still runs the material model, as
                # before auto existed; the report says why nothing was detected.
                return replace(self.estimate(image, seamless), light_note=(
                    "no light-side weights in the weights folder: read as lit from the top"))
            detect_s = time.perf_counter() - start
            estimate = self.estimate(image, seamless, found.side)
            estimate.timings["light_side_s"] = detect_s
            note = None if found.confident else (
                "the light-side detector was unsure (no side at even odds): read as lit from "
                "the top")
            return replace(estimate, light_detected=found.confident,
                           light_probabilities=found.probabilities, light_note=note)
        turns = quarter_turns(light_from)
        if turns:
            upright = np.ascontiguousarray(np.rot90(image, turns))
            return replace(turn_estimate(self.estimate(upright, seamless), -turns),
                           light_from=light_from)
        check_image(image)
        timings = {}
        start = time.perf_counter()
        level = float(image.mean()) / EXPOSURE_TARGET
        if level <= 1e-6:
            raise UserError("the photo is black: no surface to read")
        maps, tiles = self._tiled(image / level)
        coarse = None
        if max(image.shape[:2]) > self.tile:
            scale = self.tile / max(image.shape[:2])
            small = cv2.resize(image / level, None, fx=scale, fy=scale,
                               interpolation=cv2.INTER_AREA)
            coarse = max(small.shape[:2])
            maps = _join_coarse(maps, self._run(small), 1 / scale)
        timings["network_s"] = time.perf_counter() - start

        start = time.perf_counter()
        normals = _unit(maps["normal"])
        shading = np.exp(maps["log_shading"][..., 0]) * level
        albedo = image / np.maximum(shading, SHADING_FLOOR * level)[..., None]
        roughness = maps["roughness"][..., 0]
        if seamless:
            normals, albedo, shading, roughness = make_seamless(
                normals, [albedo, shading, roughness])
        timings["maps_s"] = time.perf_counter() - start
        start = time.perf_counter()
        height = integrate_surface(normals, periodic=seamless)
        timings["height_s"] = time.perf_counter() - start
        return MaterialEstimate(normals.astype(np.float32), height, albedo.astype(np.float32),
                                shading.astype(np.float32), roughness.astype(np.float32),
                                seamless, tiles, coarse, timings)

    def _run(self, image: np.ndarray) -> dict[str, np.ndarray]:
        """The network on one (h, w, 3) exposure-normalised array: (h, w, C) maps.

        With ``flip_average``, the normals also come from the mirror image, mapped back (x
        negated) and averaged: a photo lit from the top is still lit from the top mirrored left
        to right (held-out top-lit normals 8.53 -> 8.39 deg). Shading stays the direct pass's:
        averaged, it lost contrast that then stayed in the albedo (shading leak 0.35 -> 0.38).
        """
        x = torch.from_numpy(np.ascontiguousarray(image, np.float32)).permute(2, 0, 1)[None]
        x = x.to(self.device)
        maps = {k: v[0].float().permute(1, 2, 0).cpu().numpy() for k, v in self.model(x).items()}
        if self.flip_average:
            # one pass after the other: as a batch of two it took 2.4x one pass at 1024^2, not 2x
            mirror = self.model(x.flip(-1))["normal"][0].flip(-1).float()
            mirror[0] = -mirror[0]
            maps["normal"] = (maps["normal"] + mirror.permute(1, 2, 0).cpu().numpy()) / 2
        return maps

    def _tiled(self, image: np.ndarray) -> tuple[dict[str, np.ndarray], int]:
        h, w = image.shape[:2]
        if h <= self.tile and w <= self.tile:
            return self._run(image), 1
        overlap = min(OVERLAP, self.tile // 4)
        starts = [_starts(n, self.tile, overlap) for n in (h, w)]
        total, weight, count = {}, np.zeros((h, w, 1), np.float32), 0
        for y0 in starts[0]:
            for x0 in starts[1]:
                y1, x1 = min(y0 + self.tile, h), min(x0 + self.tile, w)
                out = self._run(image[y0:y1, x0:x1])
                ramp = _ramp(y1 - y0, x1 - x0, overlap)
                for key, value in out.items():
                    total.setdefault(key, np.zeros((h, w, value.shape[2]), np.float32))
                    total[key][y0:y1, x0:x1] += value * ramp
                weight[y0:y1, x0:x1] += ramp
                count += 1
        return {k: v / np.maximum(weight, 1e-6) for k, v in total.items()}, count


def fold_batchnorm(model: torch.nn.Module) -> torch.nn.Module:
    """Fold each eval-mode BatchNorm into the conv before it (a tenth of the CPU time goes to
    BatchNorm otherwise); the outputs are unchanged up to float rounding."""
    for module in model.modules():
        names = list(module._modules)
        for a, b in zip(names, names[1:], strict=False):
            conv, norm = module._modules[a], module._modules[b]
            if isinstance(conv, torch.nn.Conv2d) and isinstance(norm, torch.nn.BatchNorm2d):
                module._modules[a] = fuse_conv_bn_eval(conv.eval(), norm.eval())
                module._modules[b] = torch.nn.Identity()
    return model


def quarter_turns(light_from: str) -> int:
    if light_from not in QUARTER_TURNS:
        raise UserError(f"unknown light side {light_from!r}; use one of "
                        f"{', '.join([*QUARTER_TURNS, AUTO])}")
    return QUARTER_TURNS[light_from]


def turn_normals(normals: np.ndarray, k: int) -> np.ndarray:
    """(H, W, 3) camera-frame normals turned by ``k`` counter-clockwise quarter turns: the
    pixels and the vectors' x, y together (`flips.rot90`, the training data's own turn)."""
    chw = torch.from_numpy(np.ascontiguousarray(normals)).permute(2, 0, 1)[None]
    turned = rot90(None, chw, None, None, None, k)[1]
    return np.ascontiguousarray(turned[0].permute(1, 2, 0).numpy())


def turn_estimate(estimate: MaterialEstimate, k: int) -> MaterialEstimate:
    """Every map of ``estimate`` turned by ``k`` counter-clockwise quarter turns. The height is
    turned rather than integrated again: the integration treats every side alike, so it is the
    height of the turned normals."""
    def turn(a):
        return None if a is None else np.ascontiguousarray(np.rot90(a, k))

    return replace(estimate, normals=turn_normals(estimate.normals, k),
                   height=turn(estimate.height), albedo=turn(estimate.albedo),
                   shading=turn(estimate.shading), roughness=turn(estimate.roughness))


def check_image(image: np.ndarray) -> None:
    if image.ndim != 3 or image.shape[2] != 3:
        raise UserError(f"a material photo must be an RGB image, got shape {image.shape}")
    if min(image.shape[:2]) < MIN_SIZE:
        raise UserError(f"the photo is {image.shape[1]}x{image.shape[0]}: a material needs at "
                        f"least {MIN_SIZE} px on each side")


def _starts(n: int, tile: int, overlap: int) -> list[int]:
    if n <= tile:
        return [0]
    count = int(np.ceil((n - overlap) / (tile - overlap)))
    return [round(i * (n - tile) / (count - 1)) for i in range(count)]


def _ramp(h: int, w: int, overlap: int) -> np.ndarray:
    def axis(n):
        i = np.arange(n, dtype=np.float32)
        return np.minimum(1.0, np.minimum(i + 1, n - i) / overlap)

    return (axis(h)[:, None] * axis(w)[None, :])[..., None]


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-8)


def _slopes(normals: np.ndarray) -> np.ndarray:
    z = np.maximum(normals[..., 2:], 0.1)
    return normals[..., :2] / z


def _join_coarse(fine: dict, coarse: dict, factor: float) -> dict:
    """Low frequencies from the coarse pass (upsampled), high ones from the tiles: for the
    normals as slopes, for the shading in log space; roughness is local, the tiles' own."""
    h, w = fine["normal"].shape[:2]
    sigma = COARSE_BLEND * factor

    def low(x):
        return cv2.GaussianBlur(x, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)

    def up(x):
        out = cv2.resize(x, (w, h), interpolation=cv2.INTER_LINEAR)
        return out if out.ndim == 3 else out[..., None]

    slopes = low(up(_slopes(coarse["normal"]))) + _slopes(fine["normal"])
    slopes -= low(_slopes(fine["normal"]))
    shading = fine["log_shading"] - low(fine["log_shading"])[..., None]
    shading = shading + low(up(coarse["log_shading"]))[..., None]
    normal = np.concatenate([slopes, np.ones((h, w, 1), np.float32)], -1)
    return {"normal": _unit(normal), "log_shading": shading, "roughness": fine["roughness"]}


def seam_blend_weight(height: np.ndarray, shifted: np.ndarray) -> np.ndarray:
    """(H, W) weight of the original in the seamless cross-fade: 1 in the middle, exactly 0 on
    the frame's edges, and in between the surface that stands higher wins (softly)."""
    h, w = height.shape

    def axis(n):
        d = np.minimum(np.arange(n), n - 1 - np.arange(n)) / (SEAM_BAND * n)
        return np.clip(d, 0.0, 1.0).astype(np.float32)

    inside = np.minimum(axis(h)[:, None], axis(w)[None, :])  # 0 at the edges, 1 inside
    spread = float(np.percentile(height, 99) - np.percentile(height, 1)) + 1e-6
    score = (height - shifted) / spread + 2.5 * (inside - 0.5) * 2
    weight = 1 / (1 + np.exp(-np.clip(score / 0.15, -30, 30)))
    return (weight * np.clip(inside * 8, 0.0, 1.0)).astype(np.float32)


def make_seamless(normals: np.ndarray, maps: list[np.ndarray]):
    """(normals, maps) cross-faded with their half-frame shifts (see the module docstring)."""
    h, w = normals.shape[:2]

    def shift(x):
        return np.roll(x, (h // 2, w // 2), axis=(0, 1))

    height = integrate_surface(normals)
    weight = seam_blend_weight(height, shift(height))

    def blend(x):
        wt = weight if x.ndim == 2 else weight[..., None]
        return x * wt + shift(x) * (1 - wt)

    return (_unit(blend(normals)), *[blend(m) for m in maps])


SURFACE_SCALE = 0.125  # x the frame's long side: bends wider than this are taken as error


def surface_from_photometric(normals: np.ndarray, albedo: np.ndarray,
                             seamless: bool = False) -> MaterialEstimate:
    """Material maps from photometric stereo on several photos of one flat surface.

    The surface prior: the surface is a large plane, so its mean tilt and any bend wider than
    SURFACE_SCALE of the frame are removed from the normals (Gaussian high-pass of the slopes).
    That is where photometric stereo errs on such photos: a lamp at a finite distance turns
    its light across the frame, which directional photometric stereo reads as a bend, and an
    uncalibrated fit leaves the plane's tilt free. The relief within the frame is kept."""
    start = time.perf_counter()
    h, w = normals.shape[:2]
    slopes = _slopes(_unit(normals.astype(np.float32)))
    slopes -= cv2.GaussianBlur(slopes, (0, 0), SURFACE_SCALE * max(h, w),
                               borderType=cv2.BORDER_REFLECT)
    normals = _unit(np.concatenate([slopes, np.ones((h, w, 1), np.float32)], -1))
    albedo = albedo.astype(np.float32)
    if seamless:
        normals, albedo = make_seamless(normals, [albedo])
    height = integrate_surface(normals, periodic=seamless)
    return MaterialEstimate(normals, height, albedo, None, None, seamless,
                            timings={"surface_s": time.perf_counter() - start})
