"""Person segmentation and face detection with MediaPipe's models, run in ai-edge-litert (bpy-free).

Two pretrained TFLite models ship in ``weights/`` (copied unchanged from the mediapipe 0.10.14
wheel, Apache-2.0; card: ``weights/mediapipe.md``) and run in the TFLite interpreter of
``ai-edge-litert``. mediapipe itself is not a dependency (it pins protobuf < 5, which onnx
cannot live with, and requires opencv-contrib-python), so the pre- and post-processing its
graphs do is written out here:

* **Selfie segmentation** (``selfie_segmentation.tflite``): the whole photo stretched to
  256 x 256 (as MediaPipe's graph does: ``keep_aspect_ratio: false``), RGB in [0, 1] -> a person
  probability per pixel, resized back to the photo bilinearly. It segments every person in the
  frame, with hair and clothes. Photos much wider or taller than square are also cut into
  overlapping near-square tiles, each segmented on its own, and the tiles' probabilities
  combined by their maximum: a person in a 3:1 panorama would otherwise be squeezed to a third
  of their width.
* **Full-range face detection** (``face_detection_full_range_sparse.tflite``, BlazeFace): the
  photo letterboxed to 192 x 192 (black border, RGB in [-1, 1]); 2304 SSD anchors, decoded as
  the ``face_detection_full_range`` graph configures them (one layer, stride 4: a 48 x 48 grid
  of unit-size anchors at cell centres; box and keypoint offsets in 192ths of the input), a
  sigmoid score, weighted non-maximum suppression at IoU 0.3, letterbox removed. A second pass
  on the photo mirrored catches a few faces the first misses.

Both models see a photo of at most 256 px, so they are given a copy of the photo area-averaged
to at most VIEW_SIDE px and only then encoded to sRGB: the encoding of a 1024² photo cost
more than both models together. Their outputs are mapped back to the photo's pixels.

The interpreters are built once per process and guarded by a lock (an interpreter is not
re-entrant; the service runs jobs in threads). `available()` says whether ai-edge-litert and
the model files are there; callers fall back to Haar and the network's own mask when not.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..io.colorspace import linear_to_srgb
from ..models.weights import DEFAULT_DIR, weights_dir

SEGMENTATION_FILE = "selfie_segmentation.tflite"
FACE_FILE = "face_detection_full_range_sparse.tflite"
SEG_SIZE = 256
FACE_SIZE = 192
FACE_GRID = 48  # 192 / stride 4
FACE_SCORE = 0.5  # mediapipe.solutions.face_detection's default min_detection_confidence
FACE_NMS_IOU = 0.3
TILE_ASPECT = 1.6  # wider (or taller) photos are also segmented in overlapping square tiles
VIEW_SIDE = 512  # the models' copy of the photo: twice the larger model input, so tiles keep it


@dataclass
class Face:
    box: tuple[float, float, float, float]  # (x, y, w, h) in photo pixels
    score: float
    keypoints: np.ndarray  # (6, 2) photo (x, y): right eye, left eye, nose, mouth, ears


def model_path(name: str) -> Path | None:
    """The model file in the weights folder (PHOTONORMALS_WEIGHTS), else the repository's."""
    for folder in (weights_dir(), DEFAULT_DIR):
        if (folder / name).is_file():
            return folder / name
    return None


@functools.cache
def _interpreter(name: str):
    from ai_edge_litert.interpreter import Interpreter

    path = model_path(name)
    if path is None:
        raise FileNotFoundError(f"{name} is not in the weights folder")
    interpreter = Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    return interpreter, threading.Lock()


def available() -> bool:
    """ai-edge-litert imports and both model files load."""
    try:
        _interpreter(SEGMENTATION_FILE)
        _interpreter(FACE_FILE)
    except (ImportError, OSError, ValueError, RuntimeError):
        return False
    return True


def _run(name: str, x: np.ndarray) -> list[np.ndarray]:
    interpreter, lock = _interpreter(name)
    with lock:
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"],
                               np.ascontiguousarray(x[None], np.float32))
        interpreter.invoke()
        return [interpreter.get_tensor(d["index"])[0].copy()
                for d in interpreter.get_output_details()]


