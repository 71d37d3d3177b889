"""The photonormals CLI end to end: outputs, exit codes and one-line errors for bad input."""

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
from conftest import render_lambertian, sphere_normals, spread_lights
from photonormals.io.images import write_linear_png, write_npy

COUNT = 8


@pytest.fixture
def photo_set(tmp_path):
    """A DiLiGenT-layout folder: 16-bit linear PNGs of a sphere, lights, mask and ground truth."""
    folder = tmp_path / "sphere"
    folder.mkdir()
    normals, mask = sphere_normals(64)
    directions = spread_lights(COUNT, seed=5)
    intensities = np.random.default_rng(5).uniform(0.5, 1.0, (COUNT, 3)).astype(np.float32)
    albedo = np.broadcast_to(np.float32([0.8, 0.6, 0.5]), normals.shape)
    images = render_lambertian(normals, mask, directions, intensities, albedo)
    names = [f"{k + 1:03d}.png" for k in range(COUNT)]
    for name, image in zip(names, images, strict=True):
        write_linear_png(folder / name, image)
    np.savetxt(folder / "light_directions.txt", directions, fmt="%.6f")
    np.savetxt(folder / "light_intensities.txt", intensities, fmt="%.6f")
    (folder / "filenames.txt").write_text("\n".join(names) + "\n")
    write_linear_png(folder / "mask.png", mask.astype(np.float32), bits=8)
    write_npy(folder / "normal_gt.npy", normals)
    return folder, [folder / n for n in names], normals, mask


def _predict_args(folder, images, out, *extra):
    return ["predict", "--lights", folder / "light_directions.txt",
            "--intensities", folder / "light_intensities.txt", "--out", out, *extra, *images]


