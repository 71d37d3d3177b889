"""Face crop and paste-back for the single-portrait model.

The network runs on a square crop around the face, resized to a fixed working resolution, and
its maps are resized back into the photo. The crop must frame faces the way the synthetic
training engine does: there the face region (jaw to jaw, chin to above the brows) fills
~35-75 % of the frame, and ~15 % of samples are tight crops where the face fills the frame.
OpenCV's Haar boxes span about that region, so a square of FACE_CROP_FACTOR = 2.0 times the
box puts the face at ~50 %, the middle of the trained range.

Faces are found with MediaPipe's full-range face detector (`person`, run in ai-edge-litert;
the model ships in weights/, nothing is downloaded): on tilted, small, cut and partly hidden
variants of the shared portraits it finds 50 of 50 faces where OpenCV's Haar cascades find 9
(46 of 50 as predict keeps them: 6 % of the short side at least; docs/portrait/whole_person.md).
Its boxes sit lower on the face than Haar's (they start at the brows, Haar's above them), so
they are moved to Haar's framing (HAAR_SHIFT, HAAR_SCALE, measured on the four shared portraits
Haar finds): the crop then frames faces as before and as the engine does. Only when
ai-edge-litert or the model file is missing do the Haar cascades run. When no face is found,
or the face already fills most of the frame (a tight crop; the detector may also miss it or
return a box bigger than the frame), the whole frame is used, letterboxed to a square.

Boxes are (x, y, side) squares in image pixels (x right, y down from the top-left corner) and
may extend past the image; what lies outside reads as black.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

from ..io.colorspace import linear_to_srgb

FACE_CROP_FACTOR = 2.0  # crop side / detected face side; shared with the synthetic framing
TIGHT_FACE_FRACTION = 0.6  # a face box wider than this share of the short side -> whole frame
MIN_FACE_FRACTION = 0.06  # smaller detections (of the short side) are not the portrait's face
DETECT_MAX_SIDE = 320  # the detector runs on a copy this big: portrait faces are large
HAAR_SHIFT = 0.09  # MediaPipe box centre -> Haar's: up by this share of the box side
HAAR_SCALE = 1.04  # Haar's box side / MediaPipe's
SURE_FACE = 0.75  # a weaker detection counts only on a person (segmentation at its centre)
CASCADES = (
    "haarcascade_frontalface_default.xml",
    "haarcascade_frontalface_alt2.xml",
    "haarcascade_profileface.xml",  # faces turned to their left; run mirrored for the other side
)


class CropBox(NamedTuple):
    x: float  # left edge, image pixels (may be negative)
    y: float  # top edge
    side: float


@dataclass
class FaceCrop:
    image: np.ndarray  # (size, size, 3) the crop at working resolution
    box: CropBox
    face_box: tuple[int, int, int, int] | None  # detector box (x, y, w, h), None if none found
    face_found: bool
    note: str  # how the crop was chosen, for the report


@functools.cache
def _cascade(name: str) -> cv2.CascadeClassifier:
    cascade = cv2.CascadeClassifier(str(cv2.data.haarcascades) + "/" + name)
    if cascade.empty():
        raise RuntimeError(f"OpenCV's bundled {name} could not be loaded")
    return cascade


def detection_image(image: np.ndarray) -> tuple[np.ndarray, float]:
    """Linear RGB -> (8-bit grey sRGB, equalised, at most DETECT_MAX_SIDE, scale to it).

    The cascades were trained on ordinary sRGB photos, so the linear image is brought to a
    normal exposure (99th percentile of grey -> 1) and encoded before detection."""
    grey = image.astype(np.float32, copy=False).mean(axis=2)
    scale = min(1.0, DETECT_MAX_SIDE / max(grey.shape))
    if scale < 1.0:
        grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    level = max(float(np.quantile(grey, 0.99)), 1e-6)
    grey8 = np.round(linear_to_srgb(grey / level) * 255).astype(np.uint8)
    return cv2.equalizeHist(grey8), scale


def detect_face(image: np.ndarray) -> tuple[int, int, int, int] | None:
    """The largest plausible face (x, y, w, h) in full-image pixels, or None."""
    faces = detect_faces(image)
    return faces[0] if faces else None


def detect_faces(image: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Every plausible face (x, y, w, h) in full-image pixels, largest first, in Haar's
    framing: MediaPipe's full-range detector's faces of at least MIN_FACE_FRACTION of the short
    side; Haar's (`detect_faces_haar`) only when that detector cannot run."""
    from . import person

    if not person.available():
        return detect_faces_haar(image)
    min_side = MIN_FACE_FRACTION * min(image.shape[:2])
    boxes = []
    faces = person.detect_faces(image)
    # Weak detections on things (skimage's rocket at 0.60, a deep-sky field at 0.56) must not
    # let a photo without a person through: below SURE_FACE the segmentation must see a person.
    segmentation = (person.segment_person(image) if any(f.score < SURE_FACE for f in faces)
                    else None)
    for face in faces:
        x, y, w, h = face.box
        side = HAAR_SCALE * max(w, h)
        if side < min_side:
            continue
        if face.score < SURE_FACE:
            cy = int(np.clip(y + h / 2, 0, image.shape[0] - 1))
            cx = int(np.clip(x + w / 2, 0, image.shape[1] - 1))
            if segmentation[cy, cx] < 0.5:
                continue
        cx, cy = x + w / 2, y + h / 2 - HAAR_SHIFT * max(w, h)
        boxes.append(tuple(round(v) for v in (cx - side / 2, cy - side / 2, side, side)))
    return boxes


