"""The classical luminance-as-height reference of the material benchmark."""

import numpy as np
from photonormals.evaluation.material import luminance_normals


def test_luminance_as_height_reads_a_bright_spot_as_a_bump():
    y, x = np.mgrid[:64, :64].astype(np.float32)
    grey = 0.2 + 0.3 * np.exp(-((x - 32) ** 2 + (y - 32) ** 2) / 40)
    n = luminance_normals(np.repeat(grey[..., None], 3, -1), strength=2.0)
    assert n.shape == (3, 64, 64)
    assert np.allclose(np.linalg.norm(n, axis=0), 1, atol=1e-5)
    # right of a bump the surface faces right (+x); above it (smaller row) it faces up (+y)
    assert n[0, 32, 36] > 0.05 and n[0, 32, 28] < -0.05
    assert n[1, 28, 32] > 0.05 and n[1, 36, 32] < -0.05
    flat = luminance_normals(np.full((32, 32, 3), 0.3, np.float32), strength=2.0)
    assert np.allclose(flat[2], 1)
