"""``light_from="auto"``: the shipped light-side detector finds the side of a clearly side-lit
relief on each of the four sides; its network answers the photo's quarter turns with its answer
turned (by construction); the material model reads the detected side and says so."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from photonormals.inference.light_side import LightSideDetector
from photonormals.inference.material import AUTO, QUARTER_TURNS, MaterialModel
from photonormals.models import create_model
from photonormals.models.light_side import SIDES, TURNS
from photonormals.models.weights import save_weights

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
TOWARD = {"top": (0, 1), "left": (-1, 0), "right": (1, 0), "bottom": (0, -1)}  # x right, y up


def side_lit_relief(side: str, size: int = 160) -> np.ndarray:
    """A grey photo of round stones on a flat ground under a lamp low on ``side`` (35 deg up, at
    twice the frame's size): shaded slopes, cast shadows and the lamp's fall-off."""
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    z = np.zeros((size, size))
    for cx, cy, r in zip(*rng.uniform([0, 0, 6], [size, size, 14], (40, 3)).T, strict=True):
        z = np.maximum(z, r * np.sqrt(np.clip(1 - ((x - cx) ** 2 + (y - cy) ** 2) / r**2, 0, 1)))
    # The photo's rows run down: +y (up) is -row.
    n = np.dstack([-np.gradient(z, axis=1), np.gradient(z, axis=0), np.ones_like(z)])
    n /= np.linalg.norm(n, axis=2, keepdims=True)
    dx, dy = TOWARD[side]
    lamp = np.array([dx * np.cos(np.radians(35)), dy * np.cos(np.radians(35)),
                     np.sin(np.radians(35))]) * 2 * size
    lamp += [size / 2, -size / 2, 0]  # from the frame's centre, in (x, y up) pixels
    to_lamp = np.dstack([lamp[0] - x, lamp[1] + y, lamp[2] - z])
    dist = np.linalg.norm(to_lamp, axis=2, keepdims=True)
    shade = np.clip((n * to_lamp / dist).sum(2), 0, None) * (2 * size / dist[..., 0]) ** 2
    albedo = 0.5 + 0.1 * rng.standard_normal((size, size))
    return np.repeat((0.03 + 0.8 * albedo * shade)[..., None], 3, 2).astype(np.float32)


def test_the_network_turns_each_side_as_the_material_model_does():
    assert dict(zip(SIDES, TURNS, strict=True)) == QUARTER_TURNS


@pytest.mark.parametrize("side", list(TOWARD))
def test_the_shipped_detector_finds_a_side_lit_relief(side):
    found = LightSideDetector(WEIGHTS / "light_side.safetensors").detect(side_lit_relief(side))
    assert found.side == side, found.probabilities
    assert found.confident and sum(found.probabilities.values()) == pytest.approx(1, abs=1e-3)


def test_turning_the_photo_turns_the_answer():
    torch.manual_seed(0)
    model = create_model("light_side").eval()
    photo = torch.rand(1, 3, 40, 56)
    with torch.inference_mode():
        base = model(photo)["logits"][0]
        for k in range(4):  # the photo turned k times: the side whose light came from the top
            turned = model(torch.rot90(photo, k, (2, 3)))["logits"][0]
            for s, t in zip(SIDES, TURNS, strict=True):
                moved = SIDES[TURNS.index((t - k) % 4)]
                assert turned[SIDES.index(moved)] == pytest.approx(float(base[SIDES.index(s)]),
                                                                   abs=1e-5)


def test_auto_reads_the_photo_as_lit_from_the_detected_side(tmp_path):
    """The estimate with auto is the estimate with the side the detector picked, and says so."""
    torch.manual_seed(0)
    model = create_model("material_fast", widths=[8, 8, 16, 16], blocks=[1, 1, 1, 1])
    save_weights(tmp_path / "tiny.safetensors", model.eval(), steps=0)
    material = MaterialModel(tmp_path / "tiny.safetensors")
    photo = side_lit_relief("left", 64)
    auto = material.estimate(photo, light_from=AUTO)
    found = material.detect_light(photo)
    told = material.estimate(photo, light_from=found.side)
    assert found.confident and auto.light_detected and not told.light_detected
    assert auto.light_from == told.light_from == found.side
    assert auto.light_probabilities == found.probabilities
    assert np.array_equal(auto.normals, told.normals)
    assert "light_side_s" in auto.timings
    assert json.dumps(auto.light_probabilities)  # JSON-able, for report.json
