"""Height-from-normals: analytic surfaces integrate back to themselves, with the right signs."""

import numpy as np
import pytest
from photonormals.errors import UserError
from photonormals.geometry.height import height_to_png16, integrate_normals


def _grid(h, w):
    r, c = np.mgrid[0:h, 0:w].astype(np.float64)
    return r, c


def _normals_from_gradients(dz_dx, dz_drow):
    # z = f(x, y) has normal ~ (-f_x, -f_y, 1); y points up, so f_y = -dz/d(row).
    n = np.dstack([-dz_dx, dz_drow, np.ones_like(dz_dx)])
    return (n / np.linalg.norm(n, axis=2, keepdims=True)).astype(np.float32)


def _hemisphere(size=100, radius=40.0, frac=0.95):
    r, c = _grid(size, size)
    x, y = c - (size - 1) / 2, -(r - (size - 1) / 2)
    rho2 = x**2 + y**2
    z = np.sqrt(np.clip(radius**2 - rho2, 0, None))
    normals = (np.dstack([x, y, z]) / radius).astype(np.float32)
    mask = rho2 < (frac * radius) ** 2
    normals[~mask] = (0, 0, 1)
    return normals, mask, z


def _rms_up_to_constant(z, truth, mask):
    e = (z - truth)[mask]
    return float(np.sqrt(np.mean((e - e.mean()) ** 2)))


def test_hemisphere_poisson():
    normals, mask, truth = _hemisphere()
    z = integrate_normals(normals, mask)
    assert z.dtype == np.float32 and z.shape == mask.shape
    assert np.all(z[~mask] == 0) and z[mask].min() == 0
    # Measured: RMS 0.011 px = 0.03 % of R (max 0.06 px).
    assert _rms_up_to_constant(z, truth, mask) < 0.002 * 40
    # A bump is highest in its centre.
    assert z[50, 50] == pytest.approx(z.max(), abs=0.05)
    assert z[50, 50] - z[mask].min() > 20


def test_hemisphere_fft_is_close():
    # fft integrates the whole frame with a flat surround, so it is only approximately right
    # on a masked object (measured: RMS 1.3 % of R).
    normals, mask, truth = _hemisphere()
    z = integrate_normals(normals, mask, method="fft")
    assert _rms_up_to_constant(z, truth, mask) < 0.03 * 40


@pytest.mark.parametrize("method", ["poisson", "fft"])
def test_tilted_plane(method):
    r, c = _grid(60, 80)
    a, b = 0.3, -0.2  # dz/dx, dz/d(row)
    normals = _normals_from_gradients(np.full_like(c, a), np.full_like(r, b))
    z = integrate_normals(normals, method=method)
    assert _rms_up_to_constant(z, a * c + b * r, np.ones(c.shape, bool)) < 1e-4


def test_tilted_plane_in_mask():
    r, c = _grid(60, 80)
    mask = (r - 30) ** 2 + (c - 40) ** 2 < 25**2
    normals = _normals_from_gradients(np.full_like(c, 0.5), np.full_like(r, 0.25))
    z = integrate_normals(normals, mask)
    assert _rms_up_to_constant(z, 0.5 * c + 0.25 * r, mask) < 1e-4


@pytest.mark.parametrize("method", ["poisson", "fft"])
def test_sign_toward_plus_x(method):
    # A normal leaning toward +x (and toward +y = up) faces right and up: the surface falls
    # toward +x and toward the top of the image.
    normals = np.zeros((20, 30, 3), np.float32)
    normals[..., :] = np.array([0.3, 0.2, 1.0]) / np.linalg.norm([0.3, 0.2, 1.0])
    z = integrate_normals(normals, method=method)
    assert np.all(np.diff(z, axis=1) < 0)
    assert np.all(np.diff(z, axis=0) > 0)
    assert z[-1, 0] == z.max() and z[0, -1] == 0


def test_gaussian_bump_fft():
    r, c = _grid(96, 128)
    truth = 10 * np.exp(-((r - 48) ** 2 + (c - 64) ** 2) / (2 * 12.0**2))
    dz_drow, dz_dx = np.gradient(truth)
    z = integrate_normals(_normals_from_gradients(dz_dx, dz_drow), method="fft")
    # Measured: RMS 0.0036 px on a 10 px bump (central differences vs. the trapezoid scheme).
    assert _rms_up_to_constant(z, truth, np.ones(r.shape, bool)) < 0.01
    assert np.unravel_index(np.argmax(z), z.shape) == (48, 64)


def test_components_rest_on_zero_and_silhouettes_are_bounded():
    normals, mask, _ = _hemisphere(frac=1.2)  # mask reaches nz = 0 and beyond the sphere
    mask = mask.copy()
    mask[:, 50] = False  # two halves, solved independently
    z = integrate_normals(normals, mask, max_slope=5.0)
    assert np.isfinite(z).all()
    assert z[:, :50][mask[:, :50]].min() == 0 and z[:, 51:][mask[:, 51:]].min() == 0
    # Least squares, so the cap is not an exact bound on the result.
    assert np.abs(np.diff(z, axis=1))[mask[:, 1:] & mask[:, :-1]].max() < 5.0 * 1.01


def test_nan_outside_mask_is_ignored():
    normals, mask, truth = _hemisphere()
    normals[~mask] = np.nan
    z = integrate_normals(normals, mask)
    assert _rms_up_to_constant(z, truth, mask) < 0.002 * 40


@pytest.mark.parametrize(
    "normals, mask, method",
    [
        (np.zeros((10, 10)), None, "poisson"),  # not (H, W, 3)
        (np.zeros((10, 10, 4)), None, "poisson"),
        (np.dstack([np.zeros((10, 10, 2)), np.ones((10, 10))]), np.ones((9, 10)), "poisson"),
        (np.dstack([np.zeros((10, 10, 2)), np.ones((10, 10))]), np.zeros((10, 10)), "poisson"),
        (np.dstack([np.zeros((10, 10, 2)), np.ones((10, 10))]), None, "magic"),
        (np.full((10, 10, 3), np.nan), None, "poisson"),
    ],
)
def test_bad_inputs(normals, mask, method):
    with pytest.raises(UserError):
        integrate_normals(normals, mask, method=method)


def test_png16():
    normals, mask, _ = _hemisphere()
    z = integrate_normals(normals, mask)
    img, meta = height_to_png16(z, mask)
    assert img.dtype == np.uint16
    assert img[mask].min() == 0 and img[mask].max() == 65535 and np.all(img[~mask] == 0)
    assert meta["units"] == "pixels" and meta["min"] == 0.0
    assert meta["max"] == pytest.approx(float(z.max()))
    back = meta["min"] + img / 65535.0 * (meta["max"] - meta["min"])
    assert np.abs(back - z)[mask].max() < (meta["max"] - meta["min"]) / 65535
    flat, meta = height_to_png16(np.full((4, 4), 3.0), None)
    assert np.all(flat == 0) and meta["min"] == meta["max"] == 3.0
    with pytest.raises(UserError):
        height_to_png16(z, np.zeros_like(mask))
