"""The portrait photo's camera: focal length from EXIF or the user, and the turn that puts an
off-centre face's normals into the photo's frame."""

import io
import math

import numpy as np
import pytest
from photonormals.inference import camera
from photonormals.inference.camera import exif_focal, photo_focal, rotation_degrees, view_rotation
from PIL import Image


def jpeg(width, height, **tags) -> io.BytesIO:
    """A JPEG whose EXIF sub-IFD holds ``tags`` (named as in `camera`, e.g. FOCAL_LENGTH=50)."""
    exif = Image.Exif()
    for name, value in tags.items():
        exif.get_ifd(camera.EXIF_IFD)[getattr(camera, name)] = value
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (128, 100, 90)).save(buffer, "JPEG", exif=exif)
    buffer.seek(0)
    return buffer


def test_the_turn_points_the_crop_axis_at_the_face():
    shape, focal = (300, 400), 250.0
    point = (60.0, 40.0)  # up and to the left of the middle (200, 150)
    turn = view_rotation(point, shape, focal)
    assert np.allclose(turn @ turn.T, np.eye(3), atol=1e-12) and np.isclose(np.linalg.det(turn), 1)
    ray = np.array([(60 - 200) / focal, (150 - 40) / focal, -1.0])
    ray /= np.linalg.norm(ray)
    # a normal facing the turned camera faces back along the ray in the photo's frame
    assert np.allclose(turn @ [0, 0, 1], -ray)
    assert turn[0] @ [0, 0, 1] > 0 and turn[1] @ [0, 0, 1] < 0  # faces right and down, to the axis
    assert math.isclose(rotation_degrees(turn), math.degrees(math.acos(-ray[2])), abs_tol=1e-9)
    assert np.allclose(view_rotation((200, 150), shape, focal), np.eye(3))
    assert rotation_degrees(view_rotation(point, shape, 1e6)) < 0.02  # telephoto: no turn


def test_focal_from_exif_35mm_equivalent_and_focal_plane():
    phone = exif_focal(jpeg(400, 300, FOCAL_LENGTH_35MM=26), (300, 400))
    assert phone.source == "exif 35mm-equivalent" and phone.focal_35mm == 26
    assert math.isclose(phone.pixels, 26 * 500 / 43.27)
    # a camera: 50 mm lens, 100 px per mm on the sensor; survives cropping to another 3:2 frame
    camera = exif_focal(jpeg(300, 200, FOCAL_LENGTH=50.0, FOCAL_PLANE_X_RES=100.0,
                             FOCAL_PLANE_Y_RES=100.0, FOCAL_PLANE_UNIT=4), (200, 300))
    assert camera.source == "exif focal plane" and math.isclose(camera.pixels, 5000.0)


@pytest.mark.parametrize("data, shape, source", [
    (jpeg(400, 200, FOCAL_LENGTH_35MM=26), (200, 400), "cropped"),  # 2:1: cut in an editor
    (jpeg(400, 300), (300, 400), "unknown"),  # no focal tags
    (jpeg(400, 300, FOCAL_LENGTH_35MM=0), (300, 400), "unknown"),  # junk value
    (io.BytesIO(b"#?RADIANCE\n"), (300, 400), "unknown"),  # not an EXIF-carrying format
])
def test_focal_unknown_means_no_turn(data, shape, source):
    focal = exif_focal(data, shape)
    assert focal.pixels is None and source in focal.source


def test_given_focal_wins_and_zero_switches_it_off(tmp_path):
    path = tmp_path / "phone.jpg"
    path.write_bytes(jpeg(400, 300, FOCAL_LENGTH_35MM=26).getvalue())
    assert photo_focal(path, (300, 400)).focal_35mm == 26
    assert photo_focal(path, (300, 400), 85.0).pixels == pytest.approx(85 * 500 / 43.27)
    assert photo_focal(path, (300, 400), 0).pixels is None
