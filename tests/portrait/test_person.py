"""MediaPipe's person segmentation and full-range face detector through ai-edge-litert
(`inference.person`), on a face drawn here (no ../shared), and their use in the portrait mask."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from photonormals.inference import face_crop, person
from photonormals.inference.portrait import person_probability, subject_mask

pytestmark = pytest.mark.skipif(not person.available(), reason="ai-edge-litert not installed")


def cartoon_person(h: int = 256, w: int = 256) -> np.ndarray:
    """A flat drawing of a head and shoulders (sRGB in [0, 1]) centred in an h x w frame: hair,
    face with eyes, nose and mouth, neck and a dark top, on a grey-blue wall."""
    c = np.full((256, 256, 3), (0.55, 0.6, 0.65), np.float32)
    cv2.ellipse(c, (128, 250), (110, 70), 0, 180, 360, (0.1, 0.15, 0.35), -1)  # shoulders
    cv2.rectangle(c, (108, 150), (148, 200), (0.8, 0.6, 0.5), -1)  # neck
    cv2.ellipse(c, (128, 110), (50, 64), 0, 0, 360, (0.85, 0.65, 0.55), -1)  # face
    cv2.ellipse(c, (128, 80), (54, 42), 0, 180, 360, (0.15, 0.1, 0.05), -1)  # hair
    for x in (108, 148):
        cv2.ellipse(c, (x, 105), (9, 5), 0, 0, 360, (1, 1, 1), -1)
        cv2.circle(c, (x, 105), 4, (0.1, 0.08, 0.05), -1)
    cv2.ellipse(c, (128, 150), (16, 6), 0, 0, 360, (0.6, 0.2, 0.2), -1)  # mouth
    cv2.line(c, (128, 112), (124, 132), (0.6, 0.45, 0.4), 2)  # nose
    frame = np.empty((h, w, 3), np.float32)
    frame[:] = c[0, 0]
    oy, ox = (h - 256) // 2, (w - 256) // 2
    frame[oy:oy + 256, ox:ox + 256] = c
    return frame


def test_segmentation_finds_the_drawn_person_and_nothing_in_a_blank_frame():
    prob = person.segment_person(cartoon_person(), srgb=True)
    assert prob.shape == (256, 256) and prob.dtype == np.float32
    assert prob.min() >= 0 and prob.max() <= 1
    assert prob[110, 128] > 0.9 and prob[60, 128] > 0.5  # face and hair
    assert prob[20, 20] < 0.1 and prob[20, 236] < 0.1  # wall
    assert 0.1 < (prob > 0.5).mean() < 0.5
    blank = person.segment_person(np.full((120, 200, 3), 0.3, np.float32))  # linear input
    assert blank.shape == (120, 200) and blank.max() < 0.1


def test_segmentation_of_a_wide_frame_finds_the_person_where_they_stand():
    """Any aspect: a 256 x 768 frame (tiled, beside the stretched pass)."""
    prob = person.segment_person(cartoon_person(256, 768), srgb=True)
    assert prob.shape == (256, 768)
    assert prob[110, 384] > 0.9 and prob[110, 60] < 0.1 and prob[110, 700] < 0.1


def test_detector_finds_the_drawn_face_with_its_eyes_in_place():
    faces = person.detect_faces(cartoon_person(), srgb=True)
    assert len(faces) == 1 and faces[0].score > 0.5
    x, y, w, h = faces[0].box
    assert abs(x + w / 2 - 128) < 20 and abs(y + h / 2 - 115) < 25 and 60 < w < 160
    right_eye, left_eye = faces[0].keypoints[:2]  # the person's right eye is on the image left
    assert np.allclose(right_eye, (108, 105), atol=12) and np.allclose(left_eye, (148, 105),
                                                                        atol=12)
    assert person.detect_faces(np.full((100, 150, 3), 0.5, np.float32)) == []


def test_detector_finds_the_face_moved_off_centre_in_a_tall_frame():
    frame = np.empty((600, 300, 3), np.float32)
    frame[:] = (0.55, 0.6, 0.65)
    frame[300:556, 20:276] = cartoon_person()
    faces = person.detect_faces(frame, srgb=True)
    assert len(faces) == 1
    x, y, w, h = faces[0].box
    assert abs(x + w / 2 - 148) < 25 and abs(y + h / 2 - 415) < 30


def test_anchor_decoding():
    anchors = person.face_anchors()
    assert anchors.shape == (2304, 2)
    assert np.allclose(anchors[0], [0.5 / 48, 0.5 / 48]) and np.allclose(anchors[1], [1.5 / 48,
                                                                                       0.5 / 48])
    raw_boxes = np.zeros((2304, 16), np.float32)
    raw_scores = np.full((2304, 1), -10.0, np.float32)
    i = 20 * 48 + 30  # row 20, column 30
    raw_boxes[i, :4] = [9.6, -19.2, 48, 96]  # +0.05, -0.1 of the input; 0.25 x 0.5
    raw_boxes[i, 4:6] = [0, 0]  # first keypoint on the anchor
    raw_scores[i] = 3.0
    (score, box, keypoints), = person.decode_faces(raw_boxes, raw_scores)
    cx, cy = (30.5 / 48) + 0.05, (20.5 / 48) - 0.1
    assert score == pytest.approx(1 / (1 + np.exp(-3.0)))
    assert np.allclose(box, [cx - 0.125, cy - 0.25, cx + 0.125, cy + 0.25], atol=1e-6)
    assert np.allclose(keypoints[0], anchors[i])


def test_face_crop_uses_the_detector_in_haar_framing_and_falls_back_to_haar(monkeypatch):
    linear = np.clip(cartoon_person(), 0, 1) ** 2.2
    (x, y, w, h), = face_crop.detect_faces(linear)
    face = person.detect_faces(linear)[0]
    assert w == h and w == pytest.approx(face_crop.HAAR_SCALE * max(face.box[2:]), abs=1)
    assert y + h / 2 < face.box[1] + face.box[3] / 2  # moved up to Haar's framing
    monkeypatch.setattr(person, "available", lambda: False)
    called = []
    monkeypatch.setattr(face_crop, "detect_faces_haar", lambda image: called.append(1) or [])
    assert face_crop.detect_faces(linear) == [] and called


def test_person_probability_trusts_a_sure_segmentation_and_averages_where_unsure():
    seg = np.array([[0.95, 0.05, 0.5, 0.7]], np.float32)
    net = np.array([[0.0, 1.0, 0.9, 0.1]], np.float32)
    assert np.allclose(person_probability(seg, net), [[0.95, 0.05, 0.7, 0.4]])


def test_subject_mask_keeps_a_second_person_without_a_face_with_keep_share():
    mask = np.zeros((40, 80), bool)
    mask[5:35, 5:30] = True  # the person whose face was found
    mask[10:35, 50:70] = True  # another, face turned away
    mask[2:4, 75:77] = True  # a speck
    assert not subject_mask(mask, [(10, 8, 10, 10)])[20, 60]
    kept = subject_mask(mask, [(10, 8, 10, 10)], keep_share=0.1)
    assert kept[20, 60] and not kept[3, 76]
