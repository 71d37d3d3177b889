"""Procedural albedo and gloss for portraits, painted in the face's own (canonical) frame.

Every pattern is a function of the neutral-mesh position (cm) interpolated per pixel, so lips,
brows, beard area, freckles and pores stay on the face and move with expression and pose. The
region shapes come from the ICT-FaceKit landmarks of the neutral mesh (lip contour, brow line,
eyeball centres). Skin tones span light to very dark (the Monk skin tone scale, with a redder
or yellower undertone per person); the other labels (eyes, teeth, mouth, hair, clothes) get
their own materials. Batched torch, on the generator's device.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..faces import EYE, EYE_SOCKET, EYELASHES, GUMS_TONGUE, MOUTH_SOCKET, SKIN, TEETH
from ..imaging import srgb_to_linear
from ..materials import smoothstep
from ..random import uniform
from .geometry import BODY_SKIN, HAIR, TORSO

# Monk skin tone scale (sRGB), light to dark.
MONK = torch.tensor(
    [[246, 237, 228], [243, 231, 219], [247, 234, 208], [234, 218, 186], [215, 189, 150],
     [160, 126, 86], [130, 92, 67], [96, 65, 52], [58, 49, 42], [41, 36, 32]], dtype=torch.float32
) / 255.0
# Hair colours (sRGB): black, dark brown, brown, auburn, blond, light blond, grey.
HAIR_COLOURS = (
    torch.tensor(
        [
            [25, 20, 18],
            [50, 35, 25],
            [90, 60, 38],
            [120, 55, 30],
            [170, 130, 80],
            [215, 185, 135],
            [150, 148, 145],
        ],
        dtype=torch.float32,
    )
    / 255.0
)
HAIR_WEIGHTS = torch.tensor([0.35, 0.25, 0.15, 0.06, 0.09, 0.04, 0.06])
EYEBALL_CENTRES = ((3.1, 3.6), (-3.1, 3.6))  # xy of each eyeball in the neutral mesh (cm)
SUIT_SHARE = 0.3  # torsos in a dark suit and light shirt


def noise3d(p: torch.Tensor, g: torch.Generator, freq, octaves: int = 3, lattice: int = 24,
            channels: int = 1) -> torch.Tensor:
    """(B,C,H,W) fractal value noise in [0, 1] of canonical positions p (B,3,H,W) in cm.

    ``freq`` (cycles per cm; float or (B,)) at the first octave, doubling per octave. The lattice
    is mirrored (a triangle wave on the coordinates) so noise stays continuous at any scale."""
    B = p.shape[0]
    freq = (
        torch.as_tensor(freq, dtype=p.dtype, device=p.device)
        .reshape(-1, 1, 1, 1, 1)
        .expand(B, 1, 1, 1, 1)
    )
    total, amp, norm = 0.0, 1.0, 0.0
    period = 2.0 * (lattice - 1)
    for o in range(octaves):
        off = uniform((B, 3, 1, 1), g).to(p.device) * 100.0
        u = (p * freq[..., 0] * 2**o + off).remainder(period)
        u = torch.where(u > lattice - 1, period - u, u) / (lattice - 1) * 2 - 1  # [-1, 1]
        grid = u.permute(0, 2, 3, 1)[:, None]  # (B,1,H,W,3) as (x, y, z)
        values = uniform((B, channels, lattice, lattice, lattice), g).to(p.device)
        total = (
            total + amp * F.grid_sample(values, grid, mode="bilinear", align_corners=True)[:, :, 0]
        )
        norm += amp
        amp *= 0.5
    return total / norm


def _interp(x, xs, ys):
    """Piecewise-linear interpolation of a fixed polyline (xs increasing), clamped."""
    out = torch.full_like(x, ys[0])
    for i in range(len(xs) - 1):
        t = ((x - xs[i]) / (xs[i + 1] - xs[i])).clamp(0, 1)
        out = torch.where(x >= xs[i], ys[i] + t * (ys[i + 1] - ys[i]), out)
    return out


def face_regions(c: torch.Tensor) -> dict[str, torch.Tensor]:
    """Soft (B,1,H,W) region weights from canonical positions (cm), ICT neutral landmarks."""
    x, y, z = c[:, 0:1], c[:, 1:2], c[:, 2:3]
    ax = x.abs()
    front = smoothstep(3.0, 6.0, z)
    top = _interp(ax, [0.0, 0.7, 1.7, 2.6], [-2.35, -2.3, -2.7, -3.5])
    bottom = _interp(ax, [0.0, 1.0, 1.8, 2.6], [-4.5, -4.4, -4.15, -3.5])
    lips = (
        smoothstep(0.0, 0.15, top - y)
        * smoothstep(0.0, 0.15, y - bottom)
        * smoothstep(2.8, 2.5, ax)
        * smoothstep(8.5, 9.5, z)
    )
    brow_y = _interp(ax, [0.8, 1.2, 2.4, 3.8, 4.9, 5.9], [5.8, 6.1, 6.45, 6.55, 6.25, 5.5])
    brow_half = _interp(ax, [0.8, 2.0, 5.9], [0.45, 0.4, 0.15])
    brows = (
        smoothstep(brow_half, brow_half * 0.5, (y - brow_y).abs())
        * smoothstep(0.7, 1.1, ax)
        * smoothstep(6.3, 5.8, ax)
        * front
    )
    beard = (
        smoothstep(-1.0, -1.8, y - 0.25 * ax)
        * smoothstep(-13.0, -10.0, y)
        * smoothstep(7.0, 6.0, ax)
        * smoothstep(1.0, 3.0, z)
        * (1 - lips)
    )
    def blob(cx, cy, r):
        return torch.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (r * r)) * front
    cheeks = blob(4.2, -0.5, 2.2) + blob(-4.2, -0.5, 2.2)
    nose = blob(0.0, 0.3, 1.4) * smoothstep(10.5, 12.0, z)
    under_eye = blob(3.0, 2.3, 0.9) + blob(-3.0, 2.3, 0.9)
    tzone = (
        blob(0.0, 9.0, 3.0)
        + torch.exp(-((x / 1.1) ** 2)) * smoothstep(-1.5, 0.0, y) * smoothstep(5.0, 3.5, y) * front
        + blob(0.0, -6.3, 1.5)
    )
    return {"lips": lips, "brows": brows, "beard": beard, "cheeks": cheeks, "nose": nose,
            "under_eye": under_eye, "tzone": tzone.clamp(0, 1)}


def _skin_tones(B, g):
    """(B,3) linear base skin albedo along the Monk scale, with undertone and saturation jitter."""
    t = uniform((B,), g) * (len(MONK) - 1)
    i = t.floor().long().clamp(max=len(MONK) - 2)
    f = (t - i)[:, None]
    srgb = MONK.to(g.device)[i] * (1 - f) + MONK.to(g.device)[i + 1] * f
    under = (uniform((B, 1), g) - 0.5) * 0.08  # red (+) vs yellow (-) undertone
    srgb = srgb + torch.cat([under, -0.3 * under, -under], 1) * srgb
    lin = srgb_to_linear(srgb.clamp(0, 1))
    return lin * (0.75 + 0.2 * uniform((B, 1), g))  # photos show skin brighter than its albedo


def _hair_colours(B, g):
    i = torch.multinomial(HAIR_WEIGHTS.to(g.device).expand(B, -1), 1, generator=g)[:, 0]
    srgb = HAIR_COLOURS.to(g.device)[i] * (0.8 + 0.4 * uniform((B, 1), g))
    dyed = uniform((B, 1), g) < 0.05
    srgb = torch.where(dyed, uniform((B, 3), g), srgb)
    return srgb_to_linear(srgb.clamp(0, 1))


def _cloth(B, c, g, grain):
    """(B,3,H,W) clothing: a colour or two, stripes or noise, in the torso's frame."""
    u = uniform((B, 6), g)
    sat = u[:, 1:2] ** 1.5
    base = srgb_to_linear((u[:, 2:5] * sat + (1 - sat) * u[:, 5:6]).clamp(0, 1) * 0.9 + 0.02)
    second = srgb_to_linear(uniform((B, 3), g) * 0.9 + 0.05)
    freq = 0.3 + 1.5 * uniform((B, 1, 1, 1), g)
    stripes = (torch.sin(c[:, 1:2] * freq * 6.283 + uniform((B, 1, 1, 1), g) * 6.3) > 0).float()
    kind = uniform((B, 1, 1, 1), g)
    pattern = torch.where(kind < 0.2, stripes, torch.zeros_like(stripes))
    out = base[..., None, None] * (1 - pattern) + second[..., None, None] * pattern
    out = torch.where(uniform((B, 1, 1, 1), g) < SUIT_SHARE, _suit(B, c, g), out)
    return out * (0.85 + 0.3 * grain)


