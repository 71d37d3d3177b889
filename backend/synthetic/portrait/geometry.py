"""Rasterised portrait geometry: head, eyes, mouth, hair, shoulders (or a whole upper body).

Each sample is a random ICT-FaceKit identity, expression and head pose (``faces.FaceModel``),
a procedural hair cap (a displaced, noisy copy of the scalp, from bald to long hair), a torso
with shoulders, seen by a *perspective* camera (random distance 35-300 cm; focal length set so
the face box fills the frame as after a detector crop). Stored per pixel:

* ``normals`` true camera-frame normals (not screen-space ones), ``depth`` a height field in
  pixels at the face's distance (for cast shadows), ``labels`` (faces labels + HAIR, TORSO),
  ``face`` the metric region (visible face skin, eyes, mouth; not hair, ears or neck),
  ``canonical`` the neutral-mesh position in cm (hair: its scalp point; torso: its own frame),
  so that appearance (skin regions, 3D noise) is painted on the face and moves with it,
  ``ao`` ambient occlusion of the height field (cosine-weighted, 24 directions).
* ``framing="body"``: the upper body of `body` (trunk to the hips, arms, hands) instead of the
  shoulder ellipsoid, framed wider (labels TORSO for clothing, BODY_SKIN for bare arms/hands).
* per sample: ``focal`` and ``principal`` (pixel units, x right / y up as in ``rasterize``),
  from which the per-pixel view direction follows, and ``px_per_cm`` at the face.

Appearance and lighting are not stored: the batches (`batches`) draw them per sample. Each
sample uses ``default_rng([seed, index])``, so banks (`bank`) are prefixes of each other and
reproducible.
"""

from __future__ import annotations

import numpy as np
import torch

from ..faces import FACE_BOX, SKIN, FaceModel, head_rotation
from ..meshes import icosphere
from ..rasterize import rasterize_mesh, vertex_normals
from ..shadows import cast_shadow_visibility
from .body import body_parts

HAIR = 8
TORSO = 9  # clothing (or, in the samples whose torso is bare, skin: `skin.portrait_albedo`)
# Bare arms and hands. A label of their own rather than the per-sample ``bare`` switch, because
# one body mixes both: a clothed torso with short sleeves has cloth and skin on the same arm.
BODY_SKIN = 10
NUM_LABELS = 11
FRAMINGS = ("face", "body")
BODY_FILL = (0.12, 0.35)  # face box / frame side in body framing (log-uniform); no legs yet,
# so a smaller face would show the figure ending at the hips inside the frame
NECK_PIVOT = np.array([0.0, -9.0, -1.0])  # heads turn about the neck, not the skull centre
HEAD_AXIS_Z = 1.5  # z of the skull's vertical axis in the neutral mesh (hairline angles)
_FACE_LABELS = (1, 2, 3, 4, 5, 6, 7)


# ----------------------------------------------------------------------------- hair
def _subdivide(tris: np.ndarray, *attrs: np.ndarray):
    """One midpoint subdivision of a triangle subset; per-vertex attrs are averaged."""
    edges = np.sort(np.concatenate([tris[:, [0, 1]], tris[:, [1, 2]], tris[:, [2, 0]]]), axis=1)
    uniq, inv = np.unique(edges, axis=0, return_inverse=True)
    n = len(attrs[0])
    out = [np.concatenate([a, a[uniq].mean(1)]) for a in attrs]
    m = inv.reshape(3, -1) + n
    a, b, c = tris.T
    new = np.concatenate(
        [
            np.stack(t, 1)
            for t in ((a, m[0], m[2]), (m[0], b, m[1]), (m[2], m[1], c), (m[0], m[1], m[2]))
        ]
    )
    return new, out


def _hairline(rng, canon: np.ndarray, style: str) -> tuple[np.ndarray, float]:
    """Per-vertex hairline height (cm) around the head, and the front hairline height."""
    theta = np.arctan2(canon[:, 0], canon[:, 2] - HEAD_AXIS_Z)
    a = np.abs(theta) / np.pi  # 0 front, 0.5 sides, 1 back
    fringe = style in ("medium", "long") and rng.random() < 0.4
    front = rng.uniform(5.5, 8.5) if fringe else rng.uniform(9.0, 11.8)
    side = rng.uniform(-9, -4) if style == "long" else rng.uniform(1.0, 4.5)
    back = rng.uniform(-16, -10) if style == "long" else rng.uniform(-7.0, -3.0)
    t1 = np.clip((a - 0.2) / 0.3, 0, 1)
    t2 = np.clip((a - 0.5) / 0.5, 0, 1)
    h = np.where(
        a < 0.5, front + (side - front) * (3 * t1**2 - 2 * t1**3), side + (back - side) * t2
    )
    for k, amp in ((2, 0.6), (5, 0.4), (13, 0.25), (31, 0.2)):  # wavy line, then strand tips
        h = h + amp * np.sin(k * theta + rng.uniform(0, 2 * np.pi))
    return h, front


