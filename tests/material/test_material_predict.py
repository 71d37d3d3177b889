"""predict --mode material end to end with a small untrained network (files, report, errors),
and the several-photo surface path on a rendered relief (calibrated photometric stereo plus
the surface prior)."""

import io
import json
from types import SimpleNamespace

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from photonormals.errors import UserError
from photonormals.evaluation.material import height_error, seam_score
from photonormals.inference.material import turn_normals
from photonormals.io.images import decode_normals, read_image, write_png
from photonormals.models import create_model
from photonormals.models.weights import save_weights
from photonormals.predict import PredictOptions, resolve_method
from photonormals.service.schemas import parse_options
from photonormals.service.uploads import Limits, save_upload

MATERIAL_FILES = ("normal.npy", "normal.png", "albedo.png", "height.png", "height.npy",
                  "height.json", "roughness.png", "shading.png", "mask.png", "report.json")


@pytest.fixture
def material_weights(tmp_path, monkeypatch):
    folder = tmp_path / "weights"
    folder.mkdir()
    torch.manual_seed(0)
    model = create_model("material_fast", widths=[8, 8, 16, 16], blocks=[1, 1, 1, 1])
    with torch.no_grad():
        model.head.weight.normal_(0, 0.02)
    save_weights(folder / "tiny.safetensors", model.eval(), steps=0)
    (folder / "index.json").write_text(json.dumps({"material": "tiny.safetensors"}))
    monkeypatch.setenv("PHOTONORMALS_WEIGHTS", str(folder))
    return folder