def test_predict_writes_every_map(cli, photo_set, tmp_path):
    folder, images, normals, mask = photo_set
    out = tmp_path / "out"
    code, _stdout, stderr = cli(*_predict_args(folder, images, out))
    assert code == 0, stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["normal.npy", "normal.png", "albedo.png", "mask.png", "lights.json", "report.json"]
    )
    predicted = np.load(out / "normal.npy")
    cos = (predicted[mask] * normals[mask]).sum(axis=1)
    assert np.degrees(np.arccos(np.clip(cos, -1, 1))).mean() < 1.0
    assert cv2.imread(str(out / "normal.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    assert cv2.imread(str(out / "albedo.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint8

    lights = json.loads((out / "lights.json").read_text())["lights"]
    assert [light["file"] for light in lights] == [p.name for p in images]
    given = np.loadtxt(folder / "light_directions.txt")
    assert np.allclose([light["direction"] for light in lights], given, atol=1e-5)
    assert np.allclose(
        [light["intensity"] for light in lights],
        np.loadtxt(folder / "light_intensities.txt"),
        atol=1e-5,
    )

    report = json.loads((out / "report.json").read_text())
    assert report["method"] == "calibrated_photometric_stereo"
    assert {"model", "version", "device", "timings"} <= report.keys()
    assert {"load_s", "solve_s", "write_s"} <= report["timings"].keys()


def test_directx_convention_flips_only_green(cli, photo_set, tmp_path):
    folder, images, _, _ = photo_set
    cli(*_predict_args(folder, images, tmp_path / "gl"))
    cli(*_predict_args(folder, images, tmp_path / "dx", "--normal-convention", "directx"))
    gl = cv2.imread(str(tmp_path / "gl" / "normal.png"), cv2.IMREAD_UNCHANGED).astype(int)
    dx = cv2.imread(str(tmp_path / "dx" / "normal.png"), cv2.IMREAD_UNCHANGED).astype(int)
    assert np.array_equal(gl[..., [0, 2]], dx[..., [0, 2]])  # OpenCV order: B, G, R
    assert np.abs(gl[..., 1] + dx[..., 1] - 65535).max() <= 1
    assert np.array_equal(
        np.load(tmp_path / "gl" / "normal.npy"), np.load(tmp_path / "dx" / "normal.npy")
    )


def _bad_inputs(folder, images, tmp):
    small = tmp / "small.png"
    cv2.imwrite(str(small), np.zeros((32, 32, 3), np.uint16))
    broken = tmp / "broken.png"
    broken.write_bytes(images[0].read_bytes()[:300])
    three_lights = tmp / "three.txt"
    three_lights.write_text("0 0 1\n0.5 0 0.8\n0 0.5 0.8\n")
    three_intensities = tmp / "three_rgb.txt"
    three_intensities.write_text("1 1 1\n1 1 1\n1 1 1\n")
    lights = folder / "light_directions.txt"
    return {
        "mixed sizes": (["--lights", lights, *images[:-1], small], "mixed image sizes"),
        "one image for multi": (["--mode", "multi", images[0]], "at least 2 images"),
        "light count": (["--lights", three_lights, *images], "has 3 lights but 8 images"),
        "intensity count": (
            ["--lights", lights, "--intensities", three_intensities, *images],
            "has 3 intensities but 8 images",
        ),
        "missing file": (
            ["--lights", lights, *images[:-1], tmp / "nope.png"],
            "nope.png: no such file",
        ),
        "missing light file": (["--lights", tmp / "nope.txt", *images], "nope.txt: no such file"),
        "corrupt image": (["--lights", lights, *images[:-1], broken], "broken.png: the PNG"),
        "lights in single mode": (
            ["--mode", "single", "--lights", lights, images[0]],
            "--lights is for multi",
        ),
        "unknown option value": (["--mode", "triple", *images], "invalid choice: 'triple'"),
    }


@pytest.mark.parametrize("case", [
    "mixed sizes", "one image for multi", "light count", "intensity count", "missing file",
    "missing light file", "corrupt image", "lights in single mode", "unknown option value",
])
def test_bad_input_exits_2_with_one_line(cli, photo_set, tmp_path, case):
    folder, images, _, _ = photo_set
    args, message = _bad_inputs(folder, images, tmp_path)[case]
    code, _stdout, stderr = cli("predict", "--out", tmp_path / "out", *args)
    assert code == 2
    assert message in stderr
    assert stderr.count("\n") == 1 and "Traceback" not in stderr
    assert not (tmp_path / "out").exists()  # nothing half-written


@pytest.mark.parametrize("args", [["--mode", "single"], ["--mode", "auto"]])
def test_modes_without_a_model_say_so(cli, photo_set, tmp_path, monkeypatch, args):
    monkeypatch.setenv("PHOTONORMALS_WEIGHTS", str(tmp_path))  # a folder with no weights
    _, images, _, _ = photo_set
    inputs = images[:1] if args[1] == "single" else images
    code, _, stderr = cli("predict", "--out", tmp_path / "out", *args, *inputs)
    assert code == 3 and "model not available" in stderr


def test_existing_results_are_never_replaced_silently(cli, photo_set, tmp_path):
    folder, images, _, _ = photo_set
    out = tmp_path / "out"
    assert cli(*_predict_args(folder, images, out))[0] == 0
    before = (out / "normal.png").read_bytes()
    code, _, stderr = cli(*_predict_args(folder, images[:4], out))
    assert code == 2 and "already holds results" in stderr
    assert (out / "normal.png").read_bytes() == before
    (out / "shading.png").write_bytes(b"from an earlier single-portrait run")
    (out / "notes.txt").write_text("the user's own file")
    assert cli(*_predict_args(folder, images, out, "--overwrite"))[0] == 0
    assert not (out / "shading.png").exists()  # a stale map of another mode does not linger
    assert (out / "notes.txt").exists()


def test_eval_reports_angular_error(cli, photo_set, tmp_path):
    folder = photo_set[0]
    code, stdout, stderr = cli("eval", folder, "--images", 6, "--json", tmp_path / "s.json")
    assert code == 0, stderr
    assert "mean" in stdout and "under 11.25 / 22.5 / 30 deg" in stdout
    scores = json.loads((tmp_path / "s.json").read_text())
    assert scores["images"] == 6 and scores["mean_deg"] < 1.0 and scores["under_11.25_deg"] > 0.99
    code, _, stderr = cli("eval", tmp_path)
    assert code == 2 and "no numbered images" in stderr


def test_height_from_a_predict_folder(cli, photo_set, tmp_path):
    folder, images, _, mask = photo_set
    out = tmp_path / "out"
    cli(*_predict_args(folder, images, out))
    code, _stdout, stderr = cli("height", out)
    assert code == 0, stderr
    height = np.load(out / "height.npy")
    png = cv2.imread(str(out / "height.png"), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint16 and png.shape == mask.shape
    centre, rim = height[32, 32], height[mask].min()
    assert centre - rim > 20  # a sphere of radius ~29 px bulges toward the camera
    assert json.loads((out / "height.json").read_text())["units"] == "pixels"
    assert cli("height", out)[0] == 2  # refuses to replace it


def test_calibrate_from_chrome_ball_photos(cli, tmp_path):
    normals, mask = sphere_normals(128, radius_fraction=0.4)
    truth = spread_lights(5, seed=9, max_polar_deg=50)
    view = np.array([0, 0, 1.0], np.float32)
    paths = []
    for k, light in enumerate(truth):
        half = (light + view) / np.linalg.norm(light + view)
        lobe = np.clip(normals @ half, 0, None) ** 2000 * mask
        write_linear_png(
            tmp_path / f"ball{k}.png", np.repeat((0.05 * mask + lobe)[..., None], 3, 2)
        )
        paths.append(tmp_path / f"ball{k}.png")
    write_linear_png(tmp_path / "ball_mask.png", mask.astype(np.float32), bits=8)
    out = tmp_path / "light_directions.txt"
    code, _, stderr = cli(
        "calibrate", "--ball-mask", tmp_path / "ball_mask.png", "--out", out, *paths
    )
    assert code == 0, stderr
    found = np.loadtxt(out)
    angles = np.degrees(np.arccos(np.clip((found * truth).sum(axis=1), -1, 1)))
    assert angles.max() < 2.0
    assert cli("calibrate", "--ball-mask", tmp_path / "ball_mask.png", "--out", out, *paths)[0] == 2


def test_real_process_prints_one_line_and_no_traceback(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "photonormals",
            "predict",
            "--out",
            str(tmp_path / "o"),
            str(tmp_path / "x.png"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "x.png: no such file" in result.stderr


# ---------------------------------------------------------------------------- bad input, issue 32


def _lights_json(directions, intensities=None) -> str:
    lights = [{"direction": d} if intensities is None else {"direction": d, "intensity": e}
              for d, e in zip(directions, intensities or directions, strict=True)]
    return json.dumps({"lights": lights})


BAD_LIGHTS = {  # case: (lights.json, or None for one made in the test; the message)
    "nan direction": ('{"lights": [{"direction": [NaN, 0, 1]}]}', "not valid JSON"),
    "zero direction": (None, "light 2 is a zero vector"),
    "infinite intensity": ('{"lights": [{"direction": [0, 0, 1], "intensity": [1e999, 1, 1]}]}',
                           "not three finite numbers"),
    "huge intensity": (None, "light 1: intensities must be numbers from"),
    "deep nesting": ('{"lights": ' + "[" * 200_000 + "]" * 200_000 + "}", "nested too deeply"),
}


@pytest.mark.parametrize("case", BAD_LIGHTS)
def test_bad_lights_json_exits_2_with_one_line(cli, photo_set, tmp_path, case):
    content, message = BAD_LIGHTS[case]
    folder, images, _, _ = photo_set
    directions = np.loadtxt(folder / "light_directions.txt").tolist()
    if case == "zero direction":
        directions[1] = [0, 0, 0]
        content = _lights_json(directions)
    elif case == "huge intensity":
        content = _lights_json(directions, [[1e39, 1e39, 1e39]] * len(directions))
    (tmp_path / "lights.json").write_text(content)
    code, _, stderr = cli("predict", "--lights", tmp_path / "lights.json", "--out",
                          tmp_path / "out", *images)
    assert code == 2 and message in stderr, stderr
    assert stderr.count("\n") == 1


def test_huge_light_vectors_are_directions_like_any_other(cli, photo_set, tmp_path):
    folder, images, normals, mask = photo_set
    np.savetxt(tmp_path / "far.txt", np.loadtxt(folder / "light_directions.txt") * 1e300)
    code, _, stderr = cli("predict", "--lights", tmp_path / "far.txt", "--intensities",
                          folder / "light_intensities.txt", "--out", tmp_path / "out", *images)
    assert code == 0, stderr
    cos = (np.load(tmp_path / "out" / "normal.npy")[mask] * normals[mask]).sum(axis=1)
    assert np.degrees(np.arccos(np.clip(cos, -1, 1))).mean() < 1.0


def test_a_black_set_is_bad_input_not_a_crash(cli, tmp_path):
    paths = []
    for k in range(3):
        paths.append(tmp_path / f"{k}.png")
        write_linear_png(paths[-1], np.zeros((32, 32, 3), np.float32))
    code, _, stderr = cli("predict", "--mode", "multi", "--out", tmp_path / "out", *paths)
    assert code == 2 and "dark everywhere" in stderr


@pytest.mark.parametrize("mode", ["multi", "calibrated"])
def test_a_set_without_a_lighting_change_is_bad_input(cli, photo_set, tmp_path, mode):
    """The same photo three times (once brighter: exposure is not lighting), or one lit photo
    among dark ones, cannot be solved: exit 2 with what to do, not a plausible-looking map."""
    folder, images, _, _ = photo_set
    np.savetxt(tmp_path / "three.txt", np.loadtxt(folder / "light_directions.txt")[:3])
    lights = ["--lights", tmp_path / "three.txt"] if mode == "calibrated" else ["--mode", "multi"]
    photo = cv2.imread(str(images[0]), cv2.IMREAD_UNCHANGED)
    same, one_lit = [], []
    for k, gain in enumerate((1.0, 1.0, 0.6)):
        same.append(tmp_path / f"same{k}.png")
        cv2.imwrite(str(same[-1]), (photo * gain).astype(np.uint16))
        one_lit.append(tmp_path / f"one{k}.png")
        cv2.imwrite(str(one_lit[-1]), photo if k == 0 else np.zeros_like(photo))
    mask = ["--mask", folder / "mask.png"]
    code, _, stderr = cli("predict", *lights, *mask, "--out", tmp_path / "out", *same)
    assert code == 2 and "same lighting" in stderr and "move the lamp" in stderr, stderr
    code, _, stderr = cli("predict", *lights, *mask, "--out", tmp_path / "out", *one_lit)
    assert code == 2 and "only 1 of the 3 photos light the object" in stderr, stderr
    assert not (tmp_path / "out").exists()


def test_tiny_photos_and_folders_are_refused_in_one_line(cli, photo_set, tmp_path):
    _, images, _, _ = photo_set
    tiny = []
    for k in range(3):
        tiny.append(tmp_path / f"tiny{k}.png")
        write_linear_png(tiny[-1], np.full((1, 1, 3), 0.5, np.float32))
    code, _, stderr = cli("predict", "--mode", "multi", "--out", tmp_path / "out", *tiny)
    assert code == 2 and "tiny0.png: 1x1 is too small" in stderr
    code, _, stderr = cli("predict", "--out", tmp_path / "out", tmp_path, *images[:2])
    assert code == 2 and "is a folder, not a file" in stderr


# ---------------------------------------------------------------------------- result folder swap


def test_predict_says_how_many_files_it_wrote(cli, photo_set, tmp_path):
    folder, images, _, _ = photo_set
    code, stdout, _ = cli(*_predict_args(folder, images, tmp_path / "out"))
    assert code == 0
    assert f"wrote {len(list((tmp_path / 'out').iterdir()))} files" in stdout


def test_overwrite_killed_mid_write_leaves_the_old_results_whole(
    cli, photo_set, tmp_path, monkeypatch
):
    from photonormals.io import images as image_io

    folder, images, _, _ = photo_set
    out = tmp_path / "out"
    assert cli(*_predict_args(folder, images, out))[0] == 0
    (out / "notes.txt").write_text("the user's own file")
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def killed(*_args, **_kwargs):  # after normal.npy and normal.png are written
        raise KeyboardInterrupt

    monkeypatch.setattr(image_io, "write_srgb_png", killed)
    code, _, _ = cli(*_predict_args(folder, images[::-1], out, "--overwrite"))
    assert code == 130
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # old maps, untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "sphere"]  # no staging left


def test_leftovers_of_a_killed_run_are_cleaned_or_restored(cli, photo_set, tmp_path):
    folder, images, _, _ = photo_set
    out = tmp_path / "out"
    assert cli(*_predict_args(folder, images, out))[0] == 0
    (out / ".normal.npy.k2j3.tmp").write_bytes(b"x" * 1000)  # an older writer's temporary
    (tmp_path / ".out.partial-1234").mkdir()  # a run killed while writing
    (tmp_path / ".out.partial-1234" / "normal.npy").write_bytes(b"half")
    # A run killed between its two renames: the old folder is set aside, the new one not in.
    out.rename(tmp_path / ".out.old-5678")
    code, _, stderr = cli(*_predict_args(folder, images, out))
    assert code == 2 and "already holds results" in stderr  # restored, so not replaced silently
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "sphere"]
    assert not list(out.glob(".*"))
    assert cli(*_predict_args(folder, images, out, "--overwrite"))[0] == 0


def test_the_readme_command_summary_names_every_option():
    """The README's summary block against each sub-command's --help."""
    from pathlib import Path

    from photonormals.cli.main import build_parser

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    block = readme.split("## Command line", 1)[1].split("```", 2)[1]
    usages = {}  # sub-command -> its lines of the block
    for line in block.splitlines():
        if line.startswith("photonormals "):
            command = line.split()[1]
        if line.strip():
            usages[command] = usages.get(command, "") + line
    subcommands = next(a for a in build_parser()._actions if a.choices and a.dest == "command")
    assert set(usages) == set(subcommands.choices)
    for command, parser in subcommands.choices.items():
        options = {a.option_strings[-1] for a in parser._actions
                   if a.option_strings and a.dest != "help"}
        missing = {option for option in options if f"{option} " not in usages[command] + " "
                   and f"[{option}]" not in usages[command] and f"{option}]" not in usages[command]}
        assert not missing, f"README's {command} line misses {sorted(missing)}"
