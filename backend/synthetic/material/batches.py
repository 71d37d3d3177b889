"""Training samples for the material models: a surface photo and its maps, all drawn per step.

Nothing is cached: a relief (`geometry`), its colour and roughness (`appearance`), its light
(`lighting`) and the camera (`camera`) are a few milliseconds of torch per sample, so every step
sees new surfaces and the engine needs no bank. Per sample:

* a family (weighted, `geometry.WEIGHTS`), its relief at a random scale and strength;
* albedo that follows the relief more or less, under patterns that ignore it (`appearance`);
* an HDRI under a random rotation, a lamp at a finite distance with cast shadows, or both;
* the camera: mild perspective, vignetting, lens blur, white balance, exposure, noise, tone,
  8-bit sRGB and JPEG.

``shading`` is in image units (exposure and white balance applied, vignetting included), so
``image ~= albedo * shading + specular`` up to blur, noise, tone and JPEG; the normals and
height describe the surface in its own frame (see `camera` on the perspective).
"""

from __future__ import annotations

import numpy as np
import torch

from ..random import uniform
from .appearance import material_appearance
from .camera import apply_camera, lens_blur, perspective_grid, vignetting, warp
from .geometry import FAMILIES, WEIGHTS, normals_from_height, relief
from .lighting import light_surface, prepare_envs

KEYS = ("image", "normal", "height", "albedo", "shading", "roughness", "family", "light")


class MaterialBatches:
    """Random surface photos and their maps; see the module docstring. ``families`` restricts
    the draw (all of `geometry.FAMILIES` by default)."""

    def __init__(self, envs: list[np.ndarray] = (), size: int = 128, device="cpu",
                 families: tuple[str, ...] = FAMILIES, camera: bool = True,
                 light_up: float = 0.0):
        unknown = set(families) - set(FAMILIES)
        if unknown:
            raise ValueError(f"unknown material families {sorted(unknown)}; know {FAMILIES}")
        self.device = torch.device(device)
        self.size = size
        self.families = tuple(families)
        self.weights = torch.tensor([WEIGHTS[f] for f in self.families], device=self.device)
        dirs, radiance = prepare_envs(list(envs))
        self.env_dirs, self.env_radiance = dirs.to(self.device), radiance.to(self.device)
        self.camera = camera
        self.light_up = light_up  # share lit from the image's upper side (`light_surface`)

    def surfaces(self, batch: int, generator: torch.Generator, family: str | None = None):
        """The surfaces alone, unlit: {"normal", "height", "albedo", "roughness", "family"}."""
        g, S = generator, self.size
        if family is None:
            pick = torch.multinomial(self.weights.expand(batch, -1), 1, generator=g).view(-1)
        else:
            pick = torch.full((batch,), self.families.index(family), device=self.device)
        out = {k: [] for k in ("height", "albedo", "roughness", "family", "order")}
        for index, name in enumerate(self.families):
            rows = torch.nonzero(pick == index).view(-1)
            if len(rows) == 0:
                continue
            r = relief(name, len(rows), S, S, g)
            look = material_appearance(r, name, g)
            out["height"].append(r.height)
            out["albedo"].append(look["albedo"])
            out["roughness"].append(look["roughness"])
            out["family"].append(torch.full((len(rows),), FAMILIES.index(name),
                                            device=self.device))
            out["order"].append(rows)
        order = torch.cat(out.pop("order")).argsort()
        maps = {k: torch.cat(v)[order] for k, v in out.items()}
        maps["normal"] = normals_from_height(maps["height"])
        return maps

    def lamp_sets(self, maps: dict, lamps: torch.Tensor, generator: torch.Generator):
        """(B, K, 3, H, W) linear radiance of the surfaces ``maps`` (from `surfaces`) under K
        lamps each, ``lamps`` (B, K, 3) their directions from the frame's centre, in a dim
        room: a photometric stereo capture. No camera: the caller picks one exposure for the
        set, as such captures are shot."""
        photos = []
        for k in range(lamps.shape[1]):
            lit = light_surface(maps["normal"], maps["height"], maps["albedo"], maps["roughness"],
                                generator, self.env_dirs, self.env_radiance, lamp=lamps[:, k])
            photos.append(lit["radiance"])
        return torch.stack(photos, 1)

    def sample(self, batch: int, generator: torch.Generator,
               family: str | None = None) -> dict[str, torch.Tensor]:
        g = generator
        maps = self.surfaces(batch, g, family)
        lit = light_surface(maps["normal"], maps["height"], maps["albedo"], maps["roughness"], g,
                            self.env_dirs, self.env_radiance, light_up=self.light_up)
        light = lit["light"]  # what lit it (lighting.LIGHT_KINDS)
        S = self.size
        vignette = vignetting(batch, S, S, g)
        lit = {"radiance": lit["radiance"] * vignette, "shading": lit["shading"] * vignette}
        tilted = uniform((batch, 1, 1, 1), g) < 0.5
        grid = perspective_grid(batch, S, S, g)
        fields = {**{k: v for k, v in maps.items() if k != "family"}, **lit}
        warped = warp(fields, grid)
        fields = {k: torch.where(tilted, warped[k], v) for k, v in fields.items()}
        scene = lens_blur(fields.pop("radiance"), g)
        if self.camera:
            image, gain = apply_camera(scene, g)
        else:
            image, gain = scene, torch.ones(batch, 3, device=self.device)
        fields["shading"] = fields["shading"] * gain[..., None, None]
        return {"image": image.float(), **fields, "family": maps["family"], "light": light}
