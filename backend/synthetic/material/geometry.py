"""Height fields of flat surfaces, one function per family, batched in torch.

Every family returns a `Relief`: the height in pixels (larger = closer to the camera), a segment
id per pixel (one brick, stone, plank or thread; used to colour segments) and a "cavity" map in
[0, 1] (mortar, gaps, cracks, furrows), which the appearance may colour as dirt or leave alone.

Why the families look the way they do: a real wall or floor is a plane with sparse relief. Most
of a brick's face is flat; the slope lives in the mortar bevels, a crack is a thin groove, plaster
undulates by a few degrees. So heights here are mostly plateaus with steep but narrow edges, the
amplitude of each family is drawn over a wide range (down to nearly flat), and `FLAT` is a family
of its own: a painted, printed or stained surface whose only relief is a faint grain.

Sizes are in pixels and drawn log-uniformly, so a network sees bricks 12 px and 120 px high and
cannot tie relief to one scale. Patterns are rotated and offset at random.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..materials import smoothstep
from ..random import uniform

FAMILIES = ("bricks", "tiles", "cobbles", "gravel", "cracks", "bark", "wood", "weave", "plaster",
            "noise", "flat")
LATTICE = 64  # cells of the random tables behind noise and cell ids (patterns repeat after it)


@dataclass
class Relief:
    height: torch.Tensor  # (B, 1, H, W) pixels
    segment: torch.Tensor  # (B, 1, H, W) long, an id per brick / stone / plank / thread
    cavity: torch.Tensor  # (B, 1, H, W) in [0, 1]


# ----------------------------------------------------------------------------- helpers


def _coords(B, H, W, g, angle=None):
    """Pixel coordinates (B, H, W) x right, y down, turned by ``angle`` (B,) about a random point
    and shifted by a random offset, so two samples never share a pattern's phase."""
    dev = g.device
    y, x = torch.meshgrid(torch.arange(H, device=dev, dtype=torch.float32),
                          torch.arange(W, device=dev, dtype=torch.float32), indexing="ij")
    x, y = x.expand(B, H, W), y.expand(B, H, W)
    if angle is None:
        angle = uniform((B,), g) * 2 * math.pi
    c, s = torch.cos(angle).view(B, 1, 1), torch.sin(angle).view(B, 1, 1)
    offset = uniform((B, 2, 1, 1), g) * 4096
    return c * x - s * y + offset[:, 0], s * x + c * y + offset[:, 1]


def _axis_angle(B, g, jitter_deg=4.0):
    """Mostly axis-aligned patterns (walls are photographed square on), a few turned."""
    quarter = (uniform((B,), g) * 4).floor() * (math.pi / 2)
    jitter = (uniform((B,), g) - 0.5) * 2 * math.radians(jitter_deg)
    free = uniform((B,), g) < 0.15
    return torch.where(free, uniform((B,), g) * 2 * math.pi, quarter + jitter)


def log_uniform(shape, lo, hi, g):
    return torch.exp(math.log(lo) + uniform(shape, g) * math.log(hi / lo))


def lattice_noise(u, v, g, size=LATTICE):
    """(B, H, W) smooth noise in about [0, 1] at lattice coordinates (u, v), one unit per cell:
    a random table, periodic, looked up bicubically."""
    B = u.shape[0]
    table = F.pad(uniform((B, 1, size, size), g), (1, 2, 1, 2), mode="circular")
    n = size + 3
    gx = (u.remainder(size) + 1.5) / n * 2 - 1
    gy = (v.remainder(size) + 1.5) / n * 2 - 1
    grid = torch.stack([gx, gy], -1)
    return F.grid_sample(table, grid, mode="bicubic", align_corners=False)[:, 0]


def fbm(u, v, g, octaves=4, persistence=0.5):
    """Fractal sum of `lattice_noise`, zero-mean, about [-0.5, 0.5]."""
    total, amp, norm = 0.0, 1.0, 0.0
    for octave in range(octaves):
        scale = 2.0**octave
        total = total + amp * (lattice_noise(u * scale + 17 * octave, v * scale, g) - 0.5)
        norm += amp
        amp *= persistence
    return total / norm


def _cell_values(ids, table):
    """Per-segment random values: ``table`` (B, LATTICE**2) gathered at ``ids`` (B, H, W)."""
    B = ids.shape[0]
    return torch.gather(table, 1, ids.reshape(B, -1) % table.shape[1]).view(ids.shape)


