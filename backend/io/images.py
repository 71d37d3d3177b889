"""Read photos as float32 linear RGB; write normal, albedo, mask and shading maps.

Every reader path checks the image size from the header before decoding, so a "pixel bomb"
(a tiny file that claims gigapixels) is refused without allocating anything.

Colour rules: 8-bit data is sRGB-encoded and gets decoded; 16-bit and float data are linear.
The caller may override this with colorspace="srgb" or "linear".
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image as PILImage
from PIL import JpegImagePlugin, PngImagePlugin

from ..errors import UserError
from .colorspace import SRGB8_TO_LINEAR, linear_to_srgb, srgb_to_linear_in_place

cv2.setLogLevel(2)  # errors only: we report bad files ourselves, in one line

MAX_PIXELS = 64_000_000
_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read once: mkstemp files are 0600, outputs should get the user's usual mode
COLORSPACES = ("auto", "srgb", "linear")
# what a folder of photos is taken to hold (read_image tells the format by content, not name)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".exr", ".hdr")
NORMAL_CONVENTIONS = ("opengl", "directx")

_MAGIC = [
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),
    (b"MM\x00+", "tiff"),
    (b"v/1\x01", "exr"),
    (b"#?RADIANCE", "hdr"),
    (b"#?RGBE", "hdr"),
]


@dataclass(frozen=True)
class LinearImage:
    """A decoded photo: (H, W, 3) float32 linear RGB, and how it was interpreted."""

    rgb: np.ndarray
    bits: int  # 8, 16 or 32 (float)
    colorspace: str  # what the stored values were taken to be: "srgb" or "linear"


def read_image(
    path: str | os.PathLike,
    colorspace: str = "auto",
    max_pixels: int = MAX_PIXELS,
) -> LinearImage:
    """Read PNG, JPEG, TIFF (8/16-bit, float), EXR or HDR as linear RGB, EXIF orientation on."""
    if colorspace not in COLORSPACES:
        raise UserError(
            f"unknown input colour space {colorspace!r}; use one of {', '.join(COLORSPACES)}"
        )
    path = Path(path)
    name = path.name
    require_file(path)
    data = path.read_bytes()
    fmt, _, _, orientation = _checked_header(data, path, max_pixels)

    if fmt == "exr":
        pixels = _decode_exr(path)
    else:
        if fmt == "png":
            _check_png_decodes(data, name)
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if pixels is None:
            raise UserError(f"{name}: the {fmt.upper()} data is truncated or corrupt")
        pixels = _bgr_to_rgb(pixels)

    stored = colorspace if colorspace != "auto" else (
        "srgb" if pixels.dtype == np.uint8 else "linear")
    rgb, bits = _to_float(pixels, name, srgb8=stored == "srgb")
    rgb = _apply_orientation(rgb, orientation)
    if stored == "srgb" and bits != 8:  # 8-bit codes were decoded by _to_float's table
        rgb = np.ascontiguousarray(rgb)
        srgb_to_linear_in_place(rgb)
    return LinearImage(np.ascontiguousarray(rgb, dtype=np.float32), bits, stored)


def check_header(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> tuple[int, int]:
    """(width, height) as the photo will be read (EXIF orientation applied), from its header alone:
    the same format and pixel-limit checks as read_image, without decoding (cheap enough for a
    server to run on every upload before queueing a job)."""
    path = Path(path)
    require_file(path)
    _, width, height, orientation = _checked_header(path.read_bytes(), path, max_pixels)
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def _checked_header(data: bytes, path: Path, max_pixels: int) -> tuple[str, int, int, int]:
    fmt = _sniff_format(data)
    if fmt is None:
        raise UserError(f"{path.name}: not a supported image (PNG, JPEG, TIFF, EXR or HDR)")
    width, height, orientation = _header_size(data, fmt, path, max_pixels)
    if width * height > max_pixels:
        raise UserError(
            f"{path.name}: {width}x{height} ({width * height / 1e6:.0f} MP) is over the "
            f"{max_pixels / 1e6:.0f} MP limit; downscale it first"
        )
    return fmt, width, height, orientation


def require_file(path: Path) -> None:
    """A UserError that says what is wrong with a path that should be a readable file."""
    if path.is_file():
        return
    if path.is_dir():
        raise UserError(f"{path}: is a folder, not a file")
    if path.exists():
        raise UserError(f"{path}: not a regular file")
    raise UserError(f"{path}: no such file")


def read_mask(path: str | os.PathLike, shape: tuple[int, int] | None = None) -> np.ndarray:
    """A binary mask from any image: a pixel is inside where its stored value is at least half."""
    image = read_image(path, colorspace="linear")
    mask = image.rgb.max(axis=2) >= 0.5
    if shape is not None and mask.shape != tuple(shape):
        raise UserError(
            f"{Path(path).name}: mask is {mask.shape[1]}x{mask.shape[0]} but the images are "
            f"{shape[1]}x{shape[0]}"
        )
    if not mask.any():
        raise UserError(f"{Path(path).name}: the mask is empty (no pixel at or above half white)")
    return mask


def _sniff_format(data: bytes) -> str | None:
    for magic, fmt in _MAGIC:
        if data.startswith(magic):
            return fmt
    return None


# Pillow's own format classes read the header without Image.open's decompression-bomb check:
# ours comes right after, with the real size in the message.
_PIL_FORMATS = {"png": PngImagePlugin.PngImageFile, "jpeg": JpegImagePlugin.JpegImageFile}


def _header_size(data: bytes, fmt: str, path: Path, max_pixels: int) -> tuple[int, int, int]:
    """(width, height, EXIF orientation) read from the header alone."""
    name = path.name
    try:
        if fmt in _PIL_FORMATS:
            with _PIL_FORMATS[fmt](io.BytesIO(data)) as im:
                if fmt == "png" and "exif" not in im.info:
                    # Pillow's PNG getexif() decodes the whole image to look for a late eXIf
                    # chunk: that would defeat the size check. Orientation rides before IDAT.
                    return im.width, im.height, 1
                if im.width * im.height > max_pixels:
                    return im.width, im.height, 1
                return im.width, im.height, int(im.getexif().get(0x0112, 1))
        if fmt == "tiff":
            import tifffile

            with tifffile.TiffFile(io.BytesIO(data)) as tif:
                page = tif.pages[0]
                tag = page.tags.get(274)
                return int(page.imagewidth), int(page.imagelength), int(tag.value) if tag else 1
        if fmt == "hdr":
            return (*_hdr_size(data), 1)
        if fmt == "exr":
            return (*_exr_size(path, max_pixels), 1)
    except UserError:
        raise
    except Exception as exc:  # every decoder has its own exception types
        raise UserError(
            f"{name}: the {fmt.upper()} header is truncated or corrupt ({_reason(exc, path)})"
        ) from None
    raise AssertionError(fmt)


def _exr_size(path: Path, max_pixels: int) -> tuple[int, int]:
    """Part 0's size, which is what is read; but decoding reads every part and channel of a
    multi-part file, so all of them must fit the limit too (as many samples as RGBA pixels)."""
    import OpenEXR

    with OpenEXR.File(str(path), header_only=True) as exr:
        sizes, samples = [], 0
        for part in exr.parts:
            (x0, y0), (x1, y1) = part.header["dataWindow"]
            width, height = int(x1 - x0 + 1), int(y1 - y0 + 1)
            sizes.append((width, height))
            for channel in part.header["channels"]:
                samples += -(-width // channel.xSampling) * -(-height // channel.ySampling)
    width, height = sizes[0]
    if samples > 4 * max_pixels and width * height <= max_pixels:  # else the size is refused
        raise UserError(
            f"{path.name}: its {len(sizes)} part(s) hold {samples:,} samples, over the limit of "
            f"{4 * max_pixels:,} ({max_pixels / 1e6:g} MP of RGBA); keep only the image's own "
            "part and channels"
        )
    return width, height


def _reason(exc: Exception, path: Path) -> str:
    """A decoder's message fit for the user: one line, without the object reprs and full paths
    (a server's folders) that some decoders put in it."""
    text = str(exc).replace(str(path), path.name).splitlines()[0] if str(exc) else ""
    text = re.sub(r"<[^<>]* at 0x[0-9a-fA-F]+>", "the data", text)
    return text[:200] or type(exc).__name__


def _hdr_size(data: bytes) -> tuple[int, int]:
    head = data[:4096]
    end = head.find(b"\n\n")
    if end < 0:
        raise UserError("the HDR header is incomplete")
    match = re.match(rb"([-+])Y (\d+) ([-+])X (\d+)", head[end + 2 :])
    if not match:
        raise UserError("the HDR resolution line is missing or unsupported")
    return int(match.group(4)), int(match.group(2))


def _check_png_decodes(data: bytes, name: str) -> None:
    """Decode with Pillow first: OpenCV turns some truncated PNGs into half-black images, and
    libpng prints its own line to stderr for a corrupt stream, where we promise one line."""
    try:
        with PILImage.open(io.BytesIO(data)) as im:
            im.load()
    except Exception as exc:
        raise UserError(
            f"{name}: the PNG data is truncated or corrupt ({_reason(exc, Path(name))})"
        ) from None


def _decode_exr(path: Path) -> np.ndarray:
    import OpenEXR

    try:
        with OpenEXR.File(str(path)) as exr:
            channels = exr.channels()
            for key in ("RGB", "RGBA"):
                if key in channels:
                    return np.asarray(channels[key].pixels)[..., :3]
            if "Y" in channels:
                return np.asarray(channels["Y"].pixels)
            if all(c in channels for c in "RGB"):
                return np.stack([np.asarray(channels[c].pixels) for c in "RGB"], axis=-1)
    except Exception as exc:
        raise UserError(f"{path.name}: cannot decode the EXR data ({_reason(exc, path)})") from None
    raise UserError(f"{path.name}: the EXR has no RGB or Y channels (has {', '.join(channels)})")


def _bgr_to_rgb(pixels: np.ndarray) -> np.ndarray:
    if pixels.ndim == 3 and pixels.shape[2] >= 3:
        return pixels[..., 2::-1]  # BGR(A) -> RGB, alpha dropped
    return pixels


def _to_float(pixels: np.ndarray, name: str, srgb8: bool = False) -> tuple[np.ndarray, int]:
    """Pixels -> (float32 in [0, 1], bits); 8-bit ones already decoded from sRGB if ``srgb8``."""
    # One float copy, then in place: a 64 MP photo is 768 MB per copy.
    if pixels.dtype == np.uint8 and srgb8:
        rgb, bits = SRGB8_TO_LINEAR[pixels], 8
    elif pixels.dtype == np.uint8:
        rgb, bits = pixels.astype(np.float32), 8
        rgb *= np.float32(1.0 / 255.0)
    elif pixels.dtype == np.uint16:
        rgb, bits = pixels.astype(np.float32), 16
        rgb *= np.float32(1.0 / 65535.0)
    elif pixels.dtype in (np.float16, np.float32, np.float64):
        rgb, bits = pixels.astype(np.float32), 32
        np.nan_to_num(rgb, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
        np.maximum(rgb, 0.0, out=rgb)
    else:
        raise UserError(f"{name}: unsupported pixel type {pixels.dtype}")
    if rgb.ndim == 3 and rgb.shape[2] == 1:
        rgb = rgb[..., 0]
    if rgb.ndim == 3 and rgb.shape[2] == 2:  # grey + alpha
        rgb = rgb[..., 0]
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=2)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise UserError(f"{name}: unsupported channel layout {pixels.shape}")
    return rgb, bits


def _apply_orientation(rgb: np.ndarray, orientation: int) -> np.ndarray:
    """EXIF orientation 1-8: the transform that makes the stored pixels upright."""
    if orientation in (2, 4, 5, 7):
        rgb = rgb[:, ::-1]
    if orientation in (3, 4):
        rgb = rgb[::-1, ::-1]
    elif orientation in (5, 6):
        rgb = np.rot90(rgb, k=-1)
    elif orientation in (7, 8):
        rgb = np.rot90(rgb, k=1)
    return rgb


# ----------------------------------------------------------------------------- writers


def write_atomic(path: str | os.PathLike, payload: bytes) -> None:
    """Write via a temporary file and rename, so a crash never leaves a half-written map."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    write_atomic(path, buf.getvalue())


def encode_normals(normals: np.ndarray, convention: str = "opengl") -> np.ndarray:
    """(n+1)/2 as uint16 RGB. Pixels without a normal (zero vector) become flat (0, 0, 1)."""
    if convention not in NORMAL_CONVENTIONS:
        raise UserError(f"unknown normal convention {convention!r}; use opengl or directx")
    n = np.array(normals, dtype=np.float32)
    empty = np.linalg.norm(n, axis=2) < 1e-6
    n[empty] = (0.0, 0.0, 1.0)
    if convention == "directx":
        n[..., 1] *= -1.0  # DirectX tangent space has y down: the "green flip"
    return np.round((np.clip(n, -1.0, 1.0) + 1.0) * 0.5 * 65535.0).astype(np.uint16)


def decode_normals(encoded: np.ndarray, convention: str = "opengl") -> np.ndarray:
    """Inverse of encode_normals for float RGB in [0, 1] (as read_image(..., "linear") returns)."""
    n = encoded.astype(np.float32) * 2.0 - 1.0
    if convention == "directx":
        n[..., 1] *= -1.0
    return n / np.maximum(np.linalg.norm(n, axis=2, keepdims=True), 1e-8)


def write_normal_png(path, normals: np.ndarray, convention: str = "opengl") -> None:
    write_png(path, encode_normals(normals, convention))


def write_srgb_png(path, linear_rgb: np.ndarray) -> None:
    """8-bit sRGB-encoded colour, the form texture slots and viewers expect for albedo."""
    write_png(path, np.round(linear_to_srgb(linear_rgb) * 255.0).astype(np.uint8))


def write_linear_png(path, values: np.ndarray, bits: int = 16) -> None:
    """Linear data (mask, shading) stored as-is, clipped to [0, 1]."""
    scale, dtype = (65535.0, np.uint16) if bits == 16 else (255.0, np.uint8)
    write_png(path, np.round(np.clip(values, 0.0, 1.0) * scale).astype(dtype))


def write_png(path, pixels: np.ndarray) -> None:
    if pixels.ndim == 3 and pixels.shape[2] == 3:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)  # OpenCV wants BGR (10x a numpy copy)
    elif pixels.ndim == 3:
        pixels = np.ascontiguousarray(pixels[..., ::-1])
    ok, buf = cv2.imencode(".png", pixels)
    if not ok:
        raise OSError(f"PNG encoding failed for {path}")
    write_atomic(path, buf.tobytes())