def display_rgb(image: np.ndarray) -> np.ndarray:
    """Linear RGB -> sRGB in [0, 1], as a camera would have written it: an ordinary photo (99th
    percentile of grey between 0.25 and 1) is encoded as it is; a dark or HDR one is first
    brought to that level."""
    image = np.asarray(image, np.float32)
    level = float(np.quantile(image.mean(axis=2), 0.99))
    if not 0.25 <= level <= 1.0:
        image = image / max(level, 1e-6)
    return np.clip(linear_to_srgb(np.clip(image, 0.0, 1.0)), 0.0, 1.0).astype(np.float32)


def model_view(image: np.ndarray, srgb: bool = False) -> tuple[np.ndarray, float]:
    """(H, W, 3) photo (linear RGB; sRGB in [0, 1] with ``srgb``) -> (sRGB copy of long side at
    most VIEW_SIDE, its scale to the photo)."""
    image = np.asarray(image, np.float32)
    scale = min(1.0, VIEW_SIDE / max(image.shape[:2]))
    if scale < 1.0:
        size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return (image if srgb else display_rgb(image)), scale


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """cv2 resize to (width, height): area-averaged when shrinking, bilinear otherwise."""
    shrink = size[0] < image.shape[1] and size[1] < image.shape[0]
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


# ----------------------------------------------------------------------------- segmentation


def _segment_stretched(rgb: np.ndarray) -> np.ndarray:
    """sRGB [0, 1] (H, W, 3) -> (H, W) person probability, stretched through 256 x 256."""
    out = _run(SEGMENTATION_FILE, _resize(rgb, (SEG_SIZE, SEG_SIZE)))[0][..., 0]
    return np.clip(cv2.resize(out, rgb.shape[1::-1], interpolation=cv2.INTER_LINEAR), 0, 1)


def segment_person(image: np.ndarray, srgb: bool = False) -> np.ndarray:
    """(H, W, 3) photo (linear RGB; sRGB in [0, 1] with ``srgb``) -> (H, W) float32 probability
    that each pixel shows a person (any person; hair and clothes included)."""
    rgb, scale = model_view(image, srgb)
    h, w = rgb.shape[:2]
    prob = _segment_stretched(rgb)
    long, short = max(h, w), min(h, w)
    if long > TILE_ASPECT * short:
        count = int(np.ceil(long / short * 1.25))  # overlapping square tiles along the long side
        for start in np.linspace(0, long - short, count).round().astype(int):
            if w > h:
                tile = (slice(None), slice(start, start + short))
            else:
                tile = (slice(start, start + short), slice(None))
            prob[tile] = np.maximum(prob[tile], _segment_stretched(rgb[tile]))
    if scale < 1.0:
        prob = cv2.resize(prob, image.shape[1::-1], interpolation=cv2.INTER_LINEAR)
    return prob.astype(np.float32)


# ----------------------------------------------------------------------------- faces


@functools.cache
def face_anchors() -> np.ndarray:
    """(2304, 2) anchor centres in [0, 1] (x, y): the SSD anchors of MediaPipe's full-range face
    detector (num_layers 1, stride 4 on 192 px, anchor_offset 0.5, one aspect ratio,
    interpolated_scale_aspect_ratio 0, fixed_anchor_size: every anchor 1 x 1), row by row."""
    centres = (np.arange(FACE_GRID) + 0.5) / FACE_GRID
    yy, xx = np.meshgrid(centres, centres, indexing="ij")
    return np.stack([xx.ravel(), yy.ravel()], axis=1)