def voronoi(u, v, g, jitter=0.9):
    """Jittered-grid Voronoi at cell coordinates (u, v): (F1, F2, id) per pixel, distances in
    cells; id identifies the nearest seed."""
    B = u.shape[0]
    points = 0.5 + (uniform((B, LATTICE * LATTICE, 2), g) - 0.5) * jitter
    iu, iv = u.floor(), v.floor()
    f1 = torch.full_like(u, 1e9)
    f2 = torch.full_like(u, 1e9)
    best = torch.zeros_like(u, dtype=torch.long)
    for dv in (-1, 0, 1):
        for du in (-1, 0, 1):
            cu, cv = iu + du, iv + dv
            cid = (cv.remainder(LATTICE) * LATTICE + cu.remainder(LATTICE)).long()
            px = _cell_values(cid, points[..., 0]) + cu
            py = _cell_values(cid, points[..., 1]) + cv
            d = torch.sqrt((u - px) ** 2 + (v - py) ** 2)
            closer = d < f1
            f2 = torch.where(closer, f1, torch.minimum(f2, d))
            best = torch.where(closer, cid, best)
            f1 = torch.where(closer, d, f1)
    return f1, f2, best


def _table(B, g):
    return uniform((B, LATTICE * LATTICE), g)


# ----------------------------------------------------------------------------- families


def bricks(B, H, W, g, tiles=False):
    """Running-bond bricks (or square-grid tiles) with mortar grooves, bevelled edges, a small
    per-brick height, tilt and chipped face."""
    angle = _axis_angle(B, g)
    x, y = _coords(B, H, W, g, angle)
    rows = log_uniform((B, 1, 1), 10, 110, g)
    cols = rows * ((0.7 + 0.6 * uniform((B, 1, 1), g)) if tiles
                   else (1.6 + 2.4 * uniform((B, 1, 1), g)))
    v = y / rows
    row = v.floor()
    bond = 0.0 if tiles else 0.5 + (uniform((B, 1, 1), g) - 0.5) * 0.2
    u = x / cols + row * bond
    col = u.floor()
    dx = torch.minimum(u - col, col + 1 - u) * cols
    dy = torch.minimum(v - row, row + 1 - v) * rows
    # rounded corners: a soft minimum of the two edge distances
    k = 2.0
    d = -k * torch.log(torch.exp(-dx / k) + torch.exp(-dy / k))
    mortar = rows * (0.03 + 0.1 * uniform((B, 1, 1), g))
    bevel = 1.0 + rows * 0.08 * uniform((B, 1, 1), g)
    face = smoothstep(mortar, mortar + bevel, d)
    ids = (row.remainder(LATTICE) * LATTICE + col.remainder(LATTICE)).long()
    t1, t2, t3 = _table(B, g), _table(B, g), _table(B, g)
    lift = _cell_values(ids, t1) - 0.5
    tilt_a = (_cell_values(ids, t2) - 0.5) * 2
    tilt_b = (_cell_values(ids, t3) - 0.5) * 2
    local_u, local_v = (u - col - 0.5), (v - row - 0.5)
    depth = mortar * (0.5 + 1.5 * uniform((B, 1, 1), g))
    chips = fbm(x / (rows * 0.4), y / (rows * 0.4), g, 3) * uniform((B, 1, 1), g)
    top = 1.0 + 0.25 * lift + 0.15 * (tilt_a * local_u + tilt_b * local_v) + 0.6 * chips
    floor = 0.15 * fbm(x / 6, y / 6, g, 2)
    height = depth * (face * top + (1 - face) * floor)
    return Relief(height[:, None], ids[:, None], (1 - face)[:, None])


def stones(B, H, W, g, small=False):
    """Cobbles (or gravel): Voronoi cells rounded into domes, gaps between them."""
    x, y = _coords(B, H, W, g)
    size = log_uniform((B, 1, 1), 4, 14, g) if small else log_uniform((B, 1, 1), 14, 90, g)
    warp = 0.25 * uniform((B, 1, 1), g)
    u = x / size + warp * fbm(x / size, y / size, g, 2)
    v = y / size + warp * fbm(x / size + 7, y / size, g, 2)
    f1, f2, ids = voronoi(u, v, g)
    edge = (f2 - f1) / 2  # cells from the border
    gap = 0.02 + 0.08 * uniform((B, 1, 1), g)
    rounding = 0.15 + 0.35 * uniform((B, 1, 1), g)
    dome = smoothstep(gap, gap + rounding, edge)
    dome = dome.clamp_min(0) ** (0.5 + uniform((B, 1, 1), g))
    lift = _cell_values(ids, _table(B, g)) - 0.5
    rough = fbm(x / (size * 0.3), y / (size * 0.3), g, 3) * 0.3 * uniform((B, 1, 1), g)
    depth = size * (0.08 + 0.3 * uniform((B, 1, 1), g))
    height = depth * (dome * (1 + 0.3 * lift + rough))
    return Relief(height[:, None], ids[:, None], (1 - smoothstep(gap, gap + 0.1, edge))[:, None])


