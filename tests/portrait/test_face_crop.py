"""Face crop and paste-back: box geometry, coordinate round trips, tight crops, no-face path."""

import cv2
import numpy as np
import pytest
from photonormals.inference.face_crop import (
    FACE_CROP_FACTOR,
    CropBox,
    crop_box_for,
    crop_to_box,
    crop_to_image,
    detect_face,
    face_crop,
    image_to_crop,
    paste_back,
    whole_frame_box,
)


def shaded_face(h=360, w=480, cx=240, cy=180, s=80):
    """A frontally lit ellipsoid with dark eye sockets, brows, nostrils and mouth: enough
    face-like contrast for OpenCV's frontal Haar cascade. Linear RGB."""
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float32)
    r2 = ((cols - cx) / (0.78 * s)) ** 2 + ((rows - cy) / s) ** 2
    shade = 0.15 + 0.85 * np.sqrt(np.clip(1 - r2, 0, 1))

    def dark(ex, ey, ax, ay, depth):
        return 1 - depth * np.exp(-2 * (((cols - ex) / ax) ** 2 + ((rows - ey) / ay) ** 2))

    for side in (-1, 1):
        ex, ey = cx + side * 0.36 * s, cy - 0.2 * s
        shade *= dark(ex, ey, 0.2 * s, 0.12 * s, 0.8) * dark(
            ex, ey - 0.22 * s, 0.22 * s, 0.04 * s, 0.7
        )
    shade *= dark(cx, cy + 0.5 * s, 0.28 * s, 0.06 * s, 0.8) * dark(
        cx, cy + 0.25 * s, 0.12 * s, 0.04 * s, 0.5
    )
    grey = cv2.GaussianBlur(np.where(r2 < 1, shade, 0.05).astype(np.float32), (0, 0), 1.5)
    return grey[..., None] * np.float32([0.8, 0.55, 0.45])


def test_detector_finds_a_synthetic_face_and_frames_it():
    image = shaded_face(cx=260, cy=170, s=80)
    crop = face_crop(image, 64)
    assert crop.face_found and crop.note == "face crop"
    x, y, w, h = crop.face_box
    assert abs(x + w / 2 - 260) < 15 and abs(y + h / 2 - 170) < 25  # centred on the face
    assert 0.8 * 160 < w < 2.5 * 160 * 0.78
    assert crop.box.side == pytest.approx(FACE_CROP_FACTOR * max(w, h))
    assert crop.image.shape == (64, 64, 3)
    # the face sits in the middle of the crop: the centre is brighter than the corners
    assert crop.image[28:36, 28:36].mean() > 3 * crop.image[:6, :6].mean()


def test_no_face_uses_the_whole_frame_letterboxed():
    image = np.random.default_rng(0).uniform(0.2, 0.3, (40, 80, 3)).astype(np.float32)
    crop = face_crop(image, 32)
    assert not crop.face_found and crop.face_box is None and "no face" in crop.note
    assert crop.box == whole_frame_box(image.shape) == CropBox(0.0, -20.0, 80.0)
    assert crop.image[:6].max() == 0 and crop.image[-6:].max() == 0  # black bars top and bottom
    assert crop.image[12:20].min() > 0.15


def test_tight_crop_and_oversized_boxes_use_the_whole_frame():
    shape = (200, 300, 3)
    assert crop_box_for((60, 10, 150, 170), shape) == whole_frame_box(shape)  # > 60 % of 200
    assert crop_box_for((-50, -40, 400, 400), shape) == whole_frame_box(shape)  # past the frame
    image = shaded_face(h=200, w=200, cx=100, cy=100, s=110)  # the face fills the frame
    crop = face_crop(image, 48)
    assert crop.box == whole_frame_box(image.shape)
    assert crop.image.shape == (48, 48, 3) and crop.image[24, 24].mean() > 0.1


def test_box_partly_outside_the_image_pads_black_and_pastes_back():
    image = np.random.default_rng(1).uniform(0.1, 1.0, (120, 160, 3)).astype(np.float32)
    box = crop_box_for((-10, 70, 40, 40), image.shape)  # face at the bottom-left corner
    assert box == CropBox(-30.0, 50.0, 80.0)
    crop = crop_to_box(image, box, 80)  # 1:1 scale: an exact copy of the visible part
    assert np.allclose(crop[:70, 30:], image[50:120, 0:50])
    assert crop[:, :30].max() == 0 and crop[70:].max() == 0
    pasted = paste_back({"rgb": crop, "mask": np.ones((80, 80), np.float32)}, box, image.shape)
    assert pasted["rgb"].shape == image.shape and pasted["mask"].shape == image.shape[:2]
    assert np.allclose(pasted["rgb"][50:, :50], image[50:, :50])
    assert pasted["mask"][:50].max() == 0 and pasted["mask"][:, 50:].max() == 0  # zero outside


def test_coordinates_round_trip_and_match_the_resampling():
    box = CropBox(-37.5, 12.0, 300.0)
    points = np.array([[0.0, 0.0], [123.4, 56.7], [-20.0, 290.0]])
    assert np.allclose(crop_to_image(image_to_crop(points, box, 64), box, 64), points)
    image = np.zeros((400, 500, 3), np.float32)
    cv2.circle(image, (150, 160), 6, (1, 1, 1), -1)
    crop = crop_to_box(image, box, 64)
    row, col = np.unravel_index(crop[..., 0].argmax(), crop.shape[:2])
    expected = image_to_crop([[150.5, 160.5]], box, 64)[0]  # pixel centre
    assert abs(col + 0.5 - expected[0]) <= 1 and abs(row + 0.5 - expected[1]) <= 1
    back = paste_back({"c": crop}, box, image.shape)["c"]
    row, col = np.unravel_index(back[..., 0].argmax(), back.shape[:2])
    assert abs(col - 150) <= 4 and abs(row - 160) <= 4


def test_large_reductions_average_instead_of_aliasing():
    stripes = np.zeros((1000, 1000, 3), np.float32)
    stripes[:, ::2] = 1.0  # one-pixel stripes: a point sampler would see all 0 or all 1
    crop = crop_to_box(stripes, CropBox(0, 0, 1000), 50)
    assert np.allclose(crop[5:-5, 5:-5], 0.5, atol=0.05)


def test_detect_face_on_a_plain_image_is_none():
    assert detect_face(np.full((100, 100, 3), 0.5, np.float32)) is None


def test_the_bench_portrait_is_a_512_square_with_a_face_the_detector_finds():
    """`photonormals bench` times single mode on this shipped photo; a photo without a findable
    face would time the whole-frame fallback instead, or be refused by the model."""
    from photonormals.io.images import read_image
    from photonormals.service.bench import PORTRAIT_PHOTO

    image = read_image(PORTRAIT_PHOTO).rgb
    assert image.shape == (512, 512, 3)
    x, y, w, h = detect_face(image)
    assert 0.35 < w / 512 < 0.75 and abs(x + w / 2 - 256) < 80
