"""The multi-light engine's shapes: procedural families and faces, rendered to `GeometryBuffers`.

Every family is ``fn(rng, size) -> GeometryBuffers`` for a square ``size x size`` image, so the
bank builder can treat them uniformly. Meshes are built in arbitrary model units, posed, then
mapped to pixel units by :func:`fit_to_frame` with one isotropic scale (orthographic projection,
so normals are unaffected) and shifted so the farthest vertex has z = 0: depth is then >= 0 and
the 0 used outside the mask reads as "behind everything".

Surface detail is built from sums of random plane waves ``sin(w . p + phi)`` evaluated at the
vertex positions: band-limited by construction (|w| bounds the frequency), so the displacement
never exceeds what the mesh resolution can represent, and it needs no spherical-harmonic code.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..faces import FaceModel
from ..meshes import fit_to_frame, icosphere, random_rotation
from ..rasterize import GeometryBuffers, rasterize_mesh


# ----------------------------------------------------------------------------- mesh helpers
def torus(ring: float, tube: float, nu: int = 96, nv: int = 32):
    """Torus around the z axis: vertices, triangles, and the unit tube direction per vertex."""
    u, w = np.meshgrid(
        np.linspace(0, 2 * np.pi, nu, endpoint=False),
        np.linspace(0, 2 * np.pi, nv, endpoint=False),
        indexing="ij",
    )
    d = np.stack([np.cos(w) * np.cos(u), np.cos(w) * np.sin(u), np.sin(w)], -1).reshape(-1, 3)
    centre = np.stack([ring * np.cos(u), ring * np.sin(u), 0 * u], -1).reshape(-1, 3)
    i, j = np.meshgrid(np.arange(nu), np.arange(nv), indexing="ij")
    a, b = i * nv + j, ((i + 1) % nu) * nv + j
    c, e = ((i + 1) % nu) * nv + (j + 1) % nv, i * nv + (j + 1) % nv
    f = np.concatenate(
        [np.stack([a, b, c], -1).reshape(-1, 3), np.stack([a, c, e], -1).reshape(-1, 3)]
    )
    return centre + tube * d, f, d


def wave_noise(rng, points, count: int, fmin: float, fmax: float, decay: float = 1.0):
    """Sum of ``count`` random plane waves at ``points`` (N, 3), amplitude ~ f^-decay, unit std."""
    freq = rng.uniform(fmin, fmax, count)
    dirs = rng.normal(size=(count, 3))
    omega = dirs / np.linalg.norm(dirs, axis=1, keepdims=True) * freq[:, None]
    amp = freq**-decay * rng.uniform(0.5, 1.0, count)
    n = np.sin(points @ omega.T + rng.uniform(0, 2 * np.pi, count)) @ amp
    return (n - n.mean()) / max(n.std(), 1e-9)


def grooves(rng, points, count: int, fmin: float, fmax: float, width: float):
    """Narrow carved lines: a Gaussian of the phase of ``count`` plane waves, in [0, count]."""
    omega = rng.normal(size=(count, 3))
    omega *= rng.uniform(fmin, fmax, (count, 1)) / np.linalg.norm(omega, axis=1, keepdims=True)
    s = np.sin(points @ omega.T + rng.uniform(0, 2 * np.pi, count))
    return np.exp(-((s / width) ** 2)).sum(1)


# ----------------------------------------------------------------------------- families
def _level(size: int) -> int:
    return 4 if size <= 160 else 5


def blobby(rng: np.random.Generator, size: int) -> GeometryBuffers:
    """Blobby-Shape-Dataset-like blob: a sphere with a smooth random radius, posed and framed.

    The radius is ``exp(noise)`` so it stays positive (the mesh cannot fold through the centre).
    """
    d, f = icosphere(_level(size))
    noise = wave_noise(rng, d, 24, 0.5, rng.uniform(2.0, 5.0), decay=rng.uniform(0.5, 1.5))
    v = d * np.exp(rng.uniform(0.12, 0.45) * noise)[:, None]
    if rng.random() < 0.4:  # elongated
        v *= np.array([1.0, rng.uniform(0.45, 0.9), rng.uniform(0.5, 1.0)])
    v = v @ random_rotation(rng).T
    return rasterize_mesh(fit_to_frame(v, size, rng.uniform(0.4, 0.9), rng), f, (size, size))


def _sculpture_part(rng, level: int):
    """One displaced primitive (blob, ellipsoid, superquadric or torus) at unit scale."""
    kind = rng.choice(["blob", "ellipsoid", "superquadric", "torus"], p=[0.35, 0.2, 0.25, 0.2])
    if kind == "torus":
        tube = rng.uniform(0.2, 0.45)
        v, f, d = torus(1.0, tube, 48 * 2 ** (level - 4), 16 * 2 ** (level - 4))
        r = tube * np.exp(0.15 * wave_noise(rng, v, 16, 1.0, 4.0))
        r *= 1 - rng.uniform(0, 0.25) * grooves(rng, v, 2, 2.0, 5.0, rng.uniform(0.25, 0.4)) / 2
        v = v - tube * d + r[:, None] * d
    else:
        d, f = icosphere(level)
        if kind == "superquadric":
            p = rng.choice([rng.uniform(1.2, 1.8), rng.uniform(2.5, 6.0)])
            r = (np.abs(d) ** p).sum(1) ** (-1 / p)
        else:
            r = np.ones(len(d))
        low = 0.3 if kind == "blob" else 0.05
        r = r * np.exp(low * wave_noise(rng, d, 16, 0.5, 3.0))
        # Carved detail: small high-frequency bumps and a few narrow grooves.
        r = r * np.exp(
            rng.uniform(0.0, 0.04) * wave_noise(rng, d, 32, 5.0, 8.0 * 2 ** (level - 4), 0.5)
        )
        r = r * (1 - rng.uniform(0.0, 0.08) * grooves(rng, d, 3, 2.0, 6.0, rng.uniform(0.2, 0.35)))
        v = d * r[:, None]
        if kind != "blob":
            v = v * rng.uniform(0.5, 1.2, 3)
    return v @ random_rotation(rng).T, f


def sculpture(rng: np.random.Generator, size: int) -> GeometryBuffers:
    """Several displaced primitives overlapping at random poses, unioned by the z-buffer.

    Each new part is attached near an earlier one (offset smaller than their radii summed), so
    the result is one connected object with concave junctions, holes (tori) and self-occlusion.
    """
    level = _level(size)
    verts, tris, centres, radii, base = [], [], [], [], 0
    for i in range(rng.integers(2, 6)):
        v, f = _sculpture_part(rng, level)
        s = rng.uniform(0.4, 1.0)
        if i == 0:
            c = np.zeros(3)
        else:
            j = rng.integers(i)
            u = rng.normal(size=3)
            c = centres[j] + u / np.linalg.norm(u) * (radii[j] + s) * rng.uniform(0.4, 0.85)
        v = v * s + c
        centres.append(c)
        radii.append(s)
        verts.append(v)
        tris.append(f + base)
        base += len(v)
    v = np.concatenate(verts) @ random_rotation(rng).T
    return rasterize_mesh(
        fit_to_frame(v, size, rng.uniform(0.5, 0.9), rng), np.concatenate(tris), (size, size)
    )


def _smooth_noise(rng, size: int, beta: float) -> np.ndarray:
    """Gaussian random field with power spectrum ~ 1/f^beta, unit std."""
    f = np.sqrt(np.fft.fftfreq(size)[:, None] ** 2 + np.fft.rfftfreq(size)[None] ** 2)
    spec = (rng.normal(size=f.shape) + 1j * rng.normal(size=f.shape)) * np.maximum(f, 1 / size) ** (
        -beta / 2
    )
    spec[0, 0] = 0
    n = np.fft.irfft2(spec, s=(size, size))
    return n / n.std()


def _strokes(rng, size: int) -> np.ndarray:
    """Random letters, polylines and circles drawn as a [0, 1] image."""
    img = np.zeros((size, size), np.float32)
    fonts = [
        cv2.FONT_HERSHEY_SIMPLEX,
        cv2.FONT_HERSHEY_DUPLEX,
        cv2.FONT_HERSHEY_COMPLEX,
        cv2.FONT_HERSHEY_TRIPLEX,
        cv2.FONT_HERSHEY_SCRIPT_SIMPLEX,
    ]
    for _ in range(rng.integers(1, 6)):
        th = max(1, int(size * rng.uniform(0.01, 0.04)))
        kind = rng.integers(3)
        if kind == 0:
            text = "".join(
                rng.choice(list("ABCDEFGHKMNPRSTWXYZabdeghkmqrsy0123456789&@"), rng.integers(1, 5))
            )
            scale = size / 40 * rng.uniform(0.5, 1.6)
            org = (int(rng.uniform(-0.1, 0.6) * size), int(rng.uniform(0.3, 1.0) * size))
            cv2.putText(
                img, text, org, fonts[rng.integers(len(fonts))], scale, 1.0, th, cv2.LINE_AA
            )
        elif kind == 1:
            pts = np.cumsum(rng.normal(0, size / 6, (rng.integers(3, 8), 2)), 0) + rng.uniform(
                0, size, 2
            )
            cv2.polylines(
                img, [pts.astype(np.int32)], bool(rng.random() < 0.3), 1.0, th, cv2.LINE_AA
            )
        else:
            c = tuple(int(a) for a in rng.uniform(0, size, 2))
            cv2.circle(img, c, int(rng.uniform(0.05, 0.35) * size), 1.0, th, cv2.LINE_AA)
    return img


def _unit_slope(h: np.ndarray, q: float = 99.0) -> np.ndarray:
    """Scale a height field so its q-th percentile slope is 1 (so components mix by weight)."""
    gr, gc = np.gradient(h)
    g = np.hypot(gr, gc)
    return h / max(np.percentile(g, q), 0.05 * g.max(), 1e-9)


def relief(rng: np.random.Generator, size: int) -> GeometryBuffers:
    """Height-field relief (bas-relief / embossed plaque / terrain), whole frame or a blob mask.

    Components are each normalised to unit slope, mixed with random weights (otherwise the
    high-frequency noise, having the steepest slopes, would dominate every sample), rescaled so
    the 99th-percentile slope is 30-65 deg (pixel units: z and xy share one scale), and tilted.
    Normals are the central-difference gradient: n ~ (-dz/dx, -dz/dy, 1) with dz/dx = dh/dcol
    and dz/dy = -dh/drow (rows grow downward, y grows upward).
    """
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64)
    bumps = np.zeros((size, size))  # smooth bumps and dents: every relief has low-frequency shape
    for _ in range(rng.integers(2, 25)):
        s = size * rng.uniform(0.03, 0.25)
        r0, c0 = rng.uniform(-0.1, 1.1, 2) * size
        g = np.exp(-((rows - r0) ** 2 + (cols - c0) ** 2) / (2 * s * s))
        bumps += rng.choice([-1, 1]) * s * rng.uniform(0.3, 1.0) * g
    h = _unit_slope(bumps)
    if rng.random() < 0.6:  # fractal noise, plain or ridged
        n = _smooth_noise(rng, size, rng.uniform(2.5, 4.5))
        if rng.random() < 0.5:
            n = -np.abs(n) if rng.random() < 0.5 else np.abs(n)
        h += rng.uniform(0.1, 0.7) * _unit_slope(n)
    if rng.random() < 0.35:  # terraces with softened risers
        step = (h.max() - h.min() + 1e-9) / rng.integers(3, 9)
        q = h / step
        sharp = rng.uniform(4, 15)
        h = step * (np.floor(q) + 1 / (1 + np.exp(-sharp * (q - np.floor(q) - 0.5))))
    if rng.random() < 0.5:  # embossed / engraved strokes and letters
        g = cv2.GaussianBlur(_strokes(rng, size), (0, 0), size * rng.uniform(0.006, 0.02))
        h += rng.choice([-1, 1]) * rng.uniform(0.5, 1.5) * _unit_slope(g, 99.5)
    h = _unit_slope(h) * np.tan(np.radians(rng.uniform(30, 65)))
    tilt = np.tan(np.radians(rng.uniform(0, 20)))
    a = rng.uniform(0, 2 * np.pi)
    h += tilt * (np.cos(a) * cols - np.sin(a) * rows)
    h -= h.min()

    gr, gc = np.gradient(h)  # dh/drow, dh/dcol
    n = np.stack([-gc, gr, np.ones_like(h)], -1)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    if rng.random() < 0.5:
        mask = np.ones((size, size), bool)
    else:  # a smooth random plaque: low-frequency noise plus a radial falloff, thresholded
        rad = np.hypot(rows / size - rng.uniform(0.4, 0.6), cols / size - rng.uniform(0.4, 0.6))
        field = 0.3 * _smooth_noise(rng, size, 5.0) - rad * rng.uniform(2, 5)
        mask = field > np.quantile(field, 1 - rng.uniform(0.4, 0.85))
    n = n * mask[..., None]
    return GeometryBuffers(n.astype(np.float32), (h * mask).astype(np.float32), mask, None)


FAMILIES = {"blobby": blobby, "sculpture": sculpture, "relief": relief}


def frame_face(
    vertices: np.ndarray,
    anchor: np.ndarray,
    size: int | tuple[int, int],
    margin: float,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Pixel-unit vertices with the face (``anchor`` vertices) bbox leaving ``margin`` of the
    frame on its longer side (``margin`` < 0 crops into the face); random placement with ``rng``."""
    return fit_to_frame(vertices, size, 1 - 2 * margin, rng, anchor=vertices[anchor])


def face(rng: np.random.Generator, size: int, model: FaceModel) -> GeometryBuffers:
    """A random posed face; the face region fills 50-95% of the frame, 20% tight crops."""
    v, tris, labels = model.sample(rng)
    fill = rng.uniform(0.95, 1.4) if rng.random() < 0.2 else rng.uniform(0.5, 0.95)
    pix = frame_face(v, model.face_vertices, size, (1 - fill) / 2, rng)
    return rasterize_mesh(pix, tris, (size, size), labels=labels)