def cracks(B, H, W, g):
    """A plastered or paved plane with a network of thin grooves along warped Voronoi edges,
    some of them missing."""
    x, y = _coords(B, H, W, g)
    size = log_uniform((B, 1, 1), 20, 120, g)
    u = x / size + 0.4 * fbm(x / size, y / size, g, 3)
    v = y / size + 0.4 * fbm(x / size + 3, y / size, g, 3)
    f1, f2, ids = voronoi(u, v, g)
    width = (0.4 + 1.6 * uniform((B, 1, 1), g)) / size  # pixels, in cell units
    groove = 1 - smoothstep(0, width + 1.0 / size, (f2 - f1) / 2)
    keep = smoothstep(0.45, 0.55, lattice_noise(x / (size * 1.5), y / (size * 1.5), g))
    groove = groove * torch.where(uniform((B, 1, 1), g) < 0.5, keep, torch.ones_like(keep))
    depth = 0.8 + 3 * uniform((B, 1, 1), g)
    base = plaster(B, H, W, g, amplitude=0.5).height[:, 0]
    return Relief((base - depth * groove)[:, None], ids[:, None], groove[:, None])


def bark(B, H, W, g):
    """Furrowed bark: ridged noise stretched along the trunk."""
    angle = _axis_angle(B, g, jitter_deg=10)
    x, y = _coords(B, H, W, g, angle)
    across = log_uniform((B, 1, 1), 6, 40, g)
    stretch = 3 + 7 * uniform((B, 1, 1), g)
    u, v = x / across, y / (across * stretch)
    n = 0.5 + fbm(u, v, g, 3)
    ridge = 1 - (2 * n - 1).abs()
    plates = ridge.clamp(0, 1) ** (0.7 + 1.3 * uniform((B, 1, 1), g))
    detail = 0.15 * fbm(x / 3, y / 6, g, 2)
    depth = across * (0.2 + 0.6 * uniform((B, 1, 1), g))
    height = depth * (plates + detail)
    ids = (u.floor().remainder(LATTICE)).long()
    return Relief(height[:, None], ids[:, None], (1 - plates)[:, None])


def wood(B, H, W, g):
    """Boards with narrow joints; the grain is mostly colour (see appearance), with a faint
    raised-grain relief on weathered wood."""
    angle = _axis_angle(B, g, jitter_deg=3)
    x, y = _coords(B, H, W, g, angle)
    board = log_uniform((B, 1, 1), 30, 200, g)
    v = y / board
    row = v.floor()
    dy = torch.minimum(v - row, row + 1 - v) * board
    joint = 0.5 + 1.5 * uniform((B, 1, 1), g)
    face = smoothstep(joint, joint + 1.5, dy)
    ring = 2 + 10 * uniform((B, 1, 1), g)
    grain = torch.sin(2 * math.pi * (y / ring + 2.0 * fbm(x / (board * 3), y / ring / 8, g, 3)))
    weathered = (uniform((B, 1, 1), g) < 0.35).float()
    relief = 0.25 * ring / 10 * weathered * grain
    depth = 1 + 3 * uniform((B, 1, 1), g)
    height = depth * face + relief * face
    ids = row.remainder(LATTICE).long()
    return Relief(height[:, None], ids[:, None], (1 - face)[:, None])


def weave(B, H, W, g):
    """Plain-woven fabric: warp and weft threads passing over and under each other."""
    angle = _axis_angle(B, g, jitter_deg=5)
    x, y = _coords(B, H, W, g, angle)
    pitch = log_uniform((B, 1, 1), 4, 24, g)
    u, v = x / pitch, y / pitch
    iu, iv = u.floor(), v.floor()
    width = 0.7 + 0.25 * uniform((B, 1, 1), g)

    def thread(frac):  # round cross-section of a thread filling ``width`` of its pitch
        t = ((frac - 0.5) / (width / 2)).clamp(-1, 1)
        return (1 - t * t).clamp_min(0).sqrt()

    warp = thread(u - iu) * (0.5 + 0.5 * torch.cos(math.pi * (v + iu)))
    weft = thread(v - iv) * (0.5 + 0.5 * torch.cos(math.pi * (u + iv + 1)))
    height = pitch * (0.15 + 0.25 * uniform((B, 1, 1), g)) * torch.maximum(warp, weft)
    on_top = (warp > weft).long()
    ids = on_top * 2 + (iu + iv).remainder(2).long()
    return Relief(height[:, None], ids[:, None], (1 - torch.maximum(warp, weft))[:, None])


