"""An upper body for body-framed portraits: trunk down to the hips, two arms and two hands.

Everything is in the head's frame (cm, x across, y up, z toward the camera; the ICT head is
~20 cm tall) and is posed by the caller with the torso's rotation. Each part is a closed mesh
with its own ``canonical`` frame (the unwrinkled part in its own coordinates), so clothing
patterns and folds move with the part. Parts overlap at the joints (shoulder and elbow
spheres inside the neighbouring part); the z-buffer makes the union.

* trunk: a lathe of superellipse cross-sections whose width, depth and centre follow a
  profile from the shoulders (a rounded dome joined to the neck, as the old ellipsoid torso)
  through chest, waist and hips, with chest, belly, lower-back and seat bumps that vary;
* arms: tapered capsules (upper arm, forearm) placed by two-bone IK from a hand target drawn
  from a few pose families (hanging, hands in front, on the hips, raised, arms crossed);
* hands: a flattened palm, four finger capsules curled toward the palm and a thumb;
* folds: low-amplitude sinusoidal wrinkles on clothed surfaces, stronger at the waist and
  around the elbows, written in each part's canonical frame.

Labels: clothed parts are ``TORSO`` (painted as clothing, or bare skin in the samples whose
torso is bare); bare arms (short sleeves, sleeveless) and hands are ``BODY_SKIN``.
"""

from __future__ import annotations

import numpy as np

from ..meshes import icosphere
from ..rasterize import vertex_normals

POSES = ("hanging", "front", "hips", "raised", "crossed", "mixed")
POSE_WEIGHTS = (0.3, 0.15, 0.15, 0.12, 0.1, 0.18)


# ----------------------------------------------------------------------------- helpers
def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-9)


def _frame(axis: np.ndarray, hint: np.ndarray) -> np.ndarray:
    """(3, 3) rotation whose columns are (across, -axis, side): local -y along ``axis``, local
    x toward ``hint`` (made orthogonal to the axis)."""
    down = _unit(axis)
    x = hint - down * (hint @ down)
    if np.linalg.norm(x) < 1e-6:
        x = np.cross(down, [0.0, 0.0, 1.0]) if abs(down[2]) < 0.9 else np.array([1.0, 0, 0])
    x = _unit(x)
    z = np.cross(x, -down)
    return np.stack([x, -down, z], 1)


def _profile(s: np.ndarray, keys_s, keys_v) -> np.ndarray:
    """Smooth profile through key points: linear interpolation, then a 7 cm box filter twice
    (keeps normals free of creases at the key rows)."""
    fine = np.linspace(min(keys_s) - 10, max(keys_s) + 10, 400)
    vals = np.interp(fine, keys_s, keys_v)
    step = fine[1] - fine[0]
    k = max(1, int(round(3.5 / step)))
    kernel = np.ones(2 * k + 1) / (2 * k + 1)
    for _ in range(2):
        vals = np.convolve(np.pad(vals, k, mode="edge"), kernel, mode="valid")
    return np.interp(s, fine, vals)


def _grid_triangles(rows: int, cols: int) -> np.ndarray:
    """Triangles of a (rows, cols) vertex grid closed around the columns (a lathe)."""
    r, c = np.meshgrid(np.arange(rows - 1), np.arange(cols), indexing="ij")
    a = r * cols + c
    b = r * cols + (c + 1) % cols
    d = a + cols
    e = b + cols
    return np.concatenate([np.stack([a, d, b], -1), np.stack([b, d, e], -1)]).reshape(-1, 3)


def _folds(rng, p: np.ndarray, count: int, wavelength: tuple[float, float],
           across: float) -> np.ndarray:
    """Sum of ``count`` sinusoidal ridges over canonical points p (N, 3), unit amplitude;
    directions mostly along y (folds run across a sleeve or around the waist), ``across``
    mixes in the other axes."""
    out = np.zeros(len(p))
    for _ in range(count):
        d = _unit(np.array([0.0, 1.0, 0.0]) + across * rng.normal(size=3))
        k = 2 * np.pi / rng.uniform(*wavelength)
        ridge = np.sin(p @ d * k + rng.uniform(0, 2 * np.pi))
        out += np.sign(ridge) * np.abs(ridge) ** 0.7 / count  # slightly sharpened crests
    return out


