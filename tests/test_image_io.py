"""Image I/O: formats, the sRGB/linear rules, orientation, round trips and bad files."""

import struct
import zlib

import cv2
import numpy as np
import OpenEXR
import pytest
import tifffile
from conftest import sphere_normals
from photonormals.errors import UserError
from photonormals.io.colorspace import linear_to_srgb, srgb_to_linear
from photonormals.io.images import (
    decode_normals,
    encode_normals,
    read_image,
    read_mask,
    write_normal_png,
    write_srgb_png,
)
from PIL import Image


def test_srgb_transfer_round_trip_and_reference_points():
    x = np.linspace(0, 1, 1001, dtype=np.float32)
    assert np.allclose(linear_to_srgb(srgb_to_linear(x)), x, atol=1e-5)
    assert srgb_to_linear(np.float32(0.5)) == pytest.approx(0.214041, abs=1e-5)
    assert linear_to_srgb(np.float32(0.18)) == pytest.approx(0.461356, abs=1e-5)


def test_8bit_png_is_srgb_decoded_16bit_is_linear(tmp_path):
    cv2.imwrite(str(tmp_path / "a8.png"), np.full((4, 5, 3), 128, np.uint8))
    cv2.imwrite(str(tmp_path / "a16.png"), np.full((4, 5, 3), 32768, np.uint16))
    eight = read_image(tmp_path / "a8.png")
    sixteen = read_image(tmp_path / "a16.png")
    assert (eight.bits, eight.colorspace) == (8, "srgb")
    assert np.allclose(eight.rgb, srgb_to_linear(np.float32(128 / 255)))
    assert (sixteen.bits, sixteen.colorspace) == (16, "linear")
    assert np.allclose(sixteen.rgb, 32768 / 65535)


def test_user_override_of_the_colour_space(tmp_path):
    cv2.imwrite(str(tmp_path / "a8.png"), np.full((4, 5, 3), 128, np.uint8))
    cv2.imwrite(str(tmp_path / "a16.png"), np.full((4, 5, 3), 32768, np.uint16))
    assert np.allclose(read_image(tmp_path / "a8.png", "linear").rgb, 128 / 255)
    assert np.allclose(
        read_image(tmp_path / "a16.png", "srgb").rgb, srgb_to_linear(np.float32(32768 / 65535))
    )
    with pytest.raises(UserError, match="colour space"):
        read_image(tmp_path / "a8.png", "rec709")


def test_channel_order_is_rgb_and_grey_becomes_rgb(tmp_path):
    red = np.zeros((3, 3, 3), np.uint8)
    red[..., 2] = 255  # OpenCV writes BGR
    cv2.imwrite(str(tmp_path / "red.png"), red)
    rgb = read_image(tmp_path / "red.png").rgb
    assert np.allclose(rgb[0, 0], [1, 0, 0])
    cv2.imwrite(str(tmp_path / "grey.png"), np.full((3, 4), 65535, np.uint16))
    grey = read_image(tmp_path / "grey.png")
    assert grey.rgb.shape == (3, 4, 3) and np.allclose(grey.rgb, 1.0)


@pytest.mark.parametrize("dtype,expected_bits", [(np.uint8, 8), (np.uint16, 16), (np.float32, 32)])
def test_tiff_depths(tmp_path, dtype, expected_bits):
    values = {np.uint8: 200, np.uint16: 50000, np.float32: 0.25}[dtype]
    tifffile.imwrite(tmp_path / "t.tif", np.full((6, 7, 3), values, dtype), photometric="rgb")
    image = read_image(tmp_path / "t.tif")
    assert image.bits == expected_bits and image.rgb.shape == (6, 7, 3)
    expected = {8: srgb_to_linear(np.float32(200 / 255)), 16: 50000 / 65535, 32: 0.25}[
        expected_bits
    ]
    assert np.allclose(image.rgb, expected, atol=1e-6)