def plaster(B, H, W, g, amplitude=1.0):
    """Plaster, stucco and render: gentle undulation and, in some samples, trowelled plateaus."""
    x, y = _coords(B, H, W, g)
    size = log_uniform((B, 1, 1), 8, 80, g)
    n = fbm(x / size, y / size, g, 4, 0.45 + 0.2 * uniform((1,), g).item())
    threshold = 0.1 * (uniform((B, 1, 1), g) - 0.5)
    plateaus = smoothstep(threshold, threshold + 0.06, n) * 0.6 + 0.4 * (n + 0.5)
    stucco = uniform((B, 1, 1), g) < 0.4
    shape = torch.where(stucco, plateaus, n)
    height = amplitude * size * (0.03 + 0.15 * uniform((B, 1, 1), g)) * shape
    return Relief(height[:, None], torch.zeros_like(height, dtype=torch.long)[:, None],
                  (0.5 - n).clamp(0, 1)[:, None])


def noise(B, H, W, g):
    """Noise mixtures at one to three scales: plain, ridged or billowed."""
    x, y = _coords(B, H, W, g)
    height = torch.zeros(B, H, W, device=g.device)
    for _ in range(3):
        size = log_uniform((B, 1, 1), 3, 100, g)
        n = fbm(x / size, y / size, g, 3)
        kind = uniform((B, 1, 1), g)
        n = torch.where(kind < 0.33, n, torch.where(kind < 0.66, 0.5 - 2 * n.abs(),
                                                    2 * n.abs() - 0.5))
        on = (uniform((B, 1, 1), g) < 0.7).float()
        height = height + on * size * (0.05 + 0.3 * uniform((B, 1, 1), g)) * n
    return Relief(height[:, None], torch.zeros_like(height, dtype=torch.long)[:, None],
                  (0.5 - height / height.abs().amax((1, 2), keepdim=True).clamp_min(1e-3))
                  .clamp(0, 1)[:, None])


def flat(B, H, W, g):
    """A painted, printed or stained plane: all the pattern is in the albedo (see appearance),
    the relief a faint grain of a fraction of a pixel."""
    x, y = _coords(B, H, W, g)
    size = log_uniform((B, 1, 1), 2, 30, g)
    height = size * 0.03 * uniform((B, 1, 1), g) * fbm(x / size, y / size, g, 2)
    return Relief(height[:, None], torch.zeros_like(height, dtype=torch.long)[:, None],
                  torch.zeros_like(height)[:, None])


_BUILDERS = {
    "bricks": bricks, "tiles": lambda B, H, W, g: bricks(B, H, W, g, tiles=True),
    "cobbles": stones, "gravel": lambda B, H, W, g: stones(B, H, W, g, small=True),
    "cracks": cracks, "bark": bark, "wood": wood, "weave": weave, "plaster": plaster,
    "noise": noise, "flat": flat,
}
# Draw weights: flat surfaces and gentle plaster are common in real photos and teach restraint.
WEIGHTS = {"bricks": 1.0, "tiles": 0.8, "cobbles": 1.0, "gravel": 0.7, "cracks": 0.8,
           "bark": 0.8, "wood": 0.9, "weave": 0.7, "plaster": 1.0, "noise": 1.0, "flat": 1.3}


def relief(family: str, B: int, H: int, W: int, g: torch.Generator) -> Relief:
    """One family's relief for B samples, zero-mean height, plus a faint surface grain and a
    relief strength drawn per sample (x0.3-2.2, so every family also comes nearly flat)."""
    r = _BUILDERS[family](B, H, W, g)
    x, y = _coords(B, H, W, g)
    grain = 0.15 * uniform((B, 1, 1), g) * fbm(x / 3, y / 3, g, 2)
    strength = log_uniform((B, 1, 1, 1), 0.3, 2.2, g)
    height = r.height * strength + grain[:, None]
    height = height - height.mean((2, 3), keepdim=True)
    return Relief(height, r.segment, r.cavity)


def normals_from_height(height: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) unit normals of a height field in pixels, camera frame (x right, y up):
    n ~ (-dh/dx, +dh/drow, 1), central differences (one-sided at the border)."""
    padded = F.pad(height, (1, 1, 1, 1), mode="replicate")
    dx = (padded[..., 1:-1, 2:] - padded[..., 1:-1, :-2]) / 2
    drow = (padded[..., 2:, 1:-1] - padded[..., :-2, 1:-1]) / 2
    n = torch.cat([-dx, drow, torch.ones_like(dx)], 1)
    return n * (n * n).sum(1, keepdim=True).rsqrt()
