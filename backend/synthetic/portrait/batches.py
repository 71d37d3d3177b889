"""Training batches for the portrait models: appearance, light and camera drawn per sample.

Geometry comes from the cached bank (`bank`), area-downsampled once to the training size and
kept on the device; or, with ``window`` (body-framed banks), kept at the bank's size and cut
into training-size windows around the person, so arms, hands and clothes are seen at the scale
the whole-frame pass of inference sees them. Per sample, in torch:

* albedo and gloss from ``skin.portrait_albedo`` (painted in the face's canonical frame);
* light: one of the HDRIs (random rotation: SH9 coefficients tabulated for 64 rotations at
  start-up), or random SH9 lighting, or a studio set-up, plus 0-2 directional lights with
  soft cast shadows over the depth map; the SH (ambient) part is multiplied by the bank's
  ambient occlusion;
* diffuse shading E/pi, softened inside the skin like subsurface scattering (a normalised blur,
  wider in red than in blue), GGX specular for the directional lights and an SH-blurred
  environment reflection, both scaled by the gloss map (oily T-zone);
* background: the same HDRI seen behind the head (blurred, consistent with the light), or a
  procedural texture, or a plain/gradient backdrop, with textured panels and, in some
  samples, another person behind to one side (not in the mask); composited with the
  antialiased coverage;
* soft focus: the whole frame blurred in half of the samples, so sharpness tells nothing
  about what is the person;
* camera (`camera`): white balance, exposure on the face, shot/read noise, a mild tone curve,
  sRGB, 8-bit codes, JPEG at a random quality, decoded back exactly as our reader decodes
  8-bit files.

``shading`` is returned in image units (exposure and white balance applied), so inside the
mask ``image ~= albedo * shading + specular`` up to camera noise, tone and JPEG.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ...relight.sh import project_sh9, sh9_irradiance
from ..brdf import ggx_distribution
from ..flips import mirror_where
from ..materials import random_albedo
from ..random import uniform
from ..shadows import cast_shadow_visibility
from .camera import apply_camera
from .geometry import NUM_LABELS
from .skin import portrait_albedo

ROTATIONS = 64  # HDRI rotations tabulated (5.6 degree steps)
ENV_ROWS = 32  # rows of the reduced HDRI used for SH projection and blurred backplates
PLATE_ROWS = 256  # rows of the HDRI copy used for sharp backplates
MAX_LIGHTS = 2
BYSTANDER_SHARE = 0.25  # samples with another person in the background
SOFT_SHARE = 0.5  # samples blurred as a whole (focus, lens, motion, a resized photo)
SOFT_SIGMA = (0.3, 1.6)  # their blur, pixels at 128^2 (scaled with the size)
KEYS = ("image", "normal", "shading", "albedo", "mask", "face")


def _area(t: torch.Tensor, size: int) -> torch.Tensor:
    return t if t.shape[-1] == size else F.interpolate(t, (size, size), mode="area")


def downsample_bank(bank: dict, size: int, chunk: int = 64) -> dict[str, torch.Tensor]:
    """Area-downsample the bank's buffers to ``size`` (coverage-weighted, labels by majority)."""
    out: dict[str, list] = {
        k: [] for k in ("normals", "depth", "canonical", "ao", "coverage", "face", "labels")
    }
    full = bank["labels"].shape[-1]
    for s in range(0, len(bank["labels"]), chunk):
        sl = slice(s, s + chunk)
        lab = torch.from_numpy(bank["labels"][sl]).long()
        m = (lab > 0).float()[:, None]
        cov = _area(m, size)
        w = cov.clamp_min(1e-6)
        n = torch.from_numpy(bank["normals"][sl]).float().permute(0, 3, 1, 2)
        out["normals"].append(F.normalize(_area(n * m, size), dim=1).half())
        d = torch.from_numpy(bank["depth"][sl]).float()[:, None]
        out["depth"].append((_area(d * m, size) / w * (size / full)).half())
        c = torch.from_numpy(bank["canonical"][sl]).float().permute(0, 3, 1, 2)
        out["canonical"].append((_area(c * m, size) / w).half())
        ao = torch.from_numpy(bank["ao"][sl]).float()[:, None] / 255.0
        out["ao"].append((_area(ao * m, size) / w).clamp(0, 1).half())
        out["coverage"].append(cov.half())
        out["face"].append(_area(torch.from_numpy(bank["face"][sl]).float()[:, None], size) > 0.5)
        onehot = F.one_hot(lab, NUM_LABELS).permute(0, 3, 1, 2).float()
        out["labels"].append(_area(onehot, size).argmax(1, keepdim=True).to(torch.uint8))
    res = {k: torch.cat(v) for k, v in out.items()}
    scale = size / full
    res["focal"] = torch.from_numpy(bank["focal"]).float() * scale
    res["principal"] = torch.from_numpy(bank["principal"]).float() * scale
    res["px_per_cm"] = torch.from_numpy(bank["px_per_cm"]).float() * scale
    return res