# ----------------------------------------------------------------------------- trunk
class Trunk:
    """Profile of the trunk (cm, head frame); ``s`` is depth below the top of the shoulders."""

    def __init__(self, rng, scale: float):
        self.top = -14.0 - rng.uniform(0, 2.0)  # as the old torso: joins the ICT neck
        self.z0 = 1.0
        self.shoulder = rng.uniform(16.5, 19.5) * scale  # half-width at the shoulders
        self.slope = rng.uniform(3, 7)
        self.cap = rng.uniform(6.0, 8.0)
        self.power = rng.uniform(0.6, 0.85)  # < 1: boxy cross-sections
        self.waist_s = rng.uniform(34, 40) * scale
        self.hip_s = rng.uniform(54, 60) * scale
        self.length = self.hip_s + rng.uniform(10, 16) * scale
        chest = self.shoulder * rng.uniform(0.82, 0.92)
        waist = rng.uniform(11.5, 14.5) * scale
        hips = rng.uniform(max(waist + 1, 14.0), 17.5) * scale
        self.w_keys = ([0, 14, self.waist_s, self.hip_s, self.length],
                       [self.shoulder, chest, waist, hips, hips * 0.85])
        self.d_keys = ([0, 18, self.waist_s, self.hip_s, self.length],
                       [rng.uniform(6.5, 8.5), rng.uniform(10, 12.5), rng.uniform(8.5, 12),
                        rng.uniform(9.5, 12), rng.uniform(8.5, 10.5)])
        lean = rng.normal(0, 0.06)
        self.c_keys = ([0, self.length], [0.0, lean * self.length])
        self.chest_s = rng.uniform(16, 22) * scale
        self.bust = rng.uniform(0, 4.0) * (rng.random() < 0.6)
        self.belly = rng.uniform(0, 1) ** 2 * 7.0
        self.seat = rng.uniform(1.0, 4.0)
        self.sway = rng.uniform(0.5, 2.5)  # lower back hollow

    def half_width(self, s):
        return _profile(s, *self.w_keys)

    def half_depth(self, s):
        return _profile(s, *self.d_keys)

    def centre_z(self, s):
        return self.z0 + _profile(s, *self.c_keys)

    def front_z(self, s, x=0.0):
        """z of the front surface at depth s, about x (for placing hands in front of it)."""
        w = self.half_width(s)
        u = np.clip(np.abs(x) / np.maximum(w, 1e-6), 0, 1)
        front = self.half_depth(s) * (1 - u ** (2 / self.power)) ** (self.power / 2)
        return self.centre_z(s) + front + self._front_bumps(s, x, 1.0)

    def _front_bumps(self, s, x, front):
        chest = self.bust * np.exp(-(((s - self.chest_s) / 6.0) ** 2)) * (
            np.exp(-((np.abs(x) - 8.0) ** 2) / 30.0)
        )
        belly = self.belly * np.exp(-(((s - self.waist_s - 5) / 10.0) ** 2)) * np.exp(
            -(x**2) / 150.0
        )
        return (chest + belly) * front

    def mesh(self, rng, rows: int = 72, cols: int = 64):
        """(vertices, triangles, canonical) of the trunk, folds included."""
        u = (1 - np.cos(np.linspace(0, np.pi, rows))) / 2  # rows dense at both poles
        s = u * self.length
        bottom_cap = 9.0
        below = np.sqrt(1 - (1 - np.minimum((self.length - s) / bottom_cap, 1)) ** 2)
        # The top is flat across (a superellipse dome: the ICT neck flares out to +-12 cm and
        # must sink into it) but round front to back, a ridge from the neck to the shoulders.
        t = 1 - np.minimum(s / self.cap, 1)
        cap_w, cap_d = (1 - t**4) ** 0.25 * below, np.sqrt(1 - t**2) * below
        theta = np.linspace(0, 2 * np.pi, cols, endpoint=False)
        ct, st = np.cos(theta), np.sin(theta)
        sx = np.sign(ct) * np.abs(ct) ** self.power
        sz = np.sign(st) * np.abs(st) ** self.power
        w = (self.half_width(s) * cap_w)[:, None]
        d = (self.half_depth(s) * cap_d)[:, None]
        x = w * sx[None]
        front = np.maximum(sz, 0)[None] ** 1.5
        back = np.maximum(-sz, 0)[None] ** 1.5
        S = s[:, None]
        z = self.centre_z(S) + d * sz[None] + self._front_bumps(S, x, front) * cap_d[:, None]
        z = z - back * cap_d[:, None] * (
            self.seat * np.exp(-(((S - self.hip_s - 4) / 8.0) ** 2))
            - self.sway * np.exp(-(((S - self.waist_s) / 8.0) ** 2))
        )
        # Shoulders slope down from the neck (trapezius), fading out below the armpits.
        fade = np.clip((24 - S) / 10, 0, 1)
        y = self.top - S - self.slope * (x / self.shoulder) ** 2 * fade
        v = np.stack([x, y, z], -1).reshape(-1, 3)
        tris = _grid_triangles(rows, cols)
        # Canonical: the unwrinkled trunk with the neckline at y ~ +14 (as the old torso's
        # frame, which the suit pattern in `skin` expects), x across, z forward.
        canon = v - np.array([0.0, self.top - 14.0, self.z0])
        waist = np.exp(-(((canon[:, 1] - 14 + self.waist_s) / 7.0) ** 2))
        amp = rng.uniform(0.05, 0.2) + rng.uniform(0.15, 0.45) * waist
        wrinkles = amp * _folds(rng, canon, 4, (3.0, 7.0), 0.6)
        v = v + vertex_normals(v, tris) * wrinkles[:, None]
        return v, tris, canon