def test_exr_and_hdr_are_linear_float(tmp_path):
    pixels = np.random.default_rng(0).uniform(0, 4, (5, 6, 3)).astype(np.float32)
    OpenEXR.File({"type": OpenEXR.scanlineimage}, {"RGB": pixels}).write(str(tmp_path / "a.exr"))
    exr = read_image(tmp_path / "a.exr")
    assert exr.bits == 32 and exr.colorspace == "linear"
    assert np.allclose(exr.rgb, pixels)
    cv2.imwrite(str(tmp_path / "a.hdr"), pixels[..., ::-1])
    hdr = read_image(tmp_path / "a.hdr")
    # RGBE shares one exponent per pixel: each channel is good to 1/128 of the pixel's largest.
    assert np.all(np.abs(hdr.rgb - pixels) <= pixels.max(axis=2, keepdims=True) / 128)


def test_jpeg_exif_orientation_is_applied(tmp_path):
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:, :20] = 255  # white left half as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # stored pixels must be turned 90 degrees clockwise to be upright
    Image.fromarray(stored).save(tmp_path / "o.jpg", exif=exif, quality=95)
    upright = read_image(tmp_path / "o.jpg").rgb
    assert upright.shape == (40, 20, 3)
    assert upright[:10].mean() > 0.9 and upright[-10:].mean() < 0.1  # left half is now on top


def test_normals_survive_16bit_png_round_trip(tmp_path):
    normals, mask = sphere_normals(96)
    write_normal_png(tmp_path / "n.png", normals)
    decoded = decode_normals(read_image(tmp_path / "n.png").rgb)[mask].astype(np.float64)
    truth = normals[mask].astype(np.float64)
    # atan2(|a x b|, a.b) stays accurate for tiny angles, where arccos does not.
    angle = np.arctan2(np.linalg.norm(np.cross(decoded, truth), axis=1), (decoded * truth).sum(1))
    assert np.degrees(angle).max() < 0.01


def test_normal_png_convention_and_flat_background():
    n = np.array([[[0.6, 0.8, 0.0], [0.0, 0.0, 0.0]]], np.float32)
    opengl, directx = encode_normals(n, "opengl"), encode_normals(n, "directx")
    assert opengl[0, 0, 1] == 58982 and directx[0, 0, 1] == 6553  # (±0.8 + 1) / 2: green flipped
    assert np.array_equal(opengl[0, 0, [0, 2]], directx[0, 0, [0, 2]])
    assert np.array_equal(opengl[0, 1], [32768, 32768, 65535])  # no normal -> flat (0, 0, 1)
    assert np.allclose(decode_normals(directx / 65535.0, "directx")[0, 0], n[0, 0], atol=1e-4)


def test_albedo_is_written_srgb_encoded(tmp_path):
    linear = srgb_to_linear(np.full((2, 2, 3), 128 / 255, np.float32))
    write_srgb_png(tmp_path / "albedo.png", linear)
    stored = cv2.imread(str(tmp_path / "albedo.png"), cv2.IMREAD_UNCHANGED)
    assert stored.dtype == np.uint8 and np.all(stored == 128)


def test_mask_threshold_and_size_check(tmp_path):
    mask = np.zeros((4, 6), np.uint8)
    mask[1:3, 2:5] = 255
    cv2.imwrite(str(tmp_path / "m.png"), mask)
    assert read_mask(tmp_path / "m.png").sum() == 6
    with pytest.raises(UserError, match="mask is 6x4 but the images are 5x4"):
        read_mask(tmp_path / "m.png", (4, 5))
    cv2.imwrite(str(tmp_path / "empty.png"), np.zeros((4, 6), np.uint8))
    with pytest.raises(UserError, match="empty"):
        read_mask(tmp_path / "empty.png")


def _png_bytes(width, height):
    _ok, buf = cv2.imencode(".png", np.zeros((2, 2, 3), np.uint8))
    data = bytearray(buf.tobytes())
    # IHDR payload starts at byte 16: patch width/height and fix its CRC.
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
    return bytes(data)


@pytest.mark.parametrize(
    "name,payload,message",
    [
        ("missing.png", None, "no such file"),
        ("notes.png", b"hello, I am text, not a picture\n", "not a supported image"),
        ("empty.jpg", b"", "not a supported image"),
        ("bomb.png", _png_bytes(100_000, 100_000), "over the 64 MP limit"),
        (
            "bomb.hdr",
            b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 90000 +X 90000\n",
            "over the 64 MP limit",
        ),
    ],
)
def test_bad_files_give_clear_errors(tmp_path, name, payload, message):
    if payload is not None:
        (tmp_path / name).write_bytes(payload)
    with pytest.raises(UserError, match=message):
        read_image(tmp_path / name)


