"""`photonormals batch` without Ray: one predict folder per set, the same as `predict` writes,
a summary, and a second run that skips what is done."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import render_lambertian, sphere_normals, spread_lights
from photonormals.io.images import write_linear_png

COUNT = 4


def light_set(folder: Path, seed: int) -> list[Path]:
    """A 32x32 sphere under COUNT known lights, laid out as DiLiGenT does."""
    folder.mkdir(parents=True)
    normals, mask = sphere_normals(32)
    directions = spread_lights(COUNT, seed=seed)
    intensities = np.random.default_rng(seed).uniform(0.7, 1.0, (COUNT, 3)).astype(np.float32)
    albedo = np.broadcast_to(np.float32([0.6, 0.6, 0.5]), normals.shape)
    names = [f"{k + 1:03d}.png" for k in range(COUNT)]
    for name, image in zip(names, render_lambertian(normals, mask, directions, intensities,
                                                    albedo), strict=True):
        write_linear_png(folder / name, image)
    np.savetxt(folder / "light_directions.txt", directions, fmt="%.6f")
    np.savetxt(folder / "light_intensities.txt", intensities, fmt="%.6f")
    (folder / "filenames.txt").write_text("\n".join(reversed(names)) + "\n")  # the order counts
    write_linear_png(folder / "mask.png", mask.astype(np.float32), bits=8)
    return [folder / name for name in reversed(names)]


@pytest.fixture(scope="module")
def sets(tmp_path_factory) -> Path:
    """Two good sets and one with a broken photo."""
    folder = tmp_path_factory.mktemp("batch") / "in"
    light_set(folder / "sphere_a", seed=1)
    light_set(folder / "sphere_b", seed=2)
    light_set(folder / "broken", seed=3)[1].write_bytes(b"\x89PNG\r\n\x1a\n not a PNG")
    return folder


def check_batch(cli, sets: Path, out: Path, *extra) -> None:
    """The batch's folders are predict's, its summary names the broken set; run again, it
    skips the done sets and redoes one whose folder went."""
    code, stdout, _ = cli("batch", sets, "--out", out, *extra)
    assert code == 2, stdout  # a set failed on its input
    summary = json.loads((out / "summary.json").read_text())
    assert summary["failed"] == ["broken"] and not summary["ok"]
    assert "broken: error: 003.png" in stdout  # says which photo

    photos = (sets / "sphere_a" / "filenames.txt").read_text().split()
    code, _, _ = cli("predict", *[sets / "sphere_a" / p for p in photos], "--lights",
                     sets / "sphere_a" / "light_directions.txt", "--intensities",
                     sets / "sphere_a" / "light_intensities.txt", "--mask",
                     sets / "sphere_a" / "mask.png", "--out", out.parent / "predicted")
    assert code == 0
    assert sorted(p.name for p in (out / "sphere_a").iterdir()) == \
        sorted(p.name for p in (out.parent / "predicted").iterdir())
    for name in ("normal.npy", "lights.json"):
        assert (out / "sphere_a" / name).read_bytes() == \
            (out.parent / "predicted" / name).read_bytes()

    shutil.rmtree(out / "sphere_b")
    code, stdout, _ = cli("batch", sets, "--out", out, *extra)
    assert code == 2 and "sphere_a: already done, skipped" in stdout
    assert "sphere_b: calibrated" in stdout and (out / "sphere_b" / "normal.png").is_file()


def test_batch_writes_predict_folders_and_resumes(cli, sets, tmp_path):
    check_batch(cli, sets, tmp_path / "out")


@pytest.mark.parametrize("make, args, message", [
    (lambda tmp: None, ["--cpus-per-set", "2"], "--cpus-per-set is a --ray option"),
    (lambda tmp: (tmp / "in" / "a.png").write_bytes(b"") or (tmp / "in" / "a").mkdir(), [],
     "would both write a/"),
    (lambda tmp: None, ["--ray", "--gpus-per-set", "-1"], "must be 0 or more"),
])
def test_bad_batch_input_exits_2_in_one_line(cli, tmp_path, make, args, message):
    (tmp_path / "in").mkdir()
    make(tmp_path)
    code, _, err = cli("batch", tmp_path / "in", "--out", tmp_path / "out", *args)
    assert code == 2 and message in err and err.count("\n") == 1


def test_a_missing_or_empty_input_folder_is_named(cli, tmp_path):
    code, _, err = cli("batch", tmp_path / "nope", "--out", tmp_path / "out")
    assert code == 2 and "no such folder" in err
    (tmp_path / "empty").mkdir()
    code, _, err = cli("batch", tmp_path / "empty", "--out", tmp_path / "out")
    assert code == 2 and "no photos" in err