def detect_faces_haar(image: np.ndarray) -> list[tuple[int, int, int, int]]:
    """OpenCV's Haar cascades (the fallback): every plausible face, largest first: those of the
    first cascade that finds any (the frontal ones are the more precise), a box whose centre
    lies in a larger one dropped (the same face found twice)."""
    grey, scale = detection_image(image)
    min_side = max(12, int(MIN_FACE_FRACTION * min(grey.shape)))
    width = grey.shape[1]
    for name in CASCADES:
        cascade = _cascade(name)
        boxes = [tuple(b) for b in _detect(cascade, grey, min_side)]
        if "profile" in name:  # the mirrored image shows the other side's profiles
            boxes += [
                (width - x - w, y, w, h) for x, y, w, h in _detect(cascade, grey[:, ::-1], min_side)
            ]
        if boxes:
            kept = []
            for box in sorted(boxes, key=lambda b: -b[2] * b[3]):
                if not any(_centre_inside(box, k) for k in kept):
                    kept.append(box)
            return [tuple(round(float(v) / scale) for v in box) for box in kept]
    return []


def _centre_inside(box, other) -> bool:
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    return other[0] <= cx < other[0] + other[2] and other[1] <= cy < other[1] + other[3]


def _detect(cascade, grey: np.ndarray, min_side: int) -> np.ndarray:
    found = cascade.detectMultiScale(
        np.ascontiguousarray(grey), scaleFactor=1.15, minNeighbors=4, minSize=(min_side, min_side)
    )
    return np.asarray(found).reshape(-1, 4)


def whole_frame_box(image_shape: tuple[int, ...]) -> CropBox:
    """The whole image letterboxed to a centred square."""
    h, w = image_shape[:2]
    side = max(h, w)
    return CropBox((w - side) / 2, (h - side) / 2, float(side))


def crop_box_for(face_box: tuple[int, int, int, int] | None, image_shape: tuple[int, ...],
                 factor: float = FACE_CROP_FACTOR) -> CropBox:
    """A square of ``factor`` x the face box around its centre; the whole frame if there is no
    face box or the face already fills the frame (tight crop)."""
    if face_box is None or is_tight(face_box, image_shape):
        return whole_frame_box(image_shape)
    x, y, w, h = face_box
    side = factor * max(w, h)
    return CropBox(x + w / 2 - side / 2, y + h / 2 - side / 2, float(side))


def is_tight(face_box: tuple[int, int, int, int], image_shape: tuple[int, ...]) -> bool:
    return max(face_box[2], face_box[3]) > TIGHT_FACE_FRACTION * min(image_shape[:2])


