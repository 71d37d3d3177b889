"""predict --mode single end to end with a small untrained portrait network (shapes, files and
report; accuracy is the benchmarks' business)."""

from __future__ import annotations

import json

import cv2
import imageio.v3 as iio
import numpy as np
import pytest
import torch
from photonormals.models import create_model
from photonormals.models.weights import save_weights


def tiny_portrait_weights(folder, monkeypatch, mask_bias: float):
    """A small untrained portrait net as the single-mode weights, its mask made constant (an
    untrained head's logits swing both ways): +5 reads "all subject", -5 "no person anywhere"."""
    folder.mkdir()
    torch.manual_seed(0)
    model = create_model("portrait_lite", widths=[8, 16, 32])
    with torch.no_grad():
        model.heads.mask.tail[1].weight.zero_()
        model.heads.mask.tail[1].bias.fill_(mask_bias)
    save_weights(folder / "tiny.safetensors", model, input_size=32, steps=0)
    (folder / "index.json").write_text(json.dumps({"single": "tiny.safetensors"}))
    monkeypatch.setenv("PHOTONORMALS_WEIGHTS", str(folder))
    return folder


@pytest.fixture
def portrait_weights(tmp_path, monkeypatch):
    return tiny_portrait_weights(tmp_path / "weights", monkeypatch, mask_bias=5.0)


@pytest.fixture
def a_face(monkeypatch):
    """The noise photo has no face; pretend the detector found one filling it (whole frame)."""
    from photonormals.inference import face_crop

    monkeypatch.setattr(face_crop, "detect_faces", lambda image: [(0, 0, 40, 48)])


@pytest.fixture
def photo(tmp_path):
    rng = np.random.default_rng(0)
    image = (rng.uniform(0.2, 0.8, (48, 40, 3)) * 255).astype(np.uint8)
    path = tmp_path / "portrait.png"
    iio.imwrite(path, image)
    return path


@pytest.mark.parametrize("mode", ["single", "auto"])
def test_single_portrait_writes_every_map(cli, portrait_weights, a_face, photo, tmp_path, mode):
    out = tmp_path / "out"
    code, _, stderr = cli("predict", "--mode", mode, "--out", out, photo)
    assert code == 0, stderr
    for name in (
        "normal.npy",
        "normal.png",
        "albedo.png",
        "mask.png",
        "shading.png",
        "report.json",
    ):
        assert (out / name).is_file(), name
    assert not (out / "lights.json").exists()  # one photo: no light estimate
    normals = np.load(out / "normal.npy")
    assert normals.shape == (48, 40, 3)
    mask = iio.imread(out / "mask.png") > 127
    length = np.linalg.norm(normals, axis=2)
    assert np.allclose(length[mask], 1, atol=1e-3) and np.all(length[~mask] == 0)
    shading = cv2.imread(str(out / "shading.png"), cv2.IMREAD_UNCHANGED)  # Pillow drops to 8 bits
    assert shading.dtype == np.uint16 and shading.shape[:2] == (48, 40)
    report = json.loads((out / "report.json").read_text())
    assert report["method"] == "single_portrait" and report["model"] == "portrait_lite"
    assert report["face_found"] is True and "whole frame" in report["crop_note"]
    assert report["flip_tta"] is True  # the pipeline averages with the mirrored photo


def test_single_mode_takes_one_photo(cli, portrait_weights, photo, tmp_path):
    code, _, stderr = cli("predict", "--mode", "single", "--out", tmp_path / "out", photo, photo)
    assert code == 2 and "single mode takes one portrait" in stderr


def test_a_photo_without_a_face_is_refused_and_nothing_is_written(
    cli, portrait_weights, photo, tmp_path
):
    """No face: exit 2 with a clear message, never a junk map over the whole frame."""
    out = tmp_path / "out"
    code, _, stderr = cli("predict", "--mode", "single", "--out", out, photo)
    assert code == 2 and "no person found in the photo" in stderr and "multi mode" in stderr
    assert not out.exists()


def test_a_photo_without_a_person_is_refused_and_nothing_is_written(
    cli, photo, tmp_path, monkeypatch
):
    tiny_portrait_weights(tmp_path / "weights", monkeypatch, mask_bias=-5.0)
    out = tmp_path / "out"
    code, _, stderr = cli("predict", "--mode", "single", "--out", out, photo)
    assert code == 2 and "no person found in the photo" in stderr
    assert not out.exists()


