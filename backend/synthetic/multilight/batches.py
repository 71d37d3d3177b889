"""Training batches for the multi-light models.

Geometry is expensive and cached (`bank`); everything else is cheap and drawn afresh per
sample on the training device: a random zoomed crop centred on the object, a flip/rotation,
albedo, BRDF, K lights (over the hemisphere or from one rig) with per-channel intensities in
[0.2, 2.0], and a camera (8-bit sRGB, 16-bit linear or float, with noise; optionally 8-bit
linear codes read as sRGB, as photometric-stereo data sets are). The network input then goes
through the same exposure normalisation as real photos.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from ...photometric.exposure import normalise_exposure
from ..cache import CACHE_DIR
from ..flips import hflip, rot90, vflip
from ..materials import random_albedo, random_materials
from .bank import cached_bank
from .camera import apply_camera, random_camera_mode
from .lights import sample_light_intensities, sample_light_rigs
from .render import render_multilight


class MultiLightBatches:
    def __init__(self, bank: dict, device: str | torch.device = "cpu"):
        device = torch.device(device)
        # Kept in float16 on the device: 2000 samples at 128^2 are ~200 MB.
        self.normals = torch.from_numpy(bank["normals"]).to(device).permute(0, 3, 1, 2)
        self.depth = torch.from_numpy(bank["depth"]).to(device)[:, None]
        self.mask = torch.from_numpy(bank["mask"]).to(device)[:, None]
        self.device = device

    @classmethod
    def from_cache(cls, count, size, seed, faces=None, device="cpu", cache_dir=CACHE_DIR):
        faces = Path(faces) if faces else None
        bank = cached_bank(count, size, seed, faces_path=faces, cache_dir=cache_dir, verbose=True)
        return cls(bank, device)

    def __len__(self) -> int:
        return self.normals.shape[0]

    def geometry(self, batch: int, crop: int, generator: torch.Generator, max_zoom: float = 1.0):
        """(normals, depth, mask) crops (B, C, crop, crop), zoomed and centred on the object.

        The window spans between the whole frame and `crop / max_zoom` bank pixels. Zooming in
        past 1:1 (max_zoom > 1) shows surfaces smoother per pixel than any bank shape: real
        photos put an object across hundreds of pixels, and a network that has only seen
        ~100 px objects flattens them (the DiLiGenT ball: 12 deg at 141 px, 6 deg at 47 px).
        Measured (6,400 CPU steps of `fused_fast` with max_zoom 4): one-pass errors on large
        objects fell 1-1.6 deg, but with inference's coarse shape pass the unzoomed weights did
        as well or better, so the default stays 1.
        """
        index = torch.randint(len(self), (batch,), generator=generator, device=self.device)
        normals = self.normals[index].float()
        depth = self.depth[index].float()
        mask = self.mask[index].float()
        size = normals.shape[-1]

        # A random window between `crop` px and the whole frame, centred on a random object pixel;
        # with max_zoom > 1, half the windows shrink instead to crop / m px, m log-uniform in
        # [1, max_zoom] (magnified past 1:1).
        scale = crop / size + (1 - crop / size) * torch.rand(
            batch, generator=generator, device=self.device
        )
        if max_zoom > 1:
            zoom_in = torch.rand(batch, generator=generator, device=self.device) < 0.5
            magnification = max_zoom ** torch.rand(batch, generator=generator, device=self.device)
            scale = torch.where(zoom_in, crop / size / magnification, scale)
        weights = mask.flatten(1) + 1e-6
        centre = torch.multinomial(weights, 1, generator=generator)[:, 0]
        cy = (centre // size).float() + 0.5
        cx = (centre % size).float() + 0.5
        tx = (cx / size * 2 - 1).clamp(-1 + scale, 1 - scale)
        ty = (cy / size * 2 - 1).clamp(-1 + scale, 1 - scale)
        theta = torch.zeros(batch, 2, 3, device=self.device)
        theta[:, 0, 0] = scale
        theta[:, 1, 1] = scale
        theta[:, 0, 2] = tx
        theta[:, 1, 2] = ty
        grid = F.affine_grid(theta, (batch, 1, crop, crop), align_corners=False)
        sample = lambda t, mode="bilinear": F.grid_sample(t, grid, mode=mode, align_corners=False)
        mask = (sample(mask) > 0.5).float()
        # Bicubic keeps zoomed-in shading free of the kinks of piecewise-linear normals.
        normals = F.normalize(sample(normals, "bicubic"), dim=1) * mask
        # pixel units follow the zoom
        depth = sample(depth) / scale.view(-1, 1, 1, 1) * crop / size * mask
        return normals, depth, mask

    def sample(
        self, batch: int, count: int, crop: int, generator: torch.Generator, max_zoom: float = 1.0,
        light_rigs: float = 0.0, intensity_range: tuple[float, float] = (0.2, 2.0),
        stratified_intensities: bool = False, linear_codes: float = 0.0,
    ) -> dict:
        """``light_rigs``: the share of samples lit by one rig; ``intensity_range`` and
        ``stratified_intensities``: how each light's intensity is drawn (see `lights`);
        ``linear_codes``: the share saved as linear 8-bit codes and read as sRGB (`camera`)."""
        normals, depth, mask = self.geometry(batch, crop, generator, max_zoom)
        flips = torch.randint(8, (1,), generator=generator, device=self.device).item()
        if flips & 1:
            _, normals, depth, mask, _ = hflip(None, normals, depth, mask, None)
        if flips & 2:
            _, normals, depth, mask, _ = vflip(None, normals, depth, mask, None)
        if flips & 4:
            _, normals, depth, mask, _ = rot90(None, normals, depth, mask, None)

        dirs = sample_light_rigs(batch, count, generator, light_rigs)
        ints = sample_light_intensities(batch, count, generator, *intensity_range,
                                        stratified=stratified_intensities)
        albedo = random_albedo(batch, crop, crop, generator)
        material = random_materials(batch, generator, crop, crop)
        images = render_multilight(normals, depth, mask, albedo, material, dirs, ints)
        mode = random_camera_mode(generator, p_linear8=linear_codes)
        images = apply_camera(images, generator, mode, mask)
        images, _ = normalise_exposure(images, mask)
        # Absolute intensity is unobservable (it trades off against albedo and exposure): the
        # targets are intensities relative to the set's mean, which is what we report too.
        relative = ints / ints.mean(dim=(1, 2), keepdim=True)
        return {
            "images": images,
            "normals": normals,
            "mask": mask,
            "light_dirs": dirs,
            "light_ints": relative.clamp(0.2, 2.0),
        }
