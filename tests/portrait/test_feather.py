"""The face pass is feathered into the whole-frame pass: full weight inside, none outside, and a
smooth ramp between, so no straight seam shows along the crop square."""

from __future__ import annotations

import numpy as np
from photonormals.inference.face_crop import CropBox
from photonormals.inference.feather import blend_pass, feather_weight
from photonormals.inference.portrait import frame_pass_size, subject_mask


def test_weight_is_one_inside_zero_outside_and_ramps_smoothly():
    weight = feather_weight(CropBox(10, 20, 40), (80, 70), share=0.25)
    assert weight[40, 30] == 1 and weight[5, 5] == 0 and weight[75, 30] == 0
    assert weight[20, 30] < 0.01 and weight[59, 30] < 0.01  # the crop's own edge
    column = weight[:, 30]
    assert np.abs(np.diff(column)).max() < 0.2  # a ramp over 10 px, never a step


def test_blend_takes_the_layer_where_its_weight_is_one():
    shape = (6, 6)
    base = {"normal": np.tile([0.0, 0.0, 1.0], (*shape, 1)).astype(np.float32),
            "shading": np.full((*shape, 3), 0.5, np.float32), "mask": np.zeros(shape, np.float32)}
    layer = {"normal": np.tile([0.0, 1.0, 0.0], (*shape, 1)).astype(np.float32),
             "shading": np.full((*shape, 3), 2.0, np.float32), "mask": np.ones(shape, np.float32)}
    weight = np.zeros(shape, np.float32)
    weight[:, 3:] = 1.0
    weight[:, 2] = 0.5
    out = blend_pass(base, layer, weight)
    assert np.allclose(out["normal"][:, 4], [0, 1, 0])
    assert np.allclose(out["normal"][:, 0], [0, 0, 1])
    assert np.allclose(np.linalg.norm(out["normal"], axis=2), 1)
    assert np.allclose(out["shading"][:, 2], 1.0)  # log-space halfway between 0.5 and 2
    assert np.allclose(out["mask"][:, 2], 0.5)


def test_every_region_holding_a_face_is_kept():
    mask = np.zeros((60, 100), bool)
    mask[10:50, 5:45] = True  # the larger person
    mask[20:40, 70:90] = True  # a second, smaller one
    assert not subject_mask(mask)[30, 80]
    both = subject_mask(mask, [(10, 15, 20, 20), (72, 22, 12, 12)])
    assert both[30, 80] and both[30, 20]


def test_the_frame_pass_shows_the_face_at_its_trained_scale():
    # A face crop a quarter of the frame: the frame pass runs at 4x the crop's size, capped.
    assert frame_pass_size(128, CropBox(0, 0, 800), CropBox(0, 0, 400)) == 256
    assert frame_pass_size(128, CropBox(0, 0, 800), CropBox(0, 0, 100)) == 512
    assert frame_pass_size(128, CropBox(0, 0, 800), CropBox(0, 0, 1000)) == 128
    # what estimate asks for by default: the face pass's own working size
    assert frame_pass_size(128, CropBox(0, 0, 800), CropBox(0, 0, 100), 128) == 128
    assert frame_pass_size(128, CropBox(0, 0, 800), CropBox(0, 0, 400), 192) == 192