def _hair(rng, model: FaceModel, verts: np.ndarray):
    """Hair mesh (vertices, triangles, canonical) over the scalp of the unposed mesh, or None."""
    style = rng.choice(["bald", "short", "medium", "long"], p=[0.07, 0.3, 0.38, 0.25])
    if style == "bald":
        return None
    canon = model.neutral.astype(np.float64)
    skin = model.triangles[model.labels == SKIN]
    normals = vertex_normals(verts, skin)
    line, front = _hairline(rng, canon, style)
    # The face itself is never covered by the cap (long hair hangs beside it, not on it).
    in_face = (canon[:, 2] > 3.0) & (canon[:, 1] < front) & (np.abs(canon[:, 0]) < 6.8)
    inside = (canon[:, 1] > line) & ~in_face
    tris = skin[inside[skin].any(1)]
    if len(tris) == 0:
        return None
    used = np.unique(tris)
    remap = np.full(len(canon), -1)
    remap[used] = np.arange(len(used))
    tris = remap[tris]
    v, c, n, d = verts[used], canon[used], normals[used], (canon[:, 1] - line)[used]
    tris, (v, c, n, d) = _subdivide(tris, v, c, n, d)
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-9)

    thick = {
        "short": rng.uniform(0.15, 0.6),
        "medium": rng.uniform(0.7, 2.2),
        "long": rng.uniform(0.8, 2.5),
    }[style]
    ramp = np.clip(d / 1.5, 0.0, 1.0)
    theta = np.arctan2(c[:, 0], c[:, 2] - HEAD_AXIS_Z)
    lumps = 1.0 + 0.25 * np.sin(3 * theta + rng.uniform(0, 6.3)) * np.sin(
        0.4 * c[:, 1] + rng.uniform(0, 6.3)
    )
    strands = 1.0 + 0.06 * np.sin(40 * theta + 3 * np.sin(0.7 * c[:, 1]))
    t = 0.06 + thick * ramp * lumps * strands + 0.6 * thick * np.clip((c[:, 1] - 8) / 4, 0, 1)
    v = v + n * t[:, None]
    if style == "long":  # hangs straight down from the widest part of the skull
        r = np.hypot(v[:, 0], v[:, 2] - HEAD_AXIS_Z)
        low = np.clip((2.0 - c[:, 1]) / 4.0, 0, 1)
        target = np.maximum(r, (8.5 + thick) * low + r * (1 - low))
        scale = target / np.maximum(r, 1e-6)
        v[:, 0] *= scale
        v[:, 2] = HEAD_AXIS_Z + (v[:, 2] - HEAD_AXIS_Z) * scale
    keep = (d > 0)[tris].any(1)
    return v, tris[keep], c


# ----------------------------------------------------------------------------- torso
def _torso(rng):
    """Shoulders and chest below the neck (cm, head frame), with its own canonical frame."""
    sv, st = icosphere(4)
    half_w, ry, rz = rng.uniform(16, 23), rng.uniform(12, 16), rng.uniform(9, 12)
    p = sv.astype(np.float64)
    slope = rng.uniform(3, 7)
    x = half_w * np.sign(p[:, 0]) * np.abs(p[:, 0]) ** 0.6  # square shoulders
    y = ry * p[:, 1] - slope * p[:, 0] ** 2 * (p[:, 1] > -0.3)
    z = rz * p[:, 2]
    canon = np.stack([x, y, z], 1)
    wrinkles = sum(
        rng.uniform(0.05, 0.25)
        * np.sin(canon @ rng.normal(size=3) * rng.uniform(0.2, 0.6) + rng.uniform(0, 6.3))
        for _ in range(4)
    )
    v = canon + sv * wrinkles[:, None]
    top = -14.0 - rng.uniform(0, 2.0)
    v = v + np.array([0.0, top - ry, 1.0])
    return v, st, canon


# ----------------------------------------------------------------------------- one sample
def sample_pose(rng):
    """(yaw, pitch, roll) in radians: mostly frontal, some strong profiles."""
    yaw = rng.normal(0, 22) if rng.random() < 0.8 else rng.uniform(-60, 60)
    return np.radians(
        [
            np.clip(yaw, -60, 60),
            np.clip(rng.normal(0, 10), -25, 25),
            np.clip(rng.normal(0, 7), -18, 18),
        ]
    )