@pytest.mark.parametrize("ext", [".png", ".jpg", ".tif"])
def test_truncated_files_are_refused(tmp_path, ext):
    image = (np.random.default_rng(1).uniform(0, 255, (64, 64, 3))).astype(np.uint8)
    _ok, buf = cv2.imencode(ext, image)
    data = buf.tobytes()
    (tmp_path / f"cut{ext}").write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="truncated or corrupt"):
        read_image(tmp_path / f"cut{ext}")


def test_pixel_limit_is_checked_before_decoding(tmp_path):
    cv2.imwrite(str(tmp_path / "big.png"), np.zeros((100, 200, 3), np.uint8))
    with pytest.raises(UserError, match="over the"):
        read_image(tmp_path / "big.png", max_pixels=10_000)


def test_a_pixel_bomb_message_gives_its_size(tmp_path):
    (tmp_path / "bomb.png").write_bytes(_png_bytes(100_000, 100_000))
    with pytest.raises(UserError, match=r"bomb.png: 100000x100000 \(10000 MP\) is over the 64 MP"):
        read_image(tmp_path / "bomb.png")


def test_a_folder_given_as_an_image_says_so(tmp_path):
    with pytest.raises(UserError, match="is a folder, not a file"):
        read_image(tmp_path)


@pytest.mark.parametrize("name, magic", [("fake.jpg", b"\xff\xd8\xff"),
                                         ("fake.png", b"\x89PNG\r\n\x1a\n"),
                                         ("fake.exr", b"v/1\x01")])
def test_decoder_errors_leak_no_object_address_or_server_path(tmp_path, name, magic):
    (tmp_path / name).write_bytes(magic + b"garbage" * 10)
    with pytest.raises(UserError) as info:
        read_image(tmp_path / name)
    message = str(info.value)
    assert message.startswith(f"{name}: the ") and "header is truncated or corrupt" in message
    assert " at 0x" not in message and str(tmp_path) not in message


def _exr_parts(*sizes) -> list:
    """One scanline RGB part per (width, height); EXR parts share one display window."""
    window = (np.zeros(2, np.int32), np.array([max(w for w, _ in sizes) - 1,
                                               max(h for _, h in sizes) - 1], np.int32))
    return [
        OpenEXR.Part({"type": OpenEXR.scanlineimage, "compression": OpenEXR.ZIP_COMPRESSION,
                      "displayWindow": window},
                     {"RGB": np.zeros((h, w, 3), np.float32)}, name=f"part{index}")
        for index, (w, h) in enumerate(sizes)
    ]


def test_every_part_of_a_multi_part_exr_counts_against_the_pixel_limit(tmp_path):
    # A tiny first part hides two big ones that decoding would read too.
    with OpenEXR.File(_exr_parts((8, 4), (300, 300), (300, 300))) as exr:
        exr.write(str(tmp_path / "parts.exr"))
    with pytest.raises(UserError, match="3 part"):
        read_image(tmp_path / "parts.exr", max_pixels=100_000)
    # within the limit, the first part is the image
    assert read_image(tmp_path / "parts.exr", max_pixels=1_000_000).rgb.shape == (4, 8, 3)


def test_a_png_whose_stream_is_corrupt_gives_one_line_and_no_libpng_noise(tmp_path, capfd):
    _ok, buf = cv2.imencode(".png", np.random.default_rng(2).integers(0, 255, (64, 64, 3),
                                                                        np.uint8))
    data = bytearray(buf.tobytes())
    # Spoil the compressed pixel data but keep every chunk's CRC valid: only decoding sees it.
    start = data.index(b"IDAT") + 4
    length = struct.unpack(">I", data[start - 8:start - 4])[0]
    data[start + length // 2:start + length // 2 + 16] = b"\xff" * 16
    data[start + length:start + length + 4] = struct.pack(
        ">I", zlib.crc32(bytes(data[start - 4:start + length])) & 0xFFFFFFFF
    )
    (tmp_path / "spoilt.png").write_bytes(bytes(data))
    with pytest.raises(UserError, match="spoilt.png: the PNG data is truncated or corrupt"):
        read_image(tmp_path / "spoilt.png")
    assert "libpng" not in capfd.readouterr().err