def prepare_envs(envs: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """(E, ROTATIONS, 9, 3) SH9 radiance per rotation, (E, 3, ENV_ROWS, 2*ENV_ROWS) small maps."""
    shs, small = [], []
    for env in envs:
        env = np.asarray(env, np.float32)
        if env.ndim != 3 or env.shape[2] < 3 or env.shape[1] != 2 * env.shape[0]:
            raise ValueError(f"environment maps must be (H, 2H, 3) equirects, got {env.shape}")
        e = cv2.resize(
            np.ascontiguousarray(env[..., :3]),
            (2 * ENV_ROWS, ENV_ROWS),
            interpolation=cv2.INTER_AREA,
        )
        e = np.maximum(e, 0.0)
        shs.append(np.stack([project_sh9(e, r * 360.0 / ROTATIONS) for r in range(ROTATIONS)]))
        small.append(e.transpose(2, 0, 1))
    if not envs:
        return torch.zeros(0, ROTATIONS, 9, 3), torch.zeros(0, 3, ENV_ROWS, 2 * ENV_ROWS)
    return torch.from_numpy(np.stack(shs)).float(), torch.from_numpy(np.stack(small)).float()


def env_lookup(small: torch.Tensor, dirs: torch.Tensor, rotation: torch.Tensor) -> torch.Tensor:
    """Bilinear lookup (B,3,H,W) of (B,3,h,2h) equirects along camera-frame dirs (B,3,H,W).

    Same mapping as ``relight.envmap.direction_to_uv`` (world = (x, -z, y), then the Mapping
    node's Z rotation in degrees)."""
    wx, wy, wz = dirs[:, 0], -dirs[:, 2], dirs[:, 1]
    rad = torch.deg2rad(rotation).view(-1, 1, 1)
    rx = torch.cos(rad) * wx - torch.sin(rad) * wy
    ry = torch.sin(rad) * wx + torch.cos(rad) * wy
    u = (0.5 - torch.atan2(ry, rx) / (2 * math.pi)).remainder(1.0)
    v = 0.5 + torch.atan2(wz, torch.hypot(rx, ry)) / math.pi
    w = small.shape[-1]
    padded = torch.cat([small[..., -1:], small, small[..., :1]], -1)  # wrap in azimuth
    gx = (u * w + 1) / (w + 2) * 2 - 1
    gy = (1 - v) * 2 - 1
    return F.grid_sample(
        padded,
        torch.stack([gx, gy], -1),
        mode="bilinear",
        padding_mode="border",
        align_corners=False,
    )


def _gauss_blur(x: torch.Tensor, sigma: torch.Tensor, radius: int) -> torch.Tensor:
    """Separable Gaussian blur of (B,C,H,W) with a sigma (B,C) per image and channel."""
    B, C, H, W = x.shape
    t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    k = torch.exp(-0.5 * (t / sigma.reshape(-1, 1).clamp_min(0.3)) ** 2)
    k = k / k.sum(1, keepdim=True)
    y = x.reshape(1, B * C, H, W)
    y = F.conv2d(
        F.pad(y, (radius, radius, 0, 0), mode="replicate"), k.view(B * C, 1, 1, -1), groups=B * C
    )
    y = F.conv2d(
        F.pad(y, (0, 0, radius, radius), mode="replicate"), k.view(B * C, 1, -1, 1), groups=B * C
    )
    return y.view(B, C, H, W)


def _unit(v: torch.Tensor) -> torch.Tensor:
    """Normalise along dim 1 (faster than F.normalize on NCHW tensors on CPU)."""
    return v * (v[:, 0:1] ** 2 + v[:, 1:2] ** 2 + v[:, 2:3] ** 2).clamp_min(1e-12).rsqrt()


def _ggx(n, v, light, roughness):
    """pi * D * G / (4 n.v) * n.l for unit (B,3,H,W) n, v and (B,3) light; finite at silhouettes.
    The lobe of `brdf.ggx_specular`, here per pixel's view; kept in this operation order,
    which the engine's batches were drawn with."""
    h = _unit(v + light[..., None, None])
    nl = (n * light[..., None, None]).sum(1, keepdim=True).clamp_min(0)
    nh = (n * h).sum(1, keepdim=True).clamp_min(0)
    nv = (n * v).sum(1, keepdim=True).clamp_min(1e-3)
    d = ggx_distribution(nh, (roughness**2) ** 2)
    k = roughness**2 / 2
    return math.pi * d * nl / (nl * (1 - k) + k) / (nv * (1 - k) + k) / 4 * (nl > 0)


def _plates(envs: list[np.ndarray]) -> torch.Tensor:
    """(E, 3, PLATE_ROWS, 2 * PLATE_ROWS) copies of the HDRIs, for sharp backplates."""
    size = (2 * PLATE_ROWS, PLATE_ROWS)
    plates = [cv2.resize(np.ascontiguousarray(np.maximum(e[..., :3], 0), np.float32), size,
                         interpolation=cv2.INTER_AREA) for e in envs]
    return torch.stack([torch.from_numpy(plate).permute(2, 0, 1) for plate in plates])


class PortraitBatches:
    """Random portrait samples from a geometry bank; see the module docstring."""

    def __init__(
        self,
        bank: dict,
        envs: list[np.ndarray],
        size: int = 128,
        device="cpu",
        camera: bool = True,
        specular: bool = True,
        subsurface: bool = True,
        soften: bool = True,
        mirror: bool = True,
        window: bool = False,
    ):
        self.device = torch.device(device)
        self.size = size
        self.window = window
        geo = downsample_bank(bank, bank["labels"].shape[-1] if window else size)
        self.geo = {k: v.to(self.device) for k, v in geo.items()}
        sh, small = prepare_envs(list(envs))
        self.env_sh, self.env_small = sh.to(self.device), small.to(self.device)
        self.env_plates = _plates(envs).to(self.device) if len(envs) else self.env_small
        self.camera, self.specular, self.subsurface, self.soften = (
            camera,
            specular,
            subsurface,
            soften,
        )
        self.mirror = mirror  # off only where the truth must stay in the bank's frame (benchmarks)

    def __len__(self) -> int:
        return self.geo["labels"].shape[0]

    # ------------------------------------------------------------------ pieces
    def _view_dirs(self, focal, principal):
        S, dev = self.size, self.device
        x = (torch.arange(S, device=dev) + 0.5).view(1, 1, S)
        y = (S - 0.5 - torch.arange(S, device=dev)).view(1, S, 1)
        f = focal.view(-1, 1, 1)
        p = principal
        v = torch.stack(
            torch.broadcast_tensors(p[:, 0, None, None] - x, p[:, 1, None, None] - y, f), 1
        )
        return _unit(v)

    def _lighting(self, B, g):
        """SH9 radiance coefficients (B,9,3), env index/rotation (-1: none), directional lights."""
        dev = self.device
        kind = uniform((B,), g)
        have_env = self.env_sh.shape[0] > 0
        use_env = (kind < 0.65) & have_env
        studio = kind >= 0.88
        # Random SH: a coloured constant, a directional band-1 term, some band-2 structure.
        tint = 1 + 0.3 * (uniform((B, 3), g) - 0.5)
        dc = tint / 0.886
        d1 = F.normalize(torch.randn((B, 3), generator=g, device=g.device), dim=1)
        d1 = d1 * (0.8 * uniform((B, 1), g))  # |band 1| < band 0 keeps E mostly positive
        coeffs = torch.zeros(B, 9, 3, device=dev)
        coeffs[:, 0] = dc
        coeffs[:, 1:4] = (d1[:, [1, 2, 0], None] * dc[:, None, :]) * (0.886 / 1.023)
        coeffs[:, 4:] = (
            0.25
            * torch.randn((B, 5, 1), generator=g, device=g.device)
            * dc[:, None, :]
            * uniform((B, 1, 1), g)
        )
        coeffs = torch.where(
            studio.view(B, 1, 1),
            coeffs
            * torch.cat(
                [torch.ones(B, 1, 1, device=dev) * 0.3, torch.ones(B, 8, 1, device=dev) * 0.1], 1
            ),
            coeffs,
        )
        env_idx = torch.full((B,), -1, dtype=torch.long, device=dev)
        rot = torch.zeros(B, device=dev)
        if have_env:
            e = (uniform((B,), g) * self.env_sh.shape[0]).long().clamp(max=self.env_sh.shape[0] - 1)
            r = (uniform((B,), g) * ROTATIONS).long().clamp(max=ROTATIONS - 1)
            env_coeffs = self.env_sh[e, r]
            scale = (
                1.0 / env_coeffs[:, 0].mean(1).clamp_min(1e-6)[:, None, None] * 0.282 / 0.886 * 3.5
            )
            coeffs = torch.where(use_env.view(B, 1, 1), env_coeffs * scale, coeffs)
            env_idx = torch.where(use_env, e, env_idx)
            rot = r.float() * 360.0 / ROTATIONS
            self._env_scale = scale[:, 0, 0]
        # Directional lights, mostly in front and above, with warm/cool tints.
        count = torch.where(
            studio,
            1 + (uniform((B,), g) < 0.5).long(),
            (uniform((B,), g) * 2.99).long() * (uniform((B,), g) < 0.6).long(),
        )
        az = (uniform((B, MAX_LIGHTS), g) - 0.5) * 2 * math.radians(110)
        el = math.radians(-25) + uniform((B, MAX_LIGHTS), g) * math.radians(90)
        dirs = torch.stack(
            [torch.sin(az) * torch.cos(el), torch.sin(el), torch.cos(az) * torch.cos(el)], -1
        )
        ambient = (
            sh9_irradiance(torch.tensor([0.0, 0.0, 1.0], device=dev).expand(B, 3), coeffs)
            .mean(1)
            .clamp_min(1e-3)
        )
        strength = (
            torch.exp(math.log(0.4) + uniform((B, MAX_LIGHTS), g) * math.log(4.0 / 0.4))
            * ambient[:, None]
        )
        strength = torch.where(studio[:, None], strength * 3, strength)
        active = torch.arange(MAX_LIGHTS, device=dev)[None] < count[:, None]
        colour = 1 + 0.25 * (uniform((B, MAX_LIGHTS, 1), g) - 0.5) * torch.tensor(
            [1.0, 0.0, -1.0], device=dev
        )
        ints = strength[..., None] * colour * active[..., None]
        return coeffs, env_idx, rot, dirs, ints

    def _background(self, B, g, env_idx, rot, view, coeffs):
        S, dev = self.size, self.device
        level = (
            sh9_irradiance(
                torch.tensor([0.0, 0.0, 1.0], device=dev).expand(B, 3), coeffs
            ).clamp_min(1e-3)
            / math.pi
        )
        level = level * torch.exp((uniform((B, 1), g) - 0.5) * 2.0)
        # Out-of-focus texture: random_albedo at low resolution, upsampled (blurred) to S.
        low = max(8, S // (2 + int(uniform((1,), g) * 6)))
        tex = F.interpolate(
            random_albedo(B, low, low, g), (S, S), mode="bilinear", align_corners=False
        )
        grad = torch.linspace(1.2, 0.8, S, device=dev).view(1, 1, S, 1)
        plain = (0.3 + 0.7 * uniform((B, 3, 1, 1), g)) * grad
        kind = uniform((B, 1, 1, 1), g)
        bg = torch.where(kind < 0.6, tex, plain) * level[..., None, None]
        if self.env_small.shape[0] > 0:
            # Real places behind the head: the HDRI seen through a lens 1-4x wider than the
            # portrait's, so buildings, trees and windows show up as in-focus structure, and
            # blended toward the blurred copy for depth of field.
            idx = env_idx.clamp_min(0)
            widen = 1 + 3 * uniform((B, 1, 1, 1), g)
            wide = _unit(torch.cat([-view[:, :2] * widen, -view[:, 2:]], 1))
            sharp = env_lookup(self.env_plates[idx], wide, rot)
            blurry = env_lookup(self.env_small[idx], -view, rot)
            plate = torch.lerp(sharp, blurry, uniform((B, 1, 1, 1), g) ** 2)
            plate = plate * self._env_scale.view(B, 1, 1, 1)
            bg = torch.where(
                (env_idx >= 0).view(B, 1, 1, 1) & (uniform((B, 1, 1, 1), g) < 0.7), plate, bg
            )
        return self._clutter(bg, g, level)

    def _clutter(self, bg, g, level, boxes: int = 3):
        """Up to ``boxes`` textured panels in front of the backdrop (curtains with folds, flags,
        furniture, doors), so the mask cannot be learned as 'whatever is not smooth'."""
        B, _, S, _ = bg.shape
        dev = self.device
        x = (torch.arange(S, device=dev) + 0.5).view(1, 1, S) / S
        y = (torch.arange(S, device=dev) + 0.5).view(1, S, 1) / S
        for _ in range(boxes):
            lo = uniform((B, 2), g) * 1.2 - 0.2
            hi = lo + 0.1 + 0.9 * uniform((B, 2), g)
            inside = ((x > lo[:, 0, None, None]) & (x < hi[:, 0, None, None])
                      & (y > lo[:, 1, None, None]) & (y < hi[:, 1, None, None])).unsqueeze(1)
            present = (uniform((B, 1, 1, 1), g) < 0.35)
            freq = 6 + 40 * uniform((B, 1, 1, 1), g)
            folds = 0.75 + 0.25 * torch.sin(
                2 * math.pi * freq * x.unsqueeze(1) + 6 * uniform((B, 1, 1, 1), g)
            )
            folds = torch.where(uniform((B, 1, 1, 1), g) < 0.5, folds, torch.ones_like(folds))
            texture = F.interpolate(
                random_albedo(B, S // 4, S // 4, g), (S, S), mode="bilinear", align_corners=False
            )
            panel = texture * folds * level[..., None, None] * (0.5 + uniform((B, 1, 1, 1), g))
            bg = torch.where(inside & present, panel, bg)
        return bg

    def _windows(self, geo: dict, principal: torch.Tensor, g) -> tuple[dict, torch.Tensor]:
        """Training-size windows of full-frame samples, each centred on a random person pixel
        (moved inside the frame), and the optical axis in window pixels (x right, y up)."""
        S, full = self.size, geo["labels"].shape[-1]
        person = (geo["coverage"].float() > 0.5).flatten(1).float() + 1e-6
        centre = torch.multinomial(person, 1, generator=g)[:, 0]
        corners = list(zip((centre // full - S // 2).clamp(0, full - S).tolist(),
                           (centre % full - S // 2).clamp(0, full - S).tolist(), strict=True))
        out = {k: torch.stack([v[b, :, y:y + S, x:x + S] for b, (y, x) in enumerate(corners)])
               for k, v in geo.items()}
        shift = torch.tensor([[x, full - S - y] for y, x in corners], dtype=torch.float32,
                             device=principal.device)
        return out, principal - shift

    def _bystanders(self, bg, g, coeffs):
        """Another person behind, off to one side and smaller, in some samples: group photos
        and podiums put faces and suits next to the subject, and the mask must leave them out.
        (Not in body windows: the bank's people are full frames, not window-sized.)"""
        B, S = bg.shape[0], self.size
        if self.window:
            return bg
        present = uniform((B,), g) < BYSTANDER_SHARE
        pick = torch.nonzero(present).flatten()
        if pick.numel() == 0:
            return bg
        n = pick.numel()
        other = (uniform((n,), g) * len(self)).long().clamp(max=len(self) - 1)
        geo = {
            k: self.geo[k][other].float()
            for k in ("normals", "canonical", "labels", "coverage", "ao")
        }
        albedo = portrait_albedo(geo["canonical"], geo["labels"], g)["albedo"]
        irr = (
            sh9_irradiance(geo["normals"].permute(0, 2, 3, 1), coeffs[pick])
            .permute(0, 3, 1, 2)
            .clamp_min(0)
        )
        person = albedo * irr * geo["ao"] / math.pi * (0.3 + 0.9 * uniform((n, 1, 1, 1), g))
        # Output -> source coordinates: smaller (further back), shifted sideways and down.
        scale = 0.55 + 0.5 * uniform((n,), g)
        side = torch.where(uniform((n,), g) < 0.5, -1.0, 1.0)
        shift_x, shift_y = side * (0.5 + 0.4 * uniform((n,), g)), 0.35 * uniform((n,), g)
        theta = torch.zeros(n, 2, 3, device=self.device)
        theta[:, 0, 0] = theta[:, 1, 1] = 1 / scale
        theta[:, 0, 2], theta[:, 1, 2] = -shift_x / scale, -shift_y / scale
        grid = F.affine_grid(theta, (n, 4, S, S), align_corners=False)
        layer = F.grid_sample(
            torch.cat([person * geo["coverage"], geo["coverage"]], 1), grid, align_corners=False
        )
        out = bg.clone()
        out[pick] = bg[pick] * (1 - layer[:, 3:]) + layer[:, :3]
        return out

    def _soft_focus(self, x, g):
        """Blur the whole frame in SOFT_SHARE of the samples. Without it the network learned
        'sharp = person, soft = backdrop' (the backdrops are out of focus): a 1 px blur of a
        held-out image dropped its mask IoU from 0.95 to 0.34, and real photos are often soft."""
        B, scale = x.shape[0], self.size / 128
        sigma = (SOFT_SIGMA[0] + (SOFT_SIGMA[1] - SOFT_SIGMA[0]) * uniform((B, 1), g)) * scale
        soft = (uniform((B,), g) < SOFT_SHARE).view(B, 1, 1, 1)
        blurred = _gauss_blur(x, sigma.expand(B, x.shape[1]), math.ceil(3 * SOFT_SIGMA[1] * scale))
        return torch.where(soft, blurred, x)

    # ------------------------------------------------------------------ sample
    def sample(self, batch: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        g, B = generator, batch
        index = (uniform((B,), g) * len(self)).long().clamp(max=len(self) - 1).to(self.device)
        geo = {
            k: self.geo[k][index]
            for k in ("normals", "depth", "canonical", "ao", "coverage", "face", "labels")
        }
        focal, principal = self.geo["focal"][index], self.geo["principal"][index]
        if self.window:
            geo, principal = self._windows(geo, principal, g)
        n = geo["normals"].float()
        cov = geo["coverage"].float()
        mask = (cov > 0.5).float()
        depth = geo["depth"].float()
        ao = geo["ao"].float()
        view = self._view_dirs(focal, principal)
        app = portrait_albedo(geo["canonical"].float(), geo["labels"], g)
        albedo = app["albedo"]

        coeffs, env_idx, rot, dirs, ints = self._lighting(B, g)
        nhwc = n.permute(0, 2, 3, 1)
        irr = sh9_irradiance(nhwc, coeffs).permute(0, 3, 1, 2).clamp_min(0) * ao
        vis = cast_shadow_visibility(depth, (cov > 0.01).float(), dirs)[:, :, 0]  # (B,K,H,W)
        nl = torch.einsum("bchw,bkc->bkhw", n, dirs).clamp_min(0) * vis
        irr = irr + torch.einsum("bkhw,bkc->bchw", nl, ints)
        shading = irr / math.pi
        if self.subsurface:
            px = self.geo["px_per_cm"][index].view(B, 1)
            sigma = (
                px
                * torch.tensor([0.22, 0.11, 0.06], device=self.device)
                * (0.6 + 0.8 * uniform((B, 1), g))
            )
            w = app["skin"] * mask
            blurred = _gauss_blur(shading * w, sigma.clamp(max=3.0), 6) / _gauss_blur(
                w.expand(-1, 3, -1, -1), sigma.clamp(max=3.0), 6
            ).clamp_min(1e-4)
            shading = torch.where(w > 0, blurred, shading)
        radiance = albedo * shading
        if self.specular:
            rough = app["roughness"]
            f0 = 0.028
            spec = torch.zeros_like(shading)
            for k in range(MAX_LIGHTS):
                s = _ggx(n, view, dirs[:, k], rough) * vis[:, k : k + 1]
                spec = spec + s * ints[:, k, :, None, None]
            refl = 2 * (n * view).sum(1, keepdim=True) * n - view
            fres = f0 + (1 - f0) * (1 - (n * view).sum(1, keepdim=True).clamp(0, 1)) ** 5
            env_spec = (
                sh9_irradiance(refl.permute(0, 2, 3, 1), coeffs).permute(0, 3, 1, 2).clamp_min(0)
                / math.pi
            )
            spec = f0 * spec + fres * env_spec * ao
            radiance = radiance + app["gloss"] * spec
        bg = self._bystanders(self._background(B, g, env_idx, rot, view, coeffs), g, coeffs)
        scene = cov * radiance + (1 - cov) * bg
        if self.soften:
            scene = self._soft_focus(scene, g)
        face = geo["face"].float() * mask
        if self.camera:
            image, gain = apply_camera(scene, face, g)
        else:
            image, gain = scene, torch.ones(B, 3, device=self.device)
        out = {
            "image": image.float(),
            "normal": n * mask,
            "shading": shading * gain[..., None, None] * mask,
            "albedo": albedo * mask,
            "mask": mask,
            "face": face,
        }
        return mirror_where(out, (uniform((B,), g) < 0.5) & self.mirror)
