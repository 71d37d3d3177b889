"""Render the bundled example: a glossy relief tile under 12 known lights.

The project made these images itself (no third-party photos). The folder it writes is in the
DiLiGenT layout, so it works both with `photonormals predict --lights` and `photonormals eval`.

    python examples/make_relief.py examples/relief
"""

import sys
from pathlib import Path

import numpy as np
from photonormals.io.images import write_linear_png, write_npy
from photonormals.photometric.chrome_ball import write_light_directions

SIZE = 256
LIGHTS = 12


def relief_height(size: int) -> np.ndarray:
    """A dome with a ring of studs and fine ripples: curvature at several scales."""
    y, x = (np.mgrid[0:size, 0:size] + 0.5) / size * 2.0 - 1.0
    r = np.hypot(x, y)
    dome = 0.35 * np.sqrt(np.clip(1.0 - (r / 0.9) ** 2, 0.0, None))
    angle = np.arctan2(y, x)
    studs = 0.06 * np.exp(-(((r - 0.62) / 0.07) ** 2)) * (0.5 + 0.5 * np.cos(8 * angle))
    ripples = 0.01 * np.sin(18 * np.pi * x) * np.exp(-((r / 0.35) ** 2))
    return (dome + studs + ripples) * size / 2.0  # pixel units, like the image plane


def normals_from_height(height: np.ndarray) -> np.ndarray:
    dz_drow, dz_dcol = np.gradient(height)
    n = np.stack([-dz_dcol, dz_drow, np.ones_like(height)], axis=-1)  # rows grow downward (-y)
    return n / np.linalg.norm(n, axis=-1, keepdims=True)


def albedo_pattern(size: int) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size] / size
    stripes = (np.floor(x * 6 + 0.3 * np.sin(y * 9)) % 2)[..., None]
    warm, cool = np.array([0.75, 0.45, 0.30]), np.array([0.35, 0.55, 0.70])
    return (stripes * warm + (1 - stripes) * cool) * (0.8 + 0.2 * np.cos(7 * y))[..., None]


def light_set(count: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Directions on a ring 25-55 degrees off the view axis; RGB intensities like a real rig."""
    azimuth = np.linspace(0, 2 * np.pi, count, endpoint=False) + rng.uniform(0, 0.3, count)
    polar = np.radians(rng.uniform(25, 55, count))
    directions = np.stack(
        [np.sin(polar) * np.cos(azimuth), np.sin(polar) * np.sin(azimuth), np.cos(polar)], axis=1
    )
    intensities = rng.uniform(0.8, 1.2, (count, 1)) * rng.uniform(0.9, 1.1, (count, 3))
    return directions, intensities


def render(normals, albedo, mask, direction, intensity, rng) -> np.ndarray:
    """Lambertian + Blinn-Phong gloss, attached shadows, sensor noise; linear light."""
    ndotl = np.clip(normals @ direction, 0.0, None)[..., None]
    half = direction + np.array([0.0, 0.0, 1.0])
    half /= np.linalg.norm(half)
    gloss = 0.4 * np.clip(normals @ half, 0.0, None)[..., None] ** 60 * (ndotl > 0)
    image = (albedo * ndotl + gloss) * intensity * 0.8
    image += rng.normal(0.0, 0.002, image.shape)
    return np.clip(image, 0.0, 1.0) * mask[..., None]


def main(out: Path) -> None:
    rng = np.random.default_rng(7)
    out.mkdir(parents=True, exist_ok=True)
    height = relief_height(SIZE)
    y, x = (np.mgrid[0:SIZE, 0:SIZE] + 0.5) / SIZE * 2.0 - 1.0
    mask = np.hypot(x, y) < 0.88
    normals = normals_from_height(height) * mask[..., None]
    albedo = albedo_pattern(SIZE)
    directions, intensities = light_set(LIGHTS, rng)

    names = []
    for k in range(LIGHTS):
        names.append(f"{k + 1:03d}.png")
        write_linear_png(
            out / names[-1], render(normals, albedo, mask, directions[k], intensities[k], rng)
        )
    write_light_directions(out / "light_directions.txt", directions)
    np.savetxt(out / "light_intensities.txt", intensities, fmt="%.6f")
    (out / "filenames.txt").write_text("\n".join(names) + "\n")
    write_linear_png(out / "mask.png", mask.astype(np.float32), bits=8)
    write_npy(out / "normal_gt.npy", normals.astype(np.float32))


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "examples/relief"))
