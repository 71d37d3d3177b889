"""Chrome-ball calibration on synthetic mirror-sphere renders (orthographic, OpenGL frame)."""

import numpy as np
import pytest
from photonormals.errors import UserError
from photonormals.photometric.chrome_ball import (
    Sphere,
    calibrate_lights,
    find_highlight,
    fit_sphere,
    light_from_highlight,
    write_light_directions,
)

H = W = 256
CX, CY, R = 131.3, 122.6, 90.4


def _normals():
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    nx, ny = (xx - CX) / R, -(yy - CY) / R
    mask = nx**2 + ny**2 <= 1.0
    nz = np.sqrt(np.clip(1.0 - nx**2 - ny**2, 0.0, None))
    return mask, np.stack([nx, ny, nz], axis=-1)


def _render(light, rng, spec_gain=1.0):
    """Dim diffuse plus a sharp Phong lobe; spec_gain > 1 clips it like a real saturated photo."""
    mask, n = _normals()
    ndl = n @ light
    refl = 2.0 * ndl[..., None] * n - light
    spec = np.clip(refl[..., 2], 0.0, None) ** 200 * (ndl > 0)
    grey = 0.1 * np.clip(ndl, 0.0, None) + spec_gain * spec
    img = np.repeat(grey[..., None], 3, axis=2) * mask[..., None]
    img = img + rng.normal(0.0, 0.005, img.shape)
    return np.clip(img, 0.0, 1.0).astype(np.float32)


def _random_lights(rng, k, max_deg=70.0):
    cos_t = rng.uniform(np.cos(np.radians(max_deg)), 1.0, k)
    phi = rng.uniform(0.0, 2 * np.pi, k)
    sin_t = np.sqrt(1 - cos_t**2)
    return np.stack([sin_t * np.cos(phi), sin_t * np.sin(phi), cos_t], axis=1)


def _angles_deg(a, b):
    return np.degrees(np.arccos(np.clip(np.sum(a * b, axis=1), -1.0, 1.0)))


def test_fit_sphere_subpixel():
    mask, _ = _normals()
    s = fit_sphere(mask)
    assert abs(s.cx - CX) < 0.5 and abs(s.cy - CY) < 0.5 and abs(s.radius - R) < 0.5


@pytest.mark.parametrize("spec_gain", [1.0, 5.0])
def test_calibrate_lights_within_two_degrees(spec_gain):
    rng = np.random.default_rng(7)
    truth = _random_lights(rng, 10)
    truth[0] = [0.0, 0.0, 1.0]
    truth[1] = [np.sin(np.radians(70)), 0.0, np.cos(np.radians(70))]  # far right
    truth[2] = [0.0, np.sin(np.radians(60)), np.cos(np.radians(60))]  # above: y up
    images = [_render(light, rng, spec_gain) for light in truth]
    mask, _ = _normals()
    est = calibrate_lights(images, mask)
    assert est.shape == (10, 3) and est.dtype == np.float32
    err = _angles_deg(est.astype(np.float64), truth)
    assert err.max() < 2.0, err


def test_light_from_highlight_axes():
    s = Sphere(100.0, 100.0, 50.0)
    np.testing.assert_allclose(light_from_highlight(100.0, 100.0, s), [0, 0, 1], atol=1e-12)
    # Highlight above the centre (smaller row) means a light from above (+y).
    up = light_from_highlight(100.0, 100.0 - 50.0 * np.sin(np.pi / 8), s)
    np.testing.assert_allclose(up, [0, np.sin(np.pi / 4), np.cos(np.pi / 4)], atol=1e-12)


def test_dark_image_raises():
    mask, _ = _normals()
    s = fit_sphere(mask)
    with pytest.raises(UserError, match="no specular highlight"):
        find_highlight(np.zeros((H, W, 3), np.float32), s)
    rng = np.random.default_rng(0)
    good = _render(np.array([0.0, 0.0, 1.0]), rng)
    with pytest.raises(UserError, match="image 2"):
        calibrate_lights([good, np.zeros_like(good)], mask)


def test_bad_masks_raise():
    with pytest.raises(UserError, match="empty"):
        fit_sphere(np.zeros((H, W), bool))
    tiny = np.zeros((H, W), bool)
    tiny[100:108, 100:108] = True
    with pytest.raises(UserError, match="too small"):
        fit_sphere(tiny)
    square = np.zeros((H, W), bool)
    square[50:200, 50:200] = True
    with pytest.raises(UserError, match="not a disk"):
        fit_sphere(square)


def test_write_light_directions(tmp_path):
    path = tmp_path / "light_directions.txt"
    write_light_directions(path, np.array([[0.1, -0.2, 0.974679], [0, 0, 1]], np.float32))
    lines = path.read_text().splitlines()
    assert lines == ["0.100000 -0.200000 0.974679", "0.000000 0.000000 1.000000"]
