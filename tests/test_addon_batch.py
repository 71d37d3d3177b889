"""Headless batch (blender_addon/batch.py with the bpy module): it starts its own local backend.

One input folder holds a portrait, a good multi-light set (DiLiGenT layout) and a set with a
broken photo, given as relative paths as the docs do: the good set gets its maps, a .blend whose
textures are found after the folder moved, and bakes; the broken set is named as failed. A
backend on another computer needs --allow-online (exit 2 without it).
"""

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import render_lambertian, sphere_normals, spread_lights
from photonormals.io.images import write_linear_png
from photonormals.predict import LIGHT_FROM

bpy = pytest.importorskip("bpy")
ROOT = Path(__file__).resolve().parents[1]
COUNT = 6


def _light_set(folder: Path, seed: int) -> list[Path]:
    folder.mkdir()
    normals, mask = sphere_normals(48)
    directions = spread_lights(COUNT, seed=seed)
    intensities = np.random.default_rng(seed).uniform(0.7, 1.0, (COUNT, 3)).astype(np.float32)
    albedo = np.broadcast_to(np.float32([0.6, 0.6, 0.5]), normals.shape)
    names = [f"{k + 1:03d}.png" for k in range(COUNT)]
    for name, image in zip(
        names, render_lambertian(normals, mask, directions, intensities, albedo), strict=True
    ):
        write_linear_png(folder / name, image)
    np.savetxt(folder / "light_directions.txt", directions, fmt="%.6f")
    np.savetxt(folder / "light_intensities.txt", intensities, fmt="%.6f")
    (folder / "filenames.txt").write_text("\n".join(names) + "\n")
    write_linear_png(folder / "mask.png", mask.astype(np.float32), bits=8)  # not a photo: skipped
    return [folder / n for n in names]


