"""Portrait benchmark, real photos: what `predict --mode single` writes for each photo, relit
under bundled HDRIs, as panels cropped to the square the network saw, plus the detections."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
from photonormals.errors import UserError
from photonormals.inference.face_crop import CropBox, crop_to_box
from photonormals.inference.portrait import PortraitModel
from photonormals.io.colorspace import linear_to_srgb
from photonormals.io.images import read_image
from photonormals.predict import PredictOptions, predict, save_prediction
from photonormals.relight.relight import relight_dir

PANEL = 256  # gallery panel side, pixels


def srgb8(linear: np.ndarray) -> np.ndarray:
    return np.round(linear_to_srgb(linear) * 255).astype(np.uint8)


def label(panel: np.ndarray, text: str) -> np.ndarray:
    bar = np.full((22, panel.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, text, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([bar, panel])


def gallery_panels(
    photo: np.ndarray, prediction, relit: dict[str, np.ndarray], box
) -> list[tuple[str, np.ndarray]]:
    """(title, PANEL x PANEL 8-bit RGB) for each map, cropped to the square the network saw."""
    mask = prediction.mask.astype(np.float32)
    normal = np.where(prediction.mask[..., None], (prediction.normals + 1) / 2, [0.5, 0.5, 1.0])
    shading = (
        prediction.shading
        if prediction.shading.ndim == 3
        else np.repeat(prediction.shading[..., None], 3, 2)
    )

    def crop(values):
        return crop_to_box(values.astype(np.float32), box, PANEL)

    panels = [("photo", srgb8(crop(photo))),
              ("normal (OpenGL)", np.round(crop(normal) * 255).astype(np.uint8)),
              ("shading", srgb8(crop(shading))),
              ("albedo", srgb8(crop(prediction.albedo))),
              ("mask", np.round(np.repeat(crop(mask)[..., None], 3, 2) * 255).astype(np.uint8))]
    panels += [(f"relit: {name}", srgb8(crop(rgba[..., :3]))) for name, rgba in relit.items()]
    return panels


def grid(panels: list[tuple[str, np.ndarray]], columns: int = 4) -> np.ndarray:
    cells = [label(p, t) for t, p in panels]
    blank = np.full_like(cells[0], 255)
    cells += [blank] * (-len(cells) % columns)
    rows = [np.concatenate(cells[i : i + columns], 1) for i in range(0, len(cells), columns)]
    return np.concatenate(rows, 0)


def write_rgb_png(path: Path, rgb: np.ndarray) -> None:
    ok, buf = cv2.imencode(
        ".png", np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 9]
    )
    if not ok:
        raise OSError(f"PNG encoding failed for {path}")
    path.write_bytes(buf.tobytes())


def detections_image(
    entries: list[dict], photos: dict[str, np.ndarray], height: int = 360
) -> np.ndarray:
    """The full photos side by side with the detector's box (green) and the crop (yellow)."""
    cells = []
    for entry in entries:
        image = photos[entry["photo"]]
        scale = height / image.shape[0]
        small = cv2.resize(
            srgb8(image), (round(image.shape[1] * scale), height), interpolation=cv2.INTER_AREA
        )
        if entry["face_box"]:
            x, y, w, h = (round(v * scale) for v in entry["face_box"])
            cv2.rectangle(small, (x, y), (x + w, y + h), (0, 200, 0), 2)
        x, y, s = (round(v * scale) for v in entry["crop_box"])
        cv2.rectangle(small, (x, y), (x + s, y + s), (240, 200, 0), 2)
        cells.append(label(small, entry["photo"]))
        cells.append(np.full((height + 22, 8, 3), 255, np.uint8))
    return np.concatenate(cells[:-1], 1)


def gallery(
    estimator: PortraitModel, photos: list[Path], hdris: list[str], out: Path, work: Path
) -> list[dict]:
    entries = []
    images = {}
    for path in photos:
        start = time.perf_counter()
        try:
            prediction = predict([path], PredictOptions(mode="single", device="cpu"),
                                 load_model=lambda _mode, _device: estimator)
        except UserError as error:  # e.g. an empty mask: that is a result too
            entries.append({"photo": path.name, "error": str(error)})
            print(f"gallery {path.name}: {error}", flush=True)
            continue
        folder = work / path.stem
        save_prediction(prediction, folder, [path.name], overwrite=True)
        relit = {name: relight_dir(folder, name, background="keep", photo=path) for name in hdris}
        seconds = time.perf_counter() - start
        report = prediction.report
        photo = read_image(path).rgb
        images[path.name] = photo
        box = CropBox(*report["crop_box"])
        image_name = f"gallery_{path.stem}.png"
        write_rgb_png(out / image_name, grid(gallery_panels(photo, prediction, relit, box)))
        entries.append(
            {
                "photo": path.name,
                "size": report["size"],
                "face_found": report["face_found"],
                "face_box": report["face_box"],
                "crop_box": report["crop_box"],
                "crop_note": report["crop_note"],
                "timings": {k: round(v, 3) for k, v in report["timings"].items()},
                "predict_and_relight_s": round(seconds, 2),
                "image": image_name,
                "checks": map_checks(prediction, relit, report),
            }
        )
        print(f"gallery {path.name}: {report['crop_note']}, {seconds:.1f} s", flush=True)
    shown = [e for e in entries if "error" not in e]
    if shown:
        write_rgb_png(out / "detections.png", detections_image(shown, images))
    return entries


def map_checks(prediction, relit: dict, report: dict) -> dict:
    """Numbers that flag the usual failures: a mask that misses or overflows the face, albedo
    clipped (shading predicted too dark or too bright), relit skin clipped or nearly black."""
    mask = prediction.mask
    x, y, w, h = report["face_box"] or (0, 0, 0, 0)
    face_area = max(w * h, 1)
    inside = mask[y : y + h, x : x + w].mean() if w and h else float("nan")
    albedo = prediction.albedo[mask]
    checks = {
        "mask_px_over_face_box_px": round(float(mask.sum()) / face_area, 2),
        "face_box_covered_by_mask": round(float(inside), 3),
        "albedo_clipped_white": round(float((albedo.max(axis=1) >= 0.999).mean()), 3)
        if albedo.size
        else None,
        "albedo_median_srgb": [
            round(float(v), 3) for v in linear_to_srgb(np.median(albedo, axis=0))
        ]
        if albedo.size
        else None,
    }
    for name, rgba in relit.items():
        skin = rgba[..., :3][mask]
        checks[f"relit_{name}_clipped"] = round(float((skin.max(axis=1) >= 1.0).mean()), 3)
        checks[f"relit_{name}_median_srgb"] = round(
            float(linear_to_srgb(np.median(skin.mean(axis=1)))), 3
        )
    return checks