# ----------------------------------------------------------------------------- limbs
def capsule(length: float, r0: float, r1: float, rows_per_cm: float = 0.7, cols: int = 20,
            ends: int = 6):
    """Tapered capsule along local -y from the origin: per-vertex (rows, cols) grids of the axial
    coordinate, the angle around and the radius, and the triangles.

    Axial coordinate a runs from -r0 (top pole) to length + r1 (bottom pole)."""
    top = -r0 * np.cos(np.linspace(0, np.pi / 2, ends, endpoint=False))
    body = np.linspace(0, length, max(3, int(length * rows_per_cm)), endpoint=False)
    bottom = length + r1 * np.sin(np.linspace(0, np.pi / 2, ends + 1))
    a = np.concatenate([top, body, bottom])
    r = np.where(
        a < 0,
        np.sqrt(np.maximum(r0**2 - a**2, 0)),
        np.where(
            a > length,
            np.sqrt(np.maximum(r1**2 - (a - length) ** 2, 0)),
            r0 + (r1 - r0) * a / max(length, 1e-6),
        ),
    )
    phi = np.linspace(0, 2 * np.pi, cols, endpoint=False)
    ax, ph = np.meshgrid(a, phi, indexing="ij")
    return ax, ph, np.repeat(r[:, None], cols, 1), _grid_triangles(len(a), cols)


def _limb(rng, start, end, r0, r1, sleeve: float, cloth: float, fold_amp, canon_y: float):
    """One arm segment from ``start`` to ``end`` (head frame). ``sleeve``: axial length (cm)
    covered by cloth; ``cloth`` its thickness; ``fold_amp(a)`` the fold amplitude along the
    axis. Returns (vertices, triangles, labels, canonical)."""
    axis = end - start
    length = float(np.linalg.norm(axis))
    ax, ph, rad, tris = capsule(length, r0, r1)
    clothed = ax <= sleeve
    local = np.stack([np.cos(ph), -ax, np.sin(ph)], -1)  # unit radial in x, z; axial in y
    canon = local * np.stack([rad, np.ones_like(rad), rad], -1) + np.array([0.0, canon_y, 0.0])
    radius = rad + clothed * cloth * np.clip(rad / max(r0, r1), 0, 1)
    radius = radius + clothed * fold_amp(ax) * _folds(
        rng, canon.reshape(-1, 3), 3, (1.5, 3.5), 0.35
    ).reshape(ax.shape) * (rad > 0.3 * min(r0, r1))
    pts = np.stack([np.cos(ph) * radius, -ax, np.sin(ph) * radius], -1).reshape(-1, 3)
    rot = _frame(axis, np.array([1.0, 0.0, 0.0]))
    v = pts @ rot.T + start
    centre = np.asarray(ax).reshape(-1)[tris].mean(1)
    labels = np.where(centre <= sleeve, 0, 1)  # 0 clothed, 1 skin (mapped by the caller)
    return v, tris, labels, canon.reshape(-1, 3)