def _suit(B, c, g):
    """(B,3,H,W) a dark jacket, open in a V over a light shirt, with a tie half the time: the
    clothing of official portraits, which a mask trained on plain colours drops as background."""
    u = uniform((B, 5), g)
    tint = torch.stack(
        [1 + 0.2 * (u[:, 0] - 0.5), torch.ones(B, device=g.device), 1 + 0.5 * u[:, 1]], 1
    )
    jacket = srgb_to_linear((0.04 + 0.22 * u[:, 2:3] ** 1.5) * tint)
    shirt = srgb_to_linear(torch.where(u[:, 3:4] < 0.7, torch.full((B, 3), 0.92, device=g.device),
                                       0.6 + 0.35 * uniform((B, 3), g)))
    tie = srgb_to_linear(0.1 + 0.7 * uniform((B, 3), g))
    # Torso frame (cm): x across, y up (the neckline near y = +12..16), z forward.
    x, y, front = c[:, 0:1], c[:, 1:2], c[:, 2:3] > 0
    depth = 2 + 6 * uniform((B, 1, 1, 1), g)  # where the lapels meet, cm above the torso's centre
    opening = front & (x.abs() < 0.5 * (y - depth))
    tie_strip = (
        front
        & (x.abs() < 0.9 + 0.08 * (14 - y).clamp_min(0))
        & (y > depth)
        & (u[:, 4:5, None, None] < 0.5)
    )
    out = torch.where(opening, shirt[..., None, None], jacket[..., None, None])
    return torch.where(tie_strip, tie[..., None, None], out)