def build_portrait(rng: np.random.Generator, size: int, model: FaceModel,
                   view_turn: np.ndarray | None = None, framing: str = "face") -> dict:
    """One portrait's buffers (see the module docstring). ``view_turn`` (3, 3), for benchmarks:
    the whole scene turned about the camera by it, so the head is seen off the optical axis, as
    an off-centre face in a wide photo is (training keeps the head on the axis).

    ``framing="face"`` (default): the face box fills 35-75% of the frame over the shoulder
    ellipsoid (`_torso`); its random draws are those of the first engine, so cached banks and
    validation sets reproduce. ``framing="body"``: trunk, arms and hands (`body`) under a face
    box filling 12-35% of the frame, the head in the upper part, at a plausible field of view."""
    if framing not in FRAMINGS:
        raise ValueError(f"framing must be one of {FRAMINGS}, got {framing!r}")
    identity = rng.normal(size=len(model.identity)).astype(np.float32) * rng.uniform(0.8, 1.2)
    head = model.mesh(identity, model.sample_expression(rng)).astype(np.float64)
    canon_head = model.neutral.astype(np.float64)
    yaw, pitch, roll = sample_pose(rng)
    rot = head_rotation(yaw, pitch, roll)
    torso_rot = head_rotation(0.3 * yaw + np.radians(rng.normal(0, 8)), 0.0, 0.3 * roll)

    parts = [(head, model.triangles, model.labels.astype(np.int64), canon_head, rot)]
    hair = _hair(rng, model, head)
    if hair is not None:
        parts.append((hair[0], hair[1], np.full(len(hair[1]), HAIR), hair[2], rot))
    if framing == "body":
        parts += [(v, t, lab, c, torso_rot) for v, t, lab, c in body_parts(rng, BODY_SKIN, TORSO)]
    else:
        tv, tt, tc = _torso(rng)
        parts.append((tv, tt, np.full(len(tt), TORSO), tc, torso_rot))

    verts, tris, labels, canon, normals, offset = [], [], [], [], [], 0
    for v, t, lab, c, r in parts:
        posed = (v - NECK_PIVOT) @ r.T + NECK_PIVOT
        verts.append(posed)
        normals.append(vertex_normals(posed, t))
        tris.append(t + offset)
        labels.append(lab)
        canon.append(c)
        offset += len(v)
    verts, tris, labels = np.concatenate(verts), np.concatenate(tris), np.concatenate(labels)
    canon, normals = np.concatenate(canon), np.concatenate(normals)

    # Perspective camera on the +z axis at distance D from the head; focal length and principal
    # point frame the face box like a detector crop (a crop is an off-centre principal point).
    if framing == "body":
        fill = float(np.exp(rng.uniform(*np.log(BODY_FILL))))
        distance = _body_distance(rng, verts[model.face_vertices], fill)
    else:
        distance = float(np.exp(rng.uniform(np.log(35.0), np.log(300.0))))
    cam = verts + np.array([0.0, 0.0, -distance])
    if view_turn is not None:
        cam, normals, rot = cam @ view_turn.T, normals @ view_turn.T, view_turn @ rot
    w = -cam[:, 2]
    proj = cam[:, :2] / w[:, None]
    fa = proj[model.face_vertices]
    lo, hi = fa.min(0), fa.max(0)
    if framing != "body":
        fill = rng.uniform(0.9, 1.4) if rng.random() < 0.15 else rng.uniform(0.35, 0.75)
    focal = fill * size / max((hi - lo).max(), 1e-9)
    half = (hi - lo) * focal / 2
    if framing == "body":
        centre = _body_centre(rng, half, size)
    else:
        lo_c, hi_c = np.minimum(half, size - half), np.maximum(half, size - half)
        centre = rng.uniform(lo_c, hi_c)
    principal = centre - (lo + hi) / 2 * focal  # pixel position of the optical axis
    pix = np.empty_like(cam)
    pix[:, :2] = proj * focal + principal
    inv = 1.0 / w
    pix[:, 2] = focal * distance * (inv - inv.min())  # affine in screen space: exact z-buffer
    buf = rasterize_mesh(
        pix, tris, (size, size), vertex_normals=normals, labels=labels, attributes=canon
    )

    lab = buf.labels.astype(np.uint8)
    c = buf.attributes
    (x0, x1), (y0, y1) = FACE_BOX
    in_box = (
        (c[..., 0] >= x0)
        & (c[..., 0] <= x1)
        & (c[..., 1] >= y0)
        & (c[..., 1] <= y1)
        & (c[..., 2] > 2.5)
    )
    face = np.isin(lab, _FACE_LABELS) & in_box
    normals_px = buf.normals
    if (lab == HAIR).any():
        normals_px = _hair_strands(rng, normals_px, c, lab == HAIR, rot)
    return {
        "normals": normals_px,
        "depth": buf.depth,
        "labels": lab,
        "face": face,
        "canonical": c,
        "ao": ambient_occlusion(buf.normals, buf.depth, buf.mask),
        "focal": np.float32(focal),
        "principal": principal.astype(np.float32),
        "px_per_cm": np.float32(focal / distance),
    }


