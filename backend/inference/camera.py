"""The portrait photo's camera: its focal length, and the turn from the crop's view to the photo's.

The portrait network sees a crop and answers as if the face sat on the optical axis: that is
how the synthetic engine frames every face (the head on the axis, the crop an off-centre
principal point). In a real photo an off-centre face is seen obliquely, so the network's normals
are in the frame of a camera turned towards the face. Turning them back by the angle between the
optical axis and the ray to the face puts them in the photo's camera frame. With a phone's wide
lens (26 mm equivalent) a face in the upper third of the frame is ~9 degrees off the axis; with
an 85 mm portrait lens the same framing is ~3 degrees.

The angle needs the focal length in pixels, which a photo does not show: it comes from the
user (35 mm-equivalent millimetres) or the EXIF data. Without either, no turn is applied: a
guessed focal length is wrong by the same factor for every crop, and a cropped photo without
EXIF is more likely than an uncropped one. Like every structure-from-motion tool, this assumes
the optical axis passes through the middle of the photo, which cropping breaks: so EXIF is
trusted only for photos in a sensor's aspect ratio (1:1, 4:3, 3:2, 16:9). A photo cut to any
other shape in an editor keeps its EXIF but not its middle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image as PILImage

FULL_FRAME_DIAGONAL_MM = 43.27  # the 35 mm-equivalent focal length is relative to this diagonal
FOCAL_35MM_RANGE = (8.0, 2000.0)  # fisheye to long telephoto: outside it the EXIF value is junk
EXIF_IFD = 0x8769
FOCAL_LENGTH, FOCAL_LENGTH_35MM = 0x920A, 0xA405
FOCAL_PLANE_X_RES, FOCAL_PLANE_Y_RES, FOCAL_PLANE_UNIT = 0xA20E, 0xA20F, 0xA210
UNIT_MM = {2: 25.4, 3: 10.0, 4: 1.0, 5: 0.001}  # EXIF resolution units: inch, cm, mm, um
SENSOR_ASPECTS = (1.0, 4 / 3, 3 / 2, 16 / 9)  # long side / short side of uncropped photos
ASPECT_TOLERANCE = 0.01


@dataclass(frozen=True)
class Focal:
    pixels: float | None  # focal length in the photo's pixels; None: unknown, no turn
    source: str  # "given", "exif 35mm-equivalent", "exif focal plane" or "unknown"
    focal_35mm: float | None = None  # the same as a 35 mm-equivalent length, for the report


def plausible_35mm(focal_35mm: float | None) -> bool:
    """A 35 mm-equivalent focal length a lens can have (False for None and NaN)."""
    return focal_35mm is not None and FOCAL_35MM_RANGE[0] <= focal_35mm <= FOCAL_35MM_RANGE[1]


def focal_from_35mm(focal_35mm: float, image_shape: tuple[int, ...]) -> float:
    """A 35 mm-equivalent focal length in millimetres -> pixels of an (H, W) photo."""
    return focal_35mm * math.hypot(image_shape[0], image_shape[1]) / FULL_FRAME_DIAGONAL_MM


def photo_focal(
    path: Path | str, image_shape: tuple[int, ...], focal_35mm: float | None = None
) -> Focal:
    """The focal length of the photo at ``path`` (decoded to ``image_shape``): ``focal_35mm`` if
    given (0 turns the correction off), else from its EXIF data, else unknown."""
    if focal_35mm is not None:
        if focal_35mm == 0:
            return Focal(None, "given: off")
        return Focal(focal_from_35mm(focal_35mm, image_shape), "given", focal_35mm)
    return exif_focal(Path(path), image_shape)


def exif_focal(source: Path | BinaryIO, image_shape: tuple[int, ...]) -> Focal:
    """The focal length in the EXIF data of an image file (a path or a binary file; Pillow reads
    the header only): the 35 mm-equivalent tag (phones write it),
    else the lens focal length over the sensor's pixel pitch (cameras write both; this one
    survives cropping, not resizing). Files without EXIF (EXR, HDR, most PNGs) or cropped to
    an aspect ratio no sensor has -> unknown."""
    unknown = Focal(None, "unknown")
    aspect = max(image_shape[:2]) / min(image_shape[:2])
    if not any(abs(aspect / sensor - 1) <= ASPECT_TOLERANCE for sensor in SENSOR_ASPECTS):
        return Focal(None, "unknown: cropped photo (not a sensor's aspect ratio)")
    try:
        with PILImage.open(source) as image:
            exif = image.getexif().get_ifd(EXIF_IFD)
    except Exception:  # noqa: BLE001 - not an image Pillow reads (EXR, HDR): no EXIF to use
        return unknown
    f35 = _number(exif.get(FOCAL_LENGTH_35MM))
    if plausible_35mm(f35):
        return Focal(focal_from_35mm(f35, image_shape), "exif 35mm-equivalent", f35)
    focal_mm = _number(exif.get(FOCAL_LENGTH))
    resolutions = [_number(exif.get(tag)) for tag in (FOCAL_PLANE_X_RES, FOCAL_PLANE_Y_RES)]
    unit_mm = UNIT_MM.get(int(_number(exif.get(FOCAL_PLANE_UNIT)) or 2))  # the EXIF default: inch
    if focal_mm and unit_mm and all(resolutions):
        pixels = focal_mm * float(np.mean(resolutions)) / unit_mm
        f35 = pixels * FULL_FRAME_DIAGONAL_MM / math.hypot(image_shape[0], image_shape[1])
        if plausible_35mm(f35):
            return Focal(pixels, "exif focal plane", round(f35, 1))
    return unknown


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def view_rotation(
    point_xy: tuple[float, float], image_shape: tuple[int, ...], focal_px: float
) -> np.ndarray:
    """(3, 3) rotation R taking the frame of a camera turned to look at image point ``point_xy``
    (pixels, x right, y down from the top-left corner) to the photo's camera frame (x right, y up,
    z toward the camera): n_photo = R @ n_turned, the smallest turn taking the turned camera's
    axis -z onto the ray through the point."""
    height, width = image_shape[:2]
    return turn_to_ray(
        [(point_xy[0] - width / 2) / focal_px, -(point_xy[1] - height / 2) / focal_px, -1.0]
    )


def turn_to_ray(ray) -> np.ndarray:
    """(3, 3) the smallest rotation taking the optical axis -z onto ``ray`` (camera frame)."""
    ray = np.asarray(ray, np.float64) / np.linalg.norm(ray)
    axis = np.cross([0.0, 0.0, -1.0], ray)
    sin, cos = np.linalg.norm(axis), -ray[2]
    if sin < 1e-12:
        return np.eye(3)
    k = axis / sin
    cross = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + sin * cross + (1 - cos) * cross @ cross


def rotation_degrees(rotation: np.ndarray) -> float:
    return math.degrees(math.acos(np.clip((np.trace(rotation) - 1) / 2, -1.0, 1.0)))