@pytest.fixture(scope="module")
def batch_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("batch")
    source = tmp / "in"
    source.mkdir()
    _light_set(source / "sphere", seed=1)
    broken = _light_set(source / "broken", seed=2)
    broken[2].write_bytes(b"\x89PNG\r\n\x1a\n this is not a PNG")
    portrait = render_lambertian(*sphere_normals(32), spread_lights(1), np.ones((1, 3), np.float32),
                                 np.full((32, 32, 3), 0.5, np.float32))[0]
    write_linear_png(source / "face.png", portrait, bits=8)
    out = tmp / "out"
    process = subprocess.run(
        [
            sys.executable,
            str(ROOT / "blender_addon" / "batch.py"),
            "--input",
            "in",  # relative, as in the docs' example: the .blend once pointed to //../../../..
            "--out",
            "out",
            "--bake",
            "combined,albedo,normal",
            "--bake-size",
            "32",
            "--bake-margin",
            "2",
            "--samples",
            "1",
            "--hdri",
            "forest",
            "--device",
            "cpu",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp,
    )
    return process, out


def test_good_set_gets_maps_blend_and_bakes(batch_run):
    _process, out = batch_run
    summary = json.loads((out / "summary.json").read_text())
    item = {i["name"]: i for i in summary["items"]}["sphere"]
    assert item["ok"], item
    names = {Path(p).name for p in item["outputs"]}
    assert {"sphere_normal.png", "sphere_albedo.png", "sphere_mask.png", "sphere_lights.json",
            "sphere_normal.npy", "sphere_bake_combined.png", "sphere_bake_albedo.png",
            "sphere_bake_normal.png", "sphere.blend"} <= names
    assert all((out / "sphere" / n).is_file() for n in names)
    assert summary["blender"] == bpy.app.version_string

    lights = json.loads((out / "sphere" / "sphere_lights.json").read_text())["lights"]
    given = np.loadtxt(Path(out).parent / "in" / "sphere" / "light_intensities.txt")
    # intensities were sent
    assert np.allclose([light["intensity"] for light in lights], given, atol=1e-4)

    moved = Path(out).parent / "moved" / "sphere"  # the folder travels to another machine
    shutil.copytree(out / "sphere", moved)
    bpy.ops.wm.open_mainfile(filepath=str(moved / "sphere.blend"))
    assert bpy.context.scene.world.name == "PhotoNormals HDRI"
    material = bpy.data.materials["PhotoNormals sphere"]
    assert material.node_tree.nodes["PN Normal"].image.colorspace_settings.name == "Non-Color"
    for image in bpy.data.images:
        if image.packed_file is None and image.source == "FILE":
            assert image.filepath.startswith("//sphere_"), image.filepath
            assert Path(bpy.path.abspath(image.filepath)).is_file()
            assert image.size[0] > 0
    environment = bpy.context.scene.world.node_tree.nodes["PN Environment"].image
    assert environment.packed_file is not None  # Blender's forest.exr, not a path into bpy
    bake = bpy.data.images.load(str(out / "sphere" / "sphere_bake_combined.png"))
    assert tuple(bake.size) == (32, 32)
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    normal_bake = cv2.imread(str(out / "sphere" / "sphere_bake_normal.png"), cv2.IMREAD_UNCHANGED)
    assert normal_bake.dtype == np.uint16 and normal_bake.shape == (32, 32, 4)


def test_failed_items_are_named_and_the_exit_code_is_non_zero(batch_run):
    process, out = batch_run
    assert process.returncode == 1, process.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    items = {i["name"]: i for i in summary["items"]}
    # The "face" item is a lit sphere with no face in it: single mode refuses it, for want of a
    # portrait model (a backend without one) or of a person (issue 31: never a junk map).
    assert not items["face"]["ok"]
    error = items["face"]["error"]
    assert "model not available" in error or error.startswith("No person found in the photo")
    assert not (out / "face").exists()  # nothing half-written
    assert sorted(summary["failed"]) == ["broken", "face"] and not summary["ok"]
    assert '"failed"' in process.stdout and '"broken"' in process.stdout
    assert "003.png" in items["broken"]["error"]
    assert not (out / "broken").exists()


def test_remote_backend_needs_allow_online(tmp_path):
    """The bpy module's online access is always off and has no --online-mode: the batch has its
    own explicit --allow-online, and refusing is bad input (exit 2), not a failed item (1)."""
    from photonormals.service import launch

    source = tmp_path / "in"
    source.mkdir()
    _light_set(source / "sphere", seed=3)
    token = "batch-test-token-0123456789"
    # A server listening on every interface (it needs a token then, and takes any Host header);
    # Linux routes 0.0.0.0 to this computer, and as a URL it is not loopback, so the gate applies.
    process, url = launch.start_server(tmp_path / "server", "--host", "0.0.0.0", "--token", token,
                                       timeout=120)
    remote = "http://0.0.0.0:" + url.rsplit(":", 1)[1]
    command = [sys.executable, str(ROOT / "blender_addon" / "batch.py"), "--input", str(source),
               "--backend", remote, "--token", token]
    try:
        refused = subprocess.run([*command, "--out", str(tmp_path / "refused")],
                                 capture_output=True, text=True, timeout=300, check=False)
        allowed = subprocess.run([*command, "--out", str(tmp_path / "allowed"), "--allow-online"],
                                 capture_output=True, text=True, timeout=300, check=False)
    finally:
        launch.stop_server(process)
    assert refused.returncode == 2, refused.stderr[-2000:]
    assert "--allow-online" in refused.stderr and not (tmp_path / "refused").exists()
    assert allowed.returncode == 0, allowed.stdout[-2000:] + allowed.stderr[-2000:]
    assert (tmp_path / "allowed" / "sphere" / "sphere.blend").is_file()


def test_light_from_goes_with_single_material_photos(tmp_path):
    spec = importlib.util.spec_from_file_location("_pn_batch_args",
                                                  ROOT / "blender_addon" / "batch.py")
    batch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(batch)
    args = batch.parse_args(["--input", "in", "--out", "out", "--mode", "material",
                             "--light-from", "left"])
    photo = tmp_path / "wall.png"
    assert batch.material_options(args, {"photos": [photo]}) == {"seamless": False,
                                                                  "light_from": "left"}
    assert batch.material_options(args, {"photos": [photo, photo]}) == {"seamless": False}
    with pytest.raises(SystemExit) as exit_:
        batch.parse_args(["--input", "in", "--out", "out", "--light-from", "left"])
    assert exit_.value.code == 2
    for side in LIGHT_FROM:  # the add-on's sides are the backend's (it cannot import them)
        args = batch.parse_args(["--input", "in", "--out", "out", "--mode", "material",
                                 "--light-from", side])
        assert batch.material_options(args, {"photos": [photo]})["light_from"] == side
    # auto asks nothing of other modes, as top does
    assert batch.parse_args(["--input", "in", "--out", "out", "--light-from", "auto"])