def _two_bone(shoulder, target, l1, l2, pole):
    """Elbow and wrist of an arm reaching for ``target``, the elbow bending toward ``pole``."""
    d = target - shoulder
    dist = float(np.clip(np.linalg.norm(d), abs(l1 - l2) + 1.0, l1 + l2 - 0.2))
    direction = _unit(d)
    wrist = shoulder + direction * dist
    a = (l1**2 - l2**2 + dist**2) / (2 * dist)
    h = np.sqrt(max(l1**2 - a**2, 0.0))
    side = pole - direction * (pole @ direction)
    side = _unit(side) if np.linalg.norm(side) > 1e-6 else _unit(np.cross(direction, [0, 0, 1.0]))
    elbow = shoulder + direction * a + side * h
    return elbow, wrist


def _hand(rng, wrist, axis, palm, side: float, size: float, canon_y: float):
    """A hand at ``wrist``: fingers along ``axis``, palm facing ``palm``. Returns parts."""
    a = _unit(axis)
    n = _unit(palm - a * (palm @ a))
    b = side * np.cross(n, a)  # thumb side: forward for hanging arms
    frame = np.stack([b, a, n], 1)  # local (across, along, palm-normal) -> head frame
    sv, st = icosphere(2)
    half = np.array([4.2, 4.8, 1.5]) * size
    palm_local = sv * half + np.array([0.0, 4.3 * size, -0.3])
    parts = [(palm_local @ frame.T + wrist, st, palm_local + [0.0, canon_y, 0.0])]
    curl = rng.uniform(0.1, 1.2)
    for i, (dx, length) in enumerate(((-3.0, 6.0), (-1.0, 7.5), (1.0, 8.0), (3.0, 7.3))):
        base = np.array([dx * size * 0.9, 8.3 * size, -0.2])
        c = curl * rng.uniform(0.8, 1.2)
        direction = np.array([dx * 0.03, np.cos(c), np.sin(c)])  # curls toward the palm
        parts.append(_finger(base, direction, length * size, 0.85 * size, frame, wrist,
                             canon_y + 10 * i))
    thumb_base = np.array([3.6 * size, 2.5 * size, 0.6])
    thumb_dir = _unit(np.array([0.6, 0.7, 0.35 + 0.4 * rng.random()]))
    parts.append(_finger(thumb_base, thumb_dir, 5.5 * size, 1.05 * size, frame, wrist,
                         canon_y + 50))
    return parts


def _finger(base, direction, length, radius, frame, wrist, canon_y):
    ax, ph, rad, tris = capsule(length, radius, radius * 0.85, rows_per_cm=1.0, cols=10, ends=3)
    pts = np.stack([np.cos(ph) * rad, -ax, np.sin(ph) * rad], -1).reshape(-1, 3)
    rot = _frame(frame @ direction, frame[:, 0])
    v = pts @ rot.T + frame @ base + wrist
    return v, tris, pts + np.array([0.0, canon_y, 0.0])


# ----------------------------------------------------------------------------- poses
def _targets(rng, trunk: Trunk, pose: str, side: float, shoulder, reach: float):
    """(hand target, elbow pole, palm-facing direction) for one arm in a pose family."""
    out = np.array([side, 0.0, 0.0])
    if pose == "hanging":
        ab = np.radians(rng.uniform(4, 18))
        swing = np.radians(rng.normal(0, 8))
        d = np.array([side * np.sin(ab), -np.cos(ab) * np.cos(swing), np.sin(swing)])
        return shoulder + d * reach * rng.uniform(0.93, 0.99), np.array([0, 0, -1.0]), -out
    if pose == "front":
        s = rng.uniform(trunk.waist_s - 6, trunk.hip_s)
        x = side * rng.uniform(0, 7)
        z = trunk.front_z(s, x) + rng.uniform(4, 10)
        target = np.array([x, trunk.top - s, z])
        return target, out + np.array([0, -0.5, -1.0]), np.array([-side, 0.3, -1.0])
    if pose == "hips":
        s = rng.uniform(trunk.waist_s + 2, trunk.hip_s - 4)
        x = side * (trunk.half_width(s) + rng.uniform(2, 4))
        target = np.array([x, trunk.top - s, trunk.centre_z(s) + rng.uniform(0, 5)])
        return target, out + np.array([0, 0, -0.6]), -out
    if pose == "raised":
        up = np.radians(rng.uniform(10, 80))  # from vertical
        d = np.array([side * np.sin(up), np.cos(up), rng.uniform(-0.1, 0.5)])
        target = shoulder + _unit(d) * reach * rng.uniform(0.65, 0.98)
        return target, out + np.array([0, -1.0, -0.3]), np.array([0, 0, 1.0])
    # crossed: the hand on the other arm, in front of the chest, one arm above the other
    s = rng.uniform(22, 32) + (4 if side > 0 else 0)
    x = -side * rng.uniform(9, 15)
    z = trunk.front_z(s, 0.0) + rng.uniform(5, 9) + (3 if side > 0 else 0)
    return np.array([x, trunk.top - s, z]), out + np.array([0, -1.0, 0.4]), np.array(
        [0, 0, -1.0]
    )