def face_crop(image: np.ndarray, size: int) -> FaceCrop:
    """Detect the face and cut the square crop the model sees, resized to size x size."""
    face_box = detect_face(image)
    box = crop_box_for(face_box, image.shape)
    if face_box is None:
        note = "no face found: the whole frame was used"
    elif is_tight(face_box, image.shape):
        note = "the face fills the frame: the whole frame was used"
    else:
        note = "face crop"
    return FaceCrop(crop_to_box(image, box, size), box, face_box, face_box is not None, note)


def crop_to_box(image: np.ndarray, box: CropBox, size: int) -> np.ndarray:
    """(H, W[, C]) -> (size, size[, C]): the box resampled, black outside the image.

    Large reductions first area-average the image to about twice the target scale, so fine
    detail does not alias; the final bilinear step then shrinks by at most 2x."""
    scale = size / box.side
    if scale < 0.5:
        shrink = 2 * scale
        small_size = (
            max(1, round(image.shape[1] * shrink)),
            max(1, round(image.shape[0] * shrink)),
        )
        fx, fy = small_size[0] / image.shape[1], small_size[1] / image.shape[0]
        image = cv2.resize(image, small_size, interpolation=cv2.INTER_AREA)
        box = CropBox(box.x * fx, box.y * fy, box.side * (fx + fy) / 2)
        scale = size / box.side
    # Pixel centres: crop pixel u sits at image x = box.x + (u + 0.5) / scale - 0.5.
    inverse = np.array(
        [[1 / scale, 0, box.x + 0.5 / scale - 0.5], [0, 1 / scale, box.y + 0.5 / scale - 0.5]]
    )
    return _warp(image, inverse, (size, size))


Window = tuple[slice, slice]  # (rows, columns) of an image


def box_window(box: CropBox, image_shape: tuple[int, ...]) -> Window:
    """The image pixels the box covers (at least partly), clipped to the image."""
    h, w = image_shape[:2]
    x0, y0 = int(np.clip(np.floor(box.x), 0, w)), int(np.clip(np.floor(box.y), 0, h))
    x1 = int(np.clip(np.ceil(box.x + box.side), x0, w))
    y1 = int(np.clip(np.ceil(box.y + box.side), y0, h))
    return slice(y0, y1), slice(x0, x1)


def paste_back(
    maps: dict[str, np.ndarray], box: CropBox, image_shape: tuple[int, ...],
    window: Window | None = None,
) -> dict[str, np.ndarray]:
    """Resize crop-resolution maps back to the box and place them in full-size maps (zeros
    outside the box), or only in the part ``window`` of them (a face pass is blended into its
    box alone: filling the rest of a large photo with zeros cost more than the network). Each
    map is (size, size) or (size, size, C)."""
    h, w = image_shape[:2]
    rows, cols = window or (slice(0, h), slice(0, w))
    out = {}
    for name, values in maps.items():
        size = values.shape[0]
        scale = size / box.side
        inverse = np.array(
            [[scale, 0, (cols.start + 0.5 - box.x) * scale - 0.5],
             [0, scale, (rows.start + 0.5 - box.y) * scale - 0.5]]
        )
        out[name] = _warp(values, inverse, (rows.stop - rows.start, cols.stop - cols.start))
    return out


def image_to_crop(points: np.ndarray, box: CropBox, size: int) -> np.ndarray:
    """(N, 2) image (x, y) positions -> crop pixel positions (continuous coordinates)."""
    return (np.asarray(points, np.float64) - [box.x, box.y]) * (size / box.side)


def crop_to_image(points: np.ndarray, box: CropBox, size: int) -> np.ndarray:
    return np.asarray(points, np.float64) * (box.side / size) + [box.x, box.y]


def _warp(values: np.ndarray, inverse: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resample ``values`` with dst(p) = src(inverse @ p), bilinear, zeros outside."""
    values = np.ascontiguousarray(values, dtype=np.float32)
    channels = values.shape[2] if values.ndim == 3 else None
    # cv2 handles at most 4 channels per call; maps never have more, but keep it general.
    parts = (
        [values] if channels is None or channels <= 4 else [values[..., i] for i in range(channels)]
    )
    warped = [
        cv2.warpAffine(
            p,
            inverse,
            (shape[1], shape[0]),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
        for p in parts
    ]
    if channels is None:
        return warped[0]
    warped = [p[..., None] if p.ndim == 2 else p for p in warped]
    return np.concatenate(warped, axis=2)
