"""Face detector recall for issue 31: OpenCV Haar (the fallback), MediaPipe's full-range face
detector as predict runs it through ai-edge-litert (`person.detect_faces`, raw, and
`face_crop.detect_faces`, which drops faces under 6 % of the short side), and, where mediapipe
is installed (it is not a dependency; see docs/portrait/whole_person.md), mediapipe's own short-
and full-range detectors, on the shared portraits made harder: tilted, small in the frame, cut
by the frame edge, partly hidden.

    python benchmarks/face_detectors.py ../shared/data/portraits/*.jpg

Reference face: the Haar box on the untouched photo (MediaPipe's where Haar misses), carried
through each change. A hit: a detection whose centre lies in the reference box grown by 25 %.
"""

from __future__ import annotations

import json
import sys

import cv2
import numpy as np
from photonormals.inference import person
from photonormals.inference.face_crop import detect_faces, detect_faces_haar
from photonormals.io.colorspace import srgb_to_linear

try:
    import mediapipe as mp
except ImportError:
    mp = None


def haar(rgb8):
    linear = srgb_to_linear(rgb8 / 255.0).astype(np.float32)
    return [tuple(map(float, b)) for b in detect_faces_haar(linear)]


def litert_full(rgb8):
    return [f.box for f in person.detect_faces(rgb8 / np.float32(255), srgb=True)]


def predict_faces(rgb8):
    linear = srgb_to_linear(rgb8 / 255.0).astype(np.float32)
    return [tuple(map(float, b)) for b in detect_faces(linear)]


def mediapipe_detector(model_selection):
    detector = mp.solutions.face_detection.FaceDetection(model_selection=model_selection,
                                                         min_detection_confidence=0.5)

    def detect(rgb8):
        h, w = rgb8.shape[:2]
        found = detector.process(np.ascontiguousarray(rgb8)).detections or []
        return [(d.location_data.relative_bounding_box.xmin * w,
                 d.location_data.relative_bounding_box.ymin * h,
                 d.location_data.relative_bounding_box.width * w,
                 d.location_data.relative_bounding_box.height * h) for d in found]
    return detect


def variants(rgb8, box):
    """(condition, image, reference box (x, y, w, h)) for each change."""
    x, y, w, h = box
    cx, cy = x + w / 2, y + h / 2
    yield "original", rgb8, box
    for angle in (25, -25, 45, -45):
        m = cv2.getRotationMatrix2D((cx, cy), angle, 1.0)
        out = cv2.warpAffine(rgb8, m, rgb8.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)
        yield f"tilt {abs(angle)}", out, box
    for share in (0.3, 0.15):
        small = cv2.resize(rgb8, None, fx=share, fy=share, interpolation=cv2.INTER_AREA)
        canvas = np.full_like(rgb8, 128)
        oy, ox = (canvas.shape[0] - small.shape[0]) // 2, (canvas.shape[1] - small.shape[1]) // 2
        canvas[oy:oy + small.shape[0], ox:ox + small.shape[1]] = small
        yield f"small x{share}", canvas, (ox + x * share, oy + y * share, w * share, h * share)
    cut = int(cx - 0.1 * w)  # the frame's left edge through the face, ~40 % of it gone
    yield "cut by frame", rgb8[:, cut:], (x - cut, y, w, h)
    for name, top, bottom in (("lower half hidden", 0.55, 1.0), ("eyes hidden", 0.2, 0.5)):
        hidden = rgb8.copy()
        hidden[int(y + top * h):int(y + bottom * h), int(x):int(x + w)] = (90, 80, 70)
        yield name, hidden, box


def hit(found, box):
    x, y, w, h = box
    gx, gy, gw, gh = x - 0.25 * w, y - 0.25 * h, 1.5 * w, 1.5 * h
    return any(gx <= fx + fw / 2 <= gx + gw and gy <= fy + fh / 2 <= gy + gh
               for fx, fy, fw, fh in found)


def main(paths):
    detectors = {"haar": haar, "litert_full": litert_full, "predict": predict_faces}
    if mp is not None:
        detectors |= {"mediapipe_short": mediapipe_detector(0),
                      "mediapipe_full": mediapipe_detector(1)}
    hits: dict = {}
    for path in paths:
        rgb8 = cv2.imread(path)[..., ::-1].copy()
        reference = (haar(rgb8) or litert_full(rgb8))[0]
        for condition, image, box in variants(rgb8, reference):
            for name, detect in detectors.items():
                hits.setdefault(condition, {}).setdefault(name, []).append(hit(detect(image), box))
    table = {c: {n: f"{sum(v)}/{len(v)}" for n, v in d.items()} for c, d in hits.items()}
    table["all"] = {n: f"{sum(sum(d[n]) for d in hits.values())}/"
                       f"{sum(len(d[n]) for d in hits.values())}" for n in detectors}
    print(json.dumps(table, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
