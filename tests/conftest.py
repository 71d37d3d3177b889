"""Small synthetic scenes shared by the tests; nothing here reads ../shared."""

from __future__ import annotations

import os

import numpy as np
import pytest
from photonormals.cli.main import main

# The pipeline tests (and the servers they start) run the networks on torch, the reference: an
# ONNX export costs 10-30 s per graph on 2 cores. tests/test_runtime.py covers ONNX Runtime and
# the auto choice itself.
os.environ.setdefault("PHOTONORMALS_RUNTIME", "torch")


def sphere_normals(size: int, radius_fraction: float = 0.45) -> tuple[np.ndarray, np.ndarray]:
    """Unit normals of a sphere seen orthographically, and its silhouette mask."""
    rows, cols = np.mgrid[0:size, 0:size] + 0.5
    x = (cols - size / 2) / (size * radius_fraction)
    y = -(rows - size / 2) / (size * radius_fraction)  # image rows grow downward
    r2 = x**2 + y**2
    mask = r2 < 1.0
    normals = np.stack([x, y, np.sqrt(np.clip(1 - r2, 0, None))], axis=-1) * mask[..., None]
    return normals.astype(np.float32), mask


def spread_lights(count: int, seed: int = 0, max_polar_deg: float = 60.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    azimuth = np.linspace(0, 2 * np.pi, count, endpoint=False) + rng.uniform(0, 0.5, count)
    polar = np.radians(rng.uniform(15, max_polar_deg, count))
    return np.stack(
        [np.sin(polar) * np.cos(azimuth), np.sin(polar) * np.sin(azimuth), np.cos(polar)], axis=1
    ).astype(np.float32)


def specular_lobe(normals, directions, exponent) -> np.ndarray:
    """(K, H, W) max(n.h, 0)^exponent, h halfway between each light and the camera: gloss."""
    halfway = directions + np.array([0.0, 0.0, 1.0], np.float32)
    halfway /= np.linalg.norm(halfway, axis=1, keepdims=True)
    return np.clip(np.einsum("hwc,kc->khw", normals, halfway), 0, None) ** exponent


def render_lambertian(normals, mask, directions, intensities, albedo) -> np.ndarray:
    """(K, H, W, 3) linear images of albedo * intensity * max(n.l, 0), black background."""
    shading = np.clip(np.einsum("hwc,kc->khw", normals, directions), 0, None)
    images = shading[..., None] * albedo[None] * intensities[:, None, None, :]
    return (images * mask[None, ..., None]).astype(np.float32)


@pytest.fixture
def cli(capsys):
    """Run the CLI in-process; returns (exit code, stdout, stderr)."""

    def run(*args):
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture(scope="session")
def ray_instance():
    """A local Ray instance of 2 CPUs for the Ray tests (tests/test_ray_*.py), started once:
    it takes seconds to start on 2 cores."""
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.serve")
    from photonormals.ray_cluster import PROXY_READY_ENV

    os.environ.setdefault(PROXY_READY_ENV, "60")  # as a local `serve --ray` sets it
    # Ray's workers run at nice 15 by default: on a busy machine the replicas then take minutes
    # to start.
    os.environ.setdefault("RAY_worker_niceness", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="warning")
    yield ray
    ray.shutdown()
