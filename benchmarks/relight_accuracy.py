"""Irradiance accuracy of SH9 and the pre-convolved map against brute force on Blender's eight
bundled HDRIs, and relight_dir timings; prints the Markdown tables of docs/relight.md.

    python benchmarks/relight_accuracy.py [--normals 500]

Metric: E(n) for unit normals spread evenly over the sphere (Fibonacci lattice), reference =
the sum over every HDRI pixel of L * solid angle * max(0, n.w). "mean" is the mean over normals
and RGB channels of |E - E_ref| / E_ref; "max" is the largest |E - E_ref| divided by the mean of
E_ref over the sphere (per channel), which stays meaningful where E_ref is near zero.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from photonormals.io.images import write_linear_png, write_npy, write_srgb_png
from photonormals.relight import envmap, relight, shading
from photonormals.relight.sh import project_sh9, sh9_irradiance


def fibonacci_sphere(count: int) -> np.ndarray:
    i = np.arange(count) + 0.5
    z = 1 - 2 * i / count
    phi = np.pi * (1 + 5**0.5) * i
    r = np.sqrt(1 - z * z)
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


def errors(estimate, reference):
    mean = float((np.abs(estimate - reference) / np.maximum(reference, 1e-12)).mean() * 100)
    worst = float((np.abs(estimate - reference) / reference.mean(axis=0)).max() * 100)
    return mean, worst


def accuracy_table(count: int) -> str:
    normals = fibonacci_sphere(count)
    lines = [
        "| HDRI | peak / mean radiance | SH9 mean | SH9 max | map mean | map max | map build (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, path in sorted(envmap.bundled_hdris().items()):
        env = envmap.load_hdri(path)
        reference = shading.brute_force_irradiance(env, normals)
        sh9 = errors(sh9_irradiance(normals, project_sh9(env)), reference)
        start = time.perf_counter()
        table = shading.irradiance_map(env)
        build = time.perf_counter() - start
        tabulated = errors(envmap.sample(table, normals), reference)
        peak = env.max() / env.mean()
        lines.append(
            f"| {name} | {peak:,.0f} | {sh9[0]:.2f} % | {sh9[1]:.2f} % | {tabulated[0]:.3f} % | "
            f"{tabulated[1]:.2f} % | {build:.2f} |"
        )
        print(lines[-1], flush=True)
    return "\n".join(lines)


def sphere_folder(folder: Path, size: int) -> None:
    rows, cols = np.mgrid[0:size, 0:size] + 0.5
    x, y = (cols - size / 2) / (size * 0.45), -(rows - size / 2) / (size * 0.45)
    mask = x**2 + y**2 < 1
    normals = np.stack([x, y, np.sqrt(np.clip(1 - x**2 - y**2, 0, None))], -1) * mask[..., None]
    write_npy(folder / "normal.npy", normals.astype(np.float32))
    write_srgb_png(
        folder / "albedo.png", np.full((size, size, 3), 0.6, np.float32) * mask[..., None]
    )
    write_linear_png(folder / "mask.png", mask.astype(np.float32), bits=8)
    write_srgb_png(folder / "photo.png", np.full((size, size, 3), 0.3, np.float32))


def timing_table() -> str:
    lines = [
        "| size | shader / background | first call, new HDRI (s) | new subject, HDRI cached (s) | "
        "warm (s) |",
        "|---|---|---|---|---|",
    ]
    cases = [
        ("diffuse", "keep"),
        ("diffuse", "hdri"),
        ("both", "transparent"),
        ("reflective", "keep"),
    ]
    for size in (512, 1024):
        for shader, background in cases:
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp)
                sphere_folder(folder, size)

                def call(folder=folder, shader=shader, background=background):
                    start = time.perf_counter()
                    relight.relight_dir(
                        folder, "sunset", 30.0, 0.0, shader, background, folder / "photo.png"
                    )
                    return time.perf_counter() - start

                relight._maps_for_file.cache_clear()
                envmap._load_cached.cache_clear()
                cold = call()
                relight._read_subject.cache_clear()
                relight._read_photo_cached.cache_clear()
                new_subject = call()
                warm = min(call() for _ in range(5))
            lines.append(
                f"| {size}² | {shader} / {background} | {cold:.2f} | {new_subject:.3f} | "
                f"{warm:.3f} |"
            )
            print(lines[-1], flush=True)
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--normals", type=int, default=500)
    args = parser.parse_args()
    print(accuracy_table(args.normals) + "\n")
    print(timing_table())


if __name__ == "__main__":
    main()