def portrait_albedo(canonical: torch.Tensor, labels: torch.Tensor, g: torch.Generator,
                    skin_tone: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Albedo and gloss maps for (B,3,H,W) canonical positions and (B,1,H,W) integer labels.

    Returns ``albedo`` (B,3,H,W) linear in [0,1], ``gloss`` (B,1,H,W) specular strength (oily
    T-zone high, hair and clothes low), ``roughness`` (B,1,H,W), ``skin`` (B,1,H,W) where
    subsurface softening applies."""
    B, _, H, W = canonical.shape
    c = canonical
    dev = c.device
    r = face_regions(c)
    tone = _skin_tones(B, g) if skin_tone is None else skin_tone
    base = tone[..., None, None].expand(B, 3, H, W)

    half = F.avg_pool2d(c, 2) if H % 2 == 0 and W % 2 == 0 else c
    low = noise3d(half, g, 0.25 + 0.2 * uniform((B,), g), 3, channels=3)
    low = (
        F.interpolate(low, (H, W), mode="bilinear", align_corners=False)
        if low.shape[-1] != W
        else low
    )
    mid = noise3d(c, g, 2.5 + 2 * uniform((B,), g), 1, channels=3)
    high = noise3d(c, g, 7.0, 1, channels=2)
    red = srgb_to_linear(torch.tensor([0.75, 0.35, 0.35], device=dev))[None, :, None, None]
    blotch = low[:, 0:1]
    redness = (0.15 + 0.35 * uniform((B, 1, 1, 1), g)) * (
        r["cheeks"] + 0.7 * r["nose"]
    ) + 0.3 * uniform((B, 1, 1, 1), g) * smoothstep(0.5, 0.8, blotch)
    skin = base * (1 - 0.35 * redness) + base * red / red.mean() * 0.35 * redness
    skin = skin * (1 - 0.25 * r["under_eye"] * uniform((B, 1, 1, 1), g))
    skin = skin * (0.9 + 0.2 * low[:, 1:2])  # low-frequency tone variation
    fine = high[:, 0:1]  # pores, visible as fine mottling
    skin = skin * (1 + 0.12 * (fine - 0.5))
    freckle_amount = (uniform((B, 1, 1, 1), g) < 0.25).float() * uniform((B, 1, 1, 1), g)
    fr = mid[:, 0:1]
    freckles = (
        smoothstep(0.72, 0.8, fr) * freckle_amount * (0.4 + r["cheeks"] + r["nose"]).clamp(max=1)
    )
    skin = skin * (
        1 - 0.45 * freckles * torch.tensor([0.6, 0.8, 1.0], device=dev)[None, :, None, None]
    )

    lip_col = (
        skin
        * srgb_to_linear(torch.tensor([0.85, 0.5, 0.5], device=dev))[None, :, None, None]
        * (1.5 + uniform((B, 1, 1, 1), g))
    )
    lip_amount = 0.5 + 0.5 * uniform((B, 1, 1, 1), g)
    skin = skin + (lip_col.clamp(max=1) - skin) * r["lips"] * lip_amount

    hair_col = _hair_colours(B, g)[..., None, None]
    brow_col = hair_col * (0.6 + 0.4 * uniform((B, 1, 1, 1), g))
    brow_dens = smoothstep(0.3, 0.6, mid[:, 1:2]) * (0.5 + 0.5 * uniform((B, 1, 1, 1), g))
    skin = skin + (brow_col - skin) * r["brows"] * brow_dens
    stubble = (uniform((B, 1, 1, 1), g) < 0.25).float() * uniform((B, 1, 1, 1), g) * 0.35
    dots = 0.5 + 0.5 * smoothstep(0.3, 0.7, high[:, 1:2])
    skin = skin + (hair_col - skin) * r["beard"] * stubble * dots

    # Eyes: sclera, iris (within ~0.6 cm of the eyeball axis, front side), pupil.
    x, y = c[:, 0:1], c[:, 1:2]
    ex = torch.where(x > 0, EYEBALL_CENTRES[0][0], EYEBALL_CENTRES[1][0])
    rad = torch.hypot(x - ex, y - EYEBALL_CENTRES[0][1])
    front = (c[:, 2:3] > 8.6).float()
    iris_r = 0.55 + 0.1 * uniform((B, 1, 1, 1), g)
    pupil_r = iris_r * (0.3 + 0.25 * uniform((B, 1, 1, 1), g))
    iris_col = srgb_to_linear(
        torch.stack(
            [
                0.25 + 0.35 * uniform((B,), g),
                0.18 + 0.35 * uniform((B,), g),
                0.1 + 0.45 * uniform((B,), g),
            ],
            1,
        )
    )
    iris_col = torch.where(
        uniform((B, 1), g) < 0.55,
        srgb_to_linear(torch.tensor([[0.3, 0.18, 0.1]], device=dev)) * (0.5 + uniform((B, 1), g)),
        iris_col,
    )
    iris = iris_col[..., None, None] * (0.7 + 0.6 * mid[:, 2:3])
    sclera = srgb_to_linear(torch.tensor([0.85, 0.8, 0.78], device=dev))[None, :, None, None] * (
        0.7 + 0.2 * uniform((B, 1, 1, 1), g)
    )
    sclera = sclera * (1 - 0.15 * smoothstep(0.9, 1.5, rad))  # vessels / shadowed rim
    in_iris = smoothstep(iris_r, iris_r - 0.06, rad) * front
    in_pupil = smoothstep(pupil_r, pupil_r - 0.04, rad) * front
    eye = sclera + (iris - sclera) * in_iris
    eye = eye * (1 - 0.95 * in_pupil)

    teeth = srgb_to_linear(torch.tensor([0.85, 0.8, 0.68], device=dev))[None, :, None, None] * (
        0.6 + 0.35 * uniform((B, 1, 1, 1), g)
    )
    gums = srgb_to_linear(torch.tensor([0.7, 0.3, 0.3], device=dev))[None, :, None, None] * (
        0.6 + 0.4 * uniform((B, 1, 1, 1), g)
    )
    socket = gums * 0.35
    lids = skin * srgb_to_linear(torch.tensor([0.95, 0.7, 0.7], device=dev))[None, :, None, None]
    lashes = hair_col * 0.5

    hair_noise = noise3d(
        c * torch.tensor([4.0, 0.4, 4.0], device=dev)[None, :, None, None], g, 2.0, 2
    )
    hair = hair_col * (0.55 + 0.9 * hair_noise)
    cloth = _cloth(B, c, g, high[:, 0:1])
    bare = (uniform((B, 1, 1, 1), g) < 0.15).float()
    torso = cloth * (1 - bare) + base * bare

    lab = labels.long()
    albedo = torch.zeros(B, 3, H, W, device=dev)
    for ids, value in (
        ((SKIN,), skin),
        ((EYE,), eye),
        ((EYE_SOCKET,), lids),
        ((MOUTH_SOCKET,), socket),
        ((GUMS_TONGUE,), gums),
        ((TEETH,), teeth),
        ((EYELASHES,), lashes),
        ((HAIR,), hair),
        ((TORSO,), torso),
        ((BODY_SKIN,), base),  # bare arms and hands: the bare torso's skin, no new draws
    ):
        sel = torch.zeros_like(lab, dtype=torch.bool)
        for i in ids:
            sel = sel | (lab == i)
        albedo = torch.where(sel, value.expand(B, 3, H, W), albedo)

    oil = low[:, 2:3]
    gloss_skin = (
        (0.5 + 0.5 * r["tzone"] + 0.3 * r["nose"])
        * (0.5 + oil)
        * (0.4 + 0.8 * uniform((B, 1, 1, 1), g))
    )
    gloss_skin = gloss_skin * (1 + 0.5 * r["lips"])
    gloss = torch.where(lab == SKIN, gloss_skin, torch.zeros_like(gloss_skin))
    gloss = torch.where(
        (lab == EYE) | (lab == TEETH) | (lab == GUMS_TONGUE), torch.full_like(gloss, 1.5), gloss
    )
    gloss = torch.where(lab == HAIR, torch.full_like(gloss, 0.5), gloss)
    gloss = torch.where(lab == TORSO, 0.2 * (1 - bare) + gloss_skin * bare, gloss)
    gloss = torch.where(lab == BODY_SKIN, gloss_skin, gloss)
    roughness = (0.3 + 0.3 * uniform((B, 1, 1, 1), g)) * (1.15 - 0.3 * oil)
    roughness = torch.where(lab == EYE, torch.full_like(roughness, 0.1), roughness)
    roughness = torch.where(
        (lab == TORSO) | (lab == HAIR), torch.full_like(roughness, 0.6), roughness
    )
    is_skin = (
        (lab == SKIN) | ((lab == TORSO) & (bare > 0)) | (lab == EYE_SOCKET) | (lab == BODY_SKIN)
    ).float()
    return {
        "albedo": albedo.clamp(0.0, 1.0),
        "gloss": gloss,
        "roughness": roughness.clamp(0.08, 0.8),
        "skin": is_skin,
    }
