"""Material benchmark, real photos: surface photos that ship with scikit-image (brick, gravel,
grass; public domain), each as predict --mode material --seamless writes it, relit under two of
Blender's HDRIs, and its normal map tiled 2 x 2 to show the seams."""

from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
import numpy as np
from photonormals.io.colorspace import linear_to_srgb, srgb_to_linear
from photonormals.io.images import write_png
from photonormals.predict import PredictOptions, predict, save_prediction
from photonormals.relight.relight import relight_dir

PHOTOS = ("brick", "gravel", "grass")
HDRIS = ("courtyard", "interior")
PANEL = 256


def skimage_photos() -> dict[str, np.ndarray]:
    """(H, W, 3) uint8 sRGB surface photos from scikit-image's bundled data (grey ones)."""
    import skimage.data

    return {name: np.repeat(getattr(skimage.data, name)()[..., None], 3, 2) for name in PHOTOS}


def _panel(linear: np.ndarray) -> np.ndarray:
    """A PANEL x PANEL 8-bit sRGB tile of a linear RGB or grey image."""
    if linear.ndim == 2:
        linear = np.repeat(linear[..., None], 3, 2)
    small = cv2.resize(np.asarray(linear, np.float32), (PANEL, PANEL), interpolation=cv2.INTER_AREA)
    return (linear_to_srgb(np.clip(small, 0, 1)) * 255 + 0.5).astype(np.uint8)


def gallery(model, folder: Path, log=print) -> list[dict]:
    """One strip per photo in ``folder``: photo | normal | height | albedo | relit x 2 | normal
    tiled 2 x 2 (seamless). Returns what each strip shows, for the report."""
    rows = []
    for name, photo in skimage_photos().items():
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"{name}.png"
            write_png(path, photo)
            options = PredictOptions(mode="material", seamless=True)
            result = predict([path], options, load_model=lambda task, device: model)
            out = Path(tmp) / "maps"
            save_prediction(result, out, [path.name])
            relit = [relight_dir(out, hdri, background="transparent")[..., :3] for hdri in HDRIS]
            relit = [r / max(float(np.percentile(r, 99)), 1e-6) * 0.8 for r in relit]
        normals = result.normals
        height = result.height
        spread = np.percentile(height, 99) - np.percentile(height, 1) + 1e-6
        height_view = np.clip((height - np.percentile(height, 1)) / spread, 0, 1)
        normal_view = srgb_to_linear((normals + 1) / 2)  # shown as its stored codes
        tiled = np.tile(normal_view, (2, 2, 1))
        panels = [_panel(srgb_to_linear(photo / 255.0)), _panel(normal_view),
                  _panel(srgb_to_linear(height_view)), _panel(result.albedo),
                  *[_panel(r) for r in relit], _panel(tiled)]
        strip = np.concatenate(panels, 1)
        target = folder / f"gallery_{name}.png"
        write_png(target, strip)
        tilt = np.degrees(np.arccos(np.clip(normals[..., 2], -1, 1)))
        rows.append({"photo": name, "file": target.name, "size": list(photo.shape[:2]),
                     "mean_tilt_deg": round(float(tilt.mean()), 2)})
        log(f"  gallery: {name}, mean tilt {tilt.mean():.1f} deg")
    return rows