def body_parts(rng, skin_label: int, cloth_label: int) -> list[tuple]:
    """Trunk, arms and hands: a list of (vertices, triangles, labels, canonical) in the head's
    frame, before the torso rotation."""
    scale = rng.uniform(0.92, 1.1)
    trunk = Trunk(rng, scale)
    parts = []
    tv, tt, tc = trunk.mesh(rng)
    parts.append((tv, tt, np.full(len(tt), cloth_label), tc))

    pose = POSES[rng.choice(len(POSES), p=POSE_WEIGHTS)]
    if pose == "mixed":  # one arm hanging, the other doing something
        other = POSES[rng.choice(5, p=[0.0, 0.3, 0.3, 0.3, 0.1])]
        poses = ["hanging", other] if rng.random() < 0.5 else [other, "hanging"]
    else:
        poses = [pose, pose]
    sleeve_kind = rng.choice(["long", "short", "none"], p=[0.55, 0.3, 0.15])
    l1, l2 = rng.uniform(27, 32) * scale, rng.uniform(23, 27) * scale
    r_top, r_elbow, r_wrist = (
        rng.uniform(4.3, 5.5) * scale,
        rng.uniform(3.4, 4.1) * scale,
        rng.uniform(2.4, 2.9) * scale,
    )
    cloth = rng.uniform(0.3, 1.3) if sleeve_kind == "long" else rng.uniform(0.2, 0.6)
    short = rng.uniform(0.3, 0.8) * l1
    elbow_folds = rng.uniform(0.15, 0.5)
    base_folds = rng.uniform(0.03, 0.12)
    hand_size = rng.uniform(0.9, 1.05) * scale
    for side, arm_pose in zip((1.0, -1.0), poses, strict=True):
        s_sh = trunk.cap + trunk.slope * 0.6
        shoulder = np.array(
            [side * (trunk.shoulder - 1.0), trunk.top - s_sh, trunk.centre_z(s_sh) - 1.0]
        )
        target, pole, palm = _targets(rng, trunk, arm_pose, side, shoulder, l1 + l2)
        elbow, wrist = _two_bone(shoulder, target, l1, l2, pole)
        upper_sleeve = {"long": 1e9, "short": short, "none": -1e9}[sleeve_kind]
        lower_sleeve = {"long": l2 - 1.0, "short": -1e9, "none": -1e9}[sleeve_kind]

        def near_elbow(a, at):
            return base_folds + elbow_folds * np.exp(-(((a - at) / 4.0) ** 2))

        for start, end, r0, r1, sleeve, at, cy in (
            (shoulder, elbow, r_top, r_elbow, upper_sleeve, l1, -8.0),
            (elbow, wrist, r_elbow, r_wrist, lower_sleeve, 0.0, -8.0 - l1),
        ):
            v, t, lab, c = _limb(
                rng, start, end, r0, r1, sleeve, cloth, lambda a, at=at: near_elbow(a, at), cy
            )
            parts.append((v, t, np.where(lab == 0, cloth_label, skin_label), c))
        axis = _unit(wrist - elbow)
        for v, t, c in _hand(rng, wrist, axis, palm, side, hand_size, -8.0 - l1 - l2):
            parts.append((v, t, np.full(len(t), skin_label), c))
    return parts