def test_an_off_centre_face_is_turned_into_the_photo_frame(portrait_weights, photo, monkeypatch):
    """The network answers as if the face sat on the optical axis; with a focal length the
    normals are turned by the angle to the face, and nothing else changes."""
    from photonormals.inference import face_crop
    from photonormals.inference.camera import view_rotation
    from photonormals.predict import PredictOptions, predict

    monkeypatch.setattr(face_crop, "detect_faces", lambda image: [(2, 3, 12, 12)])  # top left
    plain = predict([photo], PredictOptions(mode="single", focal_35mm=0))
    turned = predict([photo], PredictOptions(mode="single", focal_35mm=24))
    assert plain.report["face_found"] and plain.report["view_rotation_deg"] == 0
    assert turned.report["focal_source"] == "given" and turned.report["view_rotation_deg"] > 20
    turn = view_rotation((8, 9), (48, 40), 24 * np.hypot(48, 40) / 43.27)
    assert np.array_equal(plain.mask, turned.mask)
    # The face pass (crop square x -4..20, y -3..21; full weight 6 px inside its edge) is turned;
    # the whole-frame pass looks down the optical axis, so below the crop nothing turns.
    face, body = (slice(4, 14), slice(3, 13)), (slice(26, 48), slice(None))
    assert np.allclose(turned.normals[face], plain.normals[face] @ turn.T, atol=1e-5)
    assert np.allclose(turned.normals[body], plain.normals[body], atol=1e-5)
    assert [f["face_box"] for f in plain.report["faces"]] == [[2, 3, 12, 12]]


@pytest.mark.parametrize("args, message", [
    (("--focal-35mm", "3"), "35 mm-equivalent focal length of 8-2000 mm"),
    (("--focal-35mm", "nan"), "35 mm-equivalent focal length"),
])
def test_bad_focal_length_is_refused(cli, portrait_weights, photo, tmp_path, args, message):
    code, _, stderr = cli("predict", "--mode", "single", *args, "--out", tmp_path / "out", photo)
    assert code == 2 and message in stderr and not (tmp_path / "out").exists()


def test_focal_length_is_for_single_mode(cli, photo, tmp_path):
    code, _, stderr = cli("predict", "--focal-35mm", "50", "--out", tmp_path / "out", photo, photo)
    assert code == 2 and "--focal-35mm is for single-portrait mode" in stderr


def test_the_service_answers_400_for_a_photo_without_a_face(portrait_weights, photo, tmp_path):
    from photonormals.service.launch import start_server, stop_server
    from test_service import TOKEN, call, error_of, multipart

    process, url = start_server(tmp_path / "service", "--token", TOKEN, timeout=60)
    try:
        status, error = error_of(call(url + "/v1/predict", "POST",
                                      *multipart([photo], {"mode": "single"})))
    finally:
        stop_server(process)
    assert status == 400 and error["code"] == "bad_input"
    assert "no person found in the photo" in error["message"]


def test_the_frame_pass_runs_once_at_the_face_scale_unless_asked(portrait_weights, photo,
                                                                  monkeypatch):
    """The face passes carry the faces, flip-averaged; the whole-frame pass runs once, at the
    size that shows the face at its trained scale (the frame is 3x the face's crop square:
    96 px), or smaller where --frame-px caps it (down to the network's 32 px here)."""
    from photonormals.inference import face_crop, portrait
    from photonormals.predict import PredictOptions, predict

    monkeypatch.setattr(face_crop, "detect_faces", lambda image: [(14, 10, 8, 8)])  # crop: 16 px
    passes = []  # (working size, flip-averaged) of each network pass
    run = portrait.predict_maps
    monkeypatch.setattr(portrait, "predict_maps", lambda net, x, flip_tta=False: (
        passes.append((x.shape[-1], flip_tta)) or run(net, x, flip_tta)))
    fine = predict([photo], PredictOptions(mode="single"))
    assert fine.report["frame_pass_px"] == 96 and fine.report["flip_tta"]
    assert passes == [(96, False), (32, True)]
    passes.clear()
    fast = predict([photo], PredictOptions(mode="single", frame_px=64))
    assert fast.report["frame_pass_px"] == 64 and passes == [(64, False), (32, True)]
    assert fast.mask.shape == fine.mask.shape == (48, 40)


def test_a_face_filling_the_frame_keeps_its_flip_averaged_pass(portrait_weights, a_face, photo,
                                                                monkeypatch):
    from photonormals.inference import portrait
    from photonormals.predict import PredictOptions, predict

    passes = []
    run = portrait.predict_maps
    monkeypatch.setattr(portrait, "predict_maps", lambda net, x, flip_tta=False: (
        passes.append((x.shape[-1], flip_tta)) or run(net, x, flip_tta)))
    predict([photo], PredictOptions(mode="single"))
    assert passes == [(32, True)]  # the whole frame is the face's crop: one pass, mirrored too


@pytest.mark.parametrize("args, message", [
    (("--mode", "single", "--frame-px", "4096"), "--frame-px 4096: give 64-512 pixels"),
    (("--mode", "material", "--frame-px", "256"), "--frame-px is for single-portrait mode"),
])
def test_frame_pass_size_is_checked(cli, photo, tmp_path, args, message):
    code, _, stderr = cli("predict", *args, "--out", tmp_path / "out", photo)
    assert code == 2 and message in stderr and not (tmp_path / "out").exists()