@pytest.fixture
def wall(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "wall.png"
    iio.imwrite(path, (rng.uniform(0.2, 0.8, (40, 56, 3)) * 255).astype(np.uint8))
    return path


@pytest.mark.parametrize("seamless", [False, True])
def test_one_photo_gives_every_material_map(cli, material_weights, wall, tmp_path, seamless):
    out = tmp_path / "out"
    code, stdout, stderr = cli("predict", "--mode", "material", "--out", out, wall,
                               *(["--seamless"] if seamless else []))
    assert code == 0, stderr
    assert "single_material" in stdout
    for name in MATERIAL_FILES:
        assert (out / name).is_file(), name
    assert not (out / "lights.json").exists()
    report = json.loads((out / "report.json").read_text())
    assert report["method"] == "single_material" and report["seamless"] is seamless
    # auto, the default, with no detector in this weights folder: read as lit from the top
    assert report["light_from"] == "top" and report["light_detected"] is False
    assert "no light-side weights" in report["light_note"]
    assert report["model"] == "material_fast" and set(report["outputs"]) == set(MATERIAL_FILES)
    normals = np.load(out / "normal.npy")
    assert normals.shape == (40, 56, 3)
    png = decode_normals(read_image(out / "normal.png", colorspace="linear").rgb)
    assert np.abs(png - normals).max() < 1e-3  # 16-bit (n + 1) / 2, OpenGL green
    height = np.load(out / "height.npy")
    info = json.loads((out / "height.json").read_text())
    assert info["min"] == pytest.approx(height.min(), abs=1e-4)
    assert iio.imread(out / "height.png").dtype == np.uint16
    if seamless:
        assert seam_score(height) < 2 and seam_score(normals) < 2


def test_a_photo_lit_from_the_left_is_predicted_turned_and_turned_back(cli, material_weights,
                                                                         wall, tmp_path):
    """--light-from left is the default run on the photo turned so its left side is up (a
    clockwise quarter turn), every map turned back: the photo's shape, normals' x, y included."""
    upright = tmp_path / "upright.png"
    iio.imwrite(upright, np.rot90(iio.imread(wall), -1))
    code, _, stderr = cli("predict", "--mode", "material", "--light-from", "left",
                          "--out", tmp_path / "left", wall)
    assert code == 0, stderr
    code, _, stderr = cli("predict", "--mode", "material", "--light-from", "top",
                          "--out", tmp_path / "top", upright)
    assert code == 0, stderr
    report = json.loads((tmp_path / "left" / "report.json").read_text())
    assert report["light_from"] == "left" and report["size"] == [56, 40]
    normals = np.load(tmp_path / "left" / "normal.npy")
    assert normals.shape == (40, 56, 3)
    assert np.allclose(normals, turn_normals(np.load(tmp_path / "top" / "normal.npy"), 1),
                       atol=1e-6)
    assert np.allclose(np.load(tmp_path / "left" / "height.npy"),
                       np.rot90(np.load(tmp_path / "top" / "height.npy")), atol=1e-5)
    for name in ("albedo.png", "roughness.png"):
        assert np.array_equal(iio.imread(tmp_path / "left" / name),
                              np.rot90(iio.imread(tmp_path / "top" / name))), name


def test_bad_material_requests_are_refused_before_any_work(cli, material_weights, wall, tmp_path):
    out = tmp_path / "out"
    for args, message in [
        (("--seamless",), "material mode"),
        (("--light-from", "left"), "material mode"),
        (("--mode", "material", "--light-from", "above"), "invalid choice"),
        (("--mode", "material", "--mask", wall), "no --mask"),
        (("--mode", "material", "--lights", wall), "several photos"),
        (("--mode", "material", "--focal-35mm", "50"), "portrait"),
    ]:
        code, _, stderr = cli("predict", *args, "--out", out, wall)
        assert code == 2 and message in stderr, (args, stderr)
    code, _, stderr = cli("predict", "--mode", "material", "--light-from", "left", "--out", out,
                          wall, wall)
    assert code == 2 and "one photo" in stderr  # several lamp-lit photos: nothing to turn
    assert not out.exists()  # nothing written
    tiny = tmp_path / "tiny.png"
    iio.imwrite(tiny, np.full((8, 8, 3), 128, np.uint8))
    code, _, stderr = cli("predict", "--mode", "material", "--out", out, tiny)
    assert code == 2 and "at least 16x16 pixels" in stderr


def test_material_weights_missing_is_exit_3(cli, wall, tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PHOTONORMALS_WEIGHTS", str(empty))
    code, _, stderr = cli("predict", "--mode", "material", "--out", tmp_path / "o", wall)
    assert code == 3 and "material" in stderr


def test_methods_and_service_options():
    assert resolve_method(PredictOptions(mode="material"), 1) == "material"
    assert resolve_method(PredictOptions(mode="material"), 4) == "multilight"
    with pytest.raises(UserError, match="at least"):
        resolve_method(PredictOptions(mode="material", lights="l.txt"), 2)
    options = parse_options(json.dumps({"mode": "material", "seamless": True}))
    assert options.mode == "material" and options.seamless
    with pytest.raises(UserError, match="seamless"):
        parse_options(json.dumps({"mode": "material", "seamless": "very"}))
    assert parse_options("{}").light_from == "auto"
    with pytest.raises(UserError, match="options.light_from"):
        parse_options(json.dumps({"mode": "material", "light_from": "above"}))


def test_the_service_passes_the_light_side_on(material_weights, wall, tmp_path):
    """A job's options.light_from reaches predict's options, checked at submit time."""
    upload = SimpleNamespace(filename="wall.png", file=io.BytesIO(wall.read_bytes()))
    options = parse_options(json.dumps({"mode": "material", "light_from": "left"}))
    checked = save_upload(tmp_path / "job", [upload], None, options, Limits(), "cpu")
    assert checked.options.light_from == "left" and checked.options.mode == "material"
    upload.file.seek(0)
    with pytest.raises(UserError, match="one photo"):
        save_upload(tmp_path / "job2", [upload, upload], None, options, Limits(), "cpu")
    options = parse_options(json.dumps({"mode": "material", "light_from": "auto"}))
    upload.file.seek(0)
    checked = save_upload(tmp_path / "job3", [upload], None, options, Limits(), "cpu")
    assert checked.options.light_from == "auto"


def test_auto_detects_the_light_side_and_reports_it(cli, material_weights, wall, tmp_path,
                                                   monkeypatch):
    """--light-from auto runs the light-side detector (here an untrained one) and then the side
    it picked, exactly as if told; report.json says which side, whether it was detected, and
    the detector's odds. Unsure (no side at even odds), it reads the photo as lit from the top."""
    torch.manual_seed(1)
    save_weights(material_weights / "side.safetensors", create_model("light_side").eval(),
                 steps=0)
    index = json.loads((material_weights / "index.json").read_text())
    (material_weights / "index.json").write_text(
        json.dumps({**index, "light_side": "side.safetensors"}))

    def run(name, *args):
        code, _, stderr = cli("predict", "--mode", "material", *args, "--out", tmp_path / name,
                              wall)
        assert code == 0, stderr
        return json.loads((tmp_path / name / "report.json").read_text())

    unsure = run("unsure", "--light-from", "auto")  # an untrained detector: about 1/4 each
    assert max(unsure["light_probabilities"].values()) < 0.5
    assert unsure["light_from"] == "top" and unsure["light_detected"] is False
    assert "unsure" in unsure["light_note"]

    monkeypatch.setattr("photonormals.inference.light_side.MIN_CONFIDENCE", 0.0)
    report = run("auto", "--light-from", "auto")
    assert report["light_detected"] is True and "light_note" not in report
    assert set(report["light_probabilities"]) == {"top", "left", "right", "bottom"}
    side = report["light_from"]
    assert report["light_probabilities"][side] == max(report["light_probabilities"].values())
    told = run("told", "--light-from", side)
    assert told["light_from"] == side and told["light_detected"] is False
    assert "light_probabilities" not in told
    assert np.array_equal(np.load(tmp_path / "auto" / "normal.npy"),
                          np.load(tmp_path / "told" / "normal.npy"))
    for mode in ("multi", "material"):  # several photos: auto asks nothing of them
        assert resolve_method(PredictOptions(mode=mode, light_from="auto"), 3) == "multilight"


def relief_photos(tmp_path, lights):
    """Lambertian photos of a bumpy, textured plane (16-bit PNG, linear) under ``lights``."""
    y, x = np.mgrid[0:64, 0:80].astype(np.float64)
    z = 2.0 * np.sin(2 * np.pi * x / 16) * np.cos(2 * np.pi * y / 20)
    dx, dr = np.gradient(z, axis=1), np.gradient(z, axis=0)
    n = np.dstack([-dx, dr, np.ones_like(z)])
    n /= np.linalg.norm(n, axis=2, keepdims=True)
    rng = np.random.default_rng(0)
    albedo = np.repeat(rng.uniform(0.3, 0.8, (8, 10)), 8, 0).repeat(8, 1)[..., None] * [1, .9, .8]
    paths = []
    for i, light in enumerate(lights):
        image = albedo * np.clip(n @ light, 0, None)[..., None] * 0.9
        paths.append(tmp_path / f"{i:02d}.png")
        write_png(paths[-1], (np.clip(image, 0, 1) * 65535).astype(np.uint16))
    return paths, z


def test_several_lamp_lit_photos_give_the_material_maps(cli, tmp_path):
    angles = np.radians(np.arange(6) * 60 + 10)
    lights = np.stack([np.cos(angles) * 0.6, np.sin(angles) * 0.6, np.full(6, 0.8)], 1)
    paths, z = relief_photos(tmp_path, lights)
    np.savetxt(tmp_path / "lights.txt", lights)
    out = tmp_path / "out"
    code, stdout, stderr = cli("predict", "--mode", "material", "--lights", tmp_path / "lights.txt",
                               "--seamless", "--out", out, *paths)
    assert code == 0, stderr
    report = json.loads((out / "report.json").read_text())
    assert report["method"] == "calibrated_photometric_stereo_surface" and report["seamless"]
    for name in ("height.png", "height.npy", "albedo.png", "lights.json"):
        assert (out / name).is_file(), name
    assert not (out / "roughness.png").exists() and not (out / "shading.png").exists()
    assert seam_score(np.load(out / "height.npy")) < 2
    code, _, stderr = cli("predict", "--mode", "material", "--lights", tmp_path / "lights.txt",
                          "--overwrite", "--out", out, *paths)
    assert code == 0, stderr
    assert height_error(np.load(out / "height.npy"), z) < 0.1
