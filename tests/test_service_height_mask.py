"""The two job inputs the Blender add-on needs beyond predict's maps: `height` (height.png,
height.exr and height.json from the normals, for displacement) and `mask_file` (the object's
mask, as `predict --mask`). Through photonormals.client against a real server."""

from __future__ import annotations

import json

import numpy as np
import OpenEXR
import pytest
from conftest import render_lambertian, sphere_normals, spread_lights
from photonormals.client import Client, RequestError
from photonormals.io.images import read_image, write_linear_png
from photonormals.service.launch import stop_server
from test_service import start_server

COUNT = 6


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    process, url = start_server(tmp_path_factory.mktemp("height_mask_service"))
    yield Client(url)
    stop_server(process)


@pytest.fixture(scope="module")
def sphere(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sphere")
    normals, mask = sphere_normals(40)
    directions = spread_lights(COUNT, seed=5)
    albedo = np.broadcast_to(np.float32([0.6, 0.6, 0.6]), normals.shape)
    images = render_lambertian(normals, mask, directions, np.ones((COUNT, 3), np.float32), albedo)
    photos = []
    for k, image in enumerate(images):
        photos.append(folder / f"{k + 1:03d}.png")
        write_linear_png(photos[-1], image)
    np.savetxt(folder / "light_directions.txt", directions)
    left = mask.copy()
    left[:, 20:] = False
    write_linear_png(folder / "left_half.png", left.astype(np.float32), bits=8)
    return photos, folder / "light_directions.txt", mask, folder / "left_half.png"


def test_height_option_returns_png_exr_and_range(client, sphere, tmp_path):
    photos, lights, mask, _ = sphere
    files = client.predict(photos, tmp_path, {"height": True, "outputs": ["normal.png"]},
                           lights_file=lights)
    assert sorted(f.name for f in files) == ["height.exr", "height.json", "height.png",
                                             "normal.png"]
    exr = OpenEXR.File(str(tmp_path / "height.exr")).channels()
    height = exr["Y"].pixels
    assert height.shape == (40, 40) and height.dtype == np.float32
    assert height[20, 20] > height[20, 4] + 5 and height[~mask].max() == 0  # a dome, in pixels
    meta = json.loads((tmp_path / "height.json").read_text())
    assert meta["units"] == "pixels" and meta["max"] == pytest.approx(float(height.max()), 1e-4)
    png = read_image(tmp_path / "height.png", colorspace="linear").rgb[..., 0]
    assert png[20, 20] == pytest.approx(float(height[20, 20]) / meta["max"], abs=2e-3)


def test_mask_file_restricts_the_solve(client, sphere, tmp_path):
    photos, lights, mask, left_half = sphere
    client.predict(photos, tmp_path, {"mode": "multi"}, lights_file=lights, mask_file=left_half)
    solved = read_image(tmp_path / "mask.png", colorspace="linear").rgb[..., 0] > 0.5
    assert solved[:, :20].sum() > 0.8 * mask[:, :20].sum() and not solved[:, 20:].any()
    assert json.loads((tmp_path / "report.json").read_text())["mask_source"] == "given"


def test_mask_of_another_size_is_refused_at_submit(client, sphere, tmp_path):
    photos, lights, _, _ = sphere
    small = tmp_path / "small_mask.png"
    write_linear_png(small, np.ones((8, 8), np.float32), bits=8)
    with pytest.raises(RequestError, match="mask must be the photos' size") as refused:
        client.submit(photos, {}, lights_file=lights, mask_file=small)
    assert refused.value.status == 400