def decode_faces(raw_boxes: np.ndarray, raw_scores: np.ndarray,
                 min_score: float = FACE_SCORE) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """The model's (2304, 16) regressors and (2304, 1) logits -> [(score, box (xmin, ymin, xmax,
    ymax), keypoints (6, 2))] in [0, 1] of the 192 px input, after weighted NMS."""
    scores = 1 / (1 + np.exp(-np.clip(raw_scores[:, 0].astype(np.float64), -100, 100)))
    keep = scores >= min_score
    if not keep.any():
        return []
    anchors = face_anchors()[keep]
    raw = raw_boxes[keep] / FACE_SIZE  # x_scale = y_scale = w_scale = h_scale = 192
    centre = raw[:, :2] + anchors
    half = raw[:, 2:4] / 2
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    keypoints = raw[:, 4:16].reshape(-1, 6, 2) + anchors[:, None]
    return _weighted_nms(scores[keep], boxes, keypoints)


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    lo = np.maximum(box[:2], boxes[:, :2])
    hi = np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    area = lambda b: np.prod(np.clip(b[..., 2:] - b[..., :2], 0, None), axis=-1)
    return inter / np.maximum(area(box) + area(boxes) - inter, 1e-12)


def _weighted_nms(scores, boxes, keypoints):
    """MediaPipe's WEIGHTED non-max suppression: the best remaining detection takes every other
    one overlapping it by IoU > FACE_NMS_IOU, and its box and keypoints become their
    score-weighted mean (its score stays the best one's)."""
    order = np.argsort(-scores)
    scores, boxes, keypoints = scores[order], boxes[order], keypoints[order]
    left = np.ones(len(scores), bool)
    out = []
    for i in range(len(scores)):
        if not left[i]:
            continue
        group = left & (_iou(boxes[i], boxes) > FACE_NMS_IOU)
        group[i] = True
        weights = scores[group] / scores[group].sum()
        out.append((float(scores[i]), (boxes[group] * weights[:, None]).sum(0),
                    (keypoints[group] * weights[:, None, None]).sum(0)))
        left &= ~group
    return out


def _detect_once(rgb: np.ndarray) -> list[Face]:
    h, w = rgb.shape[:2]
    side = max(h, w)
    scale = FACE_SIZE / side
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    ox, oy = (FACE_SIZE - nw) // 2, (FACE_SIZE - nh) // 2
    canvas = np.full((FACE_SIZE, FACE_SIZE, 3), -1.0, np.float32)  # black border, in [-1, 1]
    canvas[oy:oy + nh, ox:ox + nw] = _resize(rgb, (nw, nh)) * 2 - 1
    raw_boxes, raw_scores = _run(FACE_FILE, canvas)
    faces = []
    for score, box, keypoints in decode_faces(raw_boxes, raw_scores):
        # Letterbox removal: input [0, 1] -> photo pixels.
        to_photo = lambda p: (p * FACE_SIZE - [ox, oy]) / scale
        lo, hi = to_photo(box[:2]), to_photo(box[2:])
        faces.append(Face((float(lo[0]), float(lo[1]), float(hi[0] - lo[0]),
                           float(hi[1] - lo[1])), score, to_photo(keypoints)))
    return faces


def detect_faces(image: np.ndarray, srgb: bool = False) -> list[Face]:
    """Every face in a (H, W, 3) photo (linear RGB; sRGB in [0, 1] with ``srgb``), largest
    first: MediaPipe's full-range detector on the photo and on its mirror image, the two merged
    (a face found in both keeps the better-scored box)."""
    rgb, scale = model_view(image, srgb)
    width = rgb.shape[1]
    faces = _detect_once(rgb)
    for face in _detect_once(np.ascontiguousarray(rgb[:, ::-1])):
        x, y, w, h = face.box
        keypoints = face.keypoints.copy()
        keypoints[:, 0] = width - keypoints[:, 0]
        keypoints = keypoints[[1, 0, 2, 3, 5, 4]]  # left and right swap in a mirror
        faces.append(Face((width - x - w, y, w, h), face.score, keypoints))
    kept: list[Face] = []
    for face in sorted(faces, key=lambda f: -f.score):
        box = np.array([face.box[0], face.box[1], face.box[0] + face.box[2],
                        face.box[1] + face.box[3]])
        others = np.array([[k.box[0], k.box[1], k.box[0] + k.box[2], k.box[1] + k.box[3]]
                           for k in kept]).reshape(-1, 4)
        if not len(kept) or (_iou(box, others) <= FACE_NMS_IOU).all():
            kept.append(face)
    kept = [Face(tuple(v / scale for v in f.box), f.score, f.keypoints / scale) for f in kept]
    return sorted(kept, key=lambda f: -f.box[2] * f.box[3])