def _body_distance(rng, face: np.ndarray, fill: float) -> float:
    """Camera distance (cm) that frames the face at ``fill`` under a 30-80 degree field of
    view: a full body at 35 cm would need a fisheye, and a phone's wide lens or a portrait
    lens is what body shots are taken with."""
    extent = float((face.max(0) - face.min(0))[:2].max())
    fov = np.radians(rng.uniform(30.0, 80.0))
    # At least 50 cm: hands held forward stay well in front of the camera.
    return float(np.clip(extent / (fill * 2 * np.tan(fov / 2)), 50.0, 600.0))


def _body_centre(rng, half: np.ndarray, size: int) -> np.ndarray:
    """Pixel centre (x right, y up) of the face box in body framing: across anywhere the face
    fits, up in the upper part of the frame (the body below fills the rest)."""
    x = rng.uniform(min(half[0], size / 2), max(size - half[0], size / 2))
    top = size - 1.3 * half[1]  # room for the hair above the face box
    y = min(rng.uniform(0.58, 0.85) * size, top)
    return np.array([x, max(y, half[1])])


def _hair_strands(rng, normals, canon, hair, rot):
    """Tilt hair normals across the strand direction (strands run down the head)."""
    theta = np.arctan2(canon[..., 0], canon[..., 2] - HEAD_AXIS_Z)
    wavelength = rng.uniform(0.25, 0.6)
    u = theta * 8.0 / wavelength * 2 * np.pi + 2.0 * np.sin(
        0.8 * canon[..., 1] + rng.uniform(0, 6.3)
    )
    up = rot @ np.array([0.0, 1.0, 0.0])
    across = np.cross(normals, up)
    across /= np.maximum(np.linalg.norm(across, axis=-1, keepdims=True), 1e-6)
    ripple = 0.7 * np.sin(u) + 0.3 * np.sin(2.7 * u + 5 * np.sin(1.3 * canon[..., 1]))
    tilted = normals + rng.uniform(0.1, 0.3) * ripple[..., None] * across
    tilted /= np.maximum(np.linalg.norm(tilted, axis=-1, keepdims=True), 1e-6)
    return np.where(hair[..., None], tilted, normals).astype(np.float32)


def _hemisphere_directions(count: int = 24) -> np.ndarray:
    """Fibonacci directions over the +z hemisphere, polar angle up to ~80 degrees."""
    i = np.arange(count) + 0.5
    z = 1.0 - i / count * (1 - np.cos(np.radians(80)))
    phi = i * np.pi * (3 - 5**0.5)
    r = np.sqrt(1 - z * z)
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], 1).astype(np.float32)


def ambient_occlusion(normals: np.ndarray, depth: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(H, W) uint8 cosine-weighted visibility of the sky over the height field (255 = open).

    Visibility is computed at half resolution (it is smooth; this is the bank's main cost) and
    combined with the full-resolution normals."""
    dirs = torch.from_numpy(_hemisphere_directions(16))
    H, W = depth.shape
    d = torch.from_numpy(depth.astype(np.float32))[None, None]
    m = torch.from_numpy(mask.astype(np.float32))[None, None]
    half = (max(1, H // 2), max(1, W // 2))
    dh = torch.nn.functional.interpolate(d, half, mode="area") * (half[0] / H)
    mh = torch.nn.functional.interpolate(m, half, mode="area")
    dh = dh / mh.clamp_min(1e-6)  # average of masked depths only
    vis = cast_shadow_visibility(dh, (mh > 0.5).float(), dirs[None], bias_px=0.5, penumbra_px=1.5)[
        0
    ]
    # (K,H,W)
    vis = torch.nn.functional.interpolate(vis.permute(1, 0, 2, 3), (H, W), mode="bilinear")[0]
    cos = (torch.from_numpy(normals.astype(np.float32)) @ dirs.T).clamp_min(0).permute(2, 0, 1)
    ao = (vis * cos).sum(0) / cos.sum(0).clamp_min(1e-6)
    ao = torch.where(m[0, 0] > 0, ao, torch.ones_like(ao))
    return (ao.clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()
