"""Seam benchmark for issue 31: does the face pass show where it ends?

For one photo, three ways of making the single-portrait maps:
  crop     the face crop alone (before issue 31: every map stops at the crop square)
  hard     the whole-frame pass with the face pass pasted in with a hard edge
  feather  the whole-frame pass with the face pass feathered in (what predict does)
  frame    the whole-frame pass alone, scored on the same outline: what the band scores with no
           face pass, hence no seam, at all (the score also reflects how rough the frame pass is
           along the outline against the rest of the person)
Seam score = mean normal-map (and log-shading) gradient magnitude (forward differences, both
pixels in the mask) in a band of +-BAND px around the face's crop square, over the same mean
elsewhere in the mask; 1.0 means the border is no rougher than the rest of the person. Also the
share of the final person mask that the crop-only maps cover.

    PYTHONPATH=... python benchmarks/portrait_seam.py PHOTO [--panel docs/portrait/seam.png]
                                                      [--frame-px PX]
"""

from __future__ import annotations

import argparse
import json

import cv2
import numpy as np
import torch
from photonormals.inference import feather, portrait
from photonormals.inference.face_crop import paste_back  # noqa: F401 (documents the paste)
from photonormals.inference.portrait import PortraitModel
from photonormals.io.images import read_image

BAND = 2  # px either side of the crop border


def gradient(normals: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) |dn/dx| + |dn/dy| norms where both pixels of a pair are in the mask, and where
    it is defined."""
    gx = np.zeros(mask.shape, np.float32)
    gy = np.zeros(mask.shape, np.float32)
    gx[:, :-1] = np.linalg.norm(normals[:, 1:] - normals[:, :-1], axis=2)
    gy[:-1] = np.linalg.norm(normals[1:] - normals[:-1], axis=2)
    okx = np.zeros(mask.shape, bool)
    oky = np.zeros(mask.shape, bool)
    okx[:, :-1] = mask[:, 1:] & mask[:, :-1]
    oky[:-1] = mask[1:] & mask[:-1]
    return np.hypot(gx * okx, gy * oky), okx & oky


def border_band(box, shape, width: int) -> np.ndarray:
    """Pixels within ``width`` of the crop square's outline (the part inside the photo)."""
    h, w = shape[:2]
    ys, xs = np.mgrid[:h, :w] + 0.5
    x0, y0, x1, y1 = box.x, box.y, box.x + box.side, box.y + box.side
    inside = (xs >= x0 - width) & (xs <= x1 + width) & (ys >= y0 - width) & (ys <= y1 + width)
    core = (xs > x0 + width) & (xs < x1 - width) & (ys > y0 + width) & (ys < y1 - width)
    return inside & ~core


def seam_score(normals, mask, box) -> dict:
    """normals: (H, W, C) any map (normals, or log shading for the shading seam)."""
    g, ok = gradient(normals, mask)
    band = border_band(box, mask.shape, BAND) & ok
    far = ~border_band(box, mask.shape, 12) & ok
    if not band.any() or not far.any():
        return {"seam_ratio": None, "band_px": int(band.sum())}
    return {"seam_ratio": round(float(g[band].mean() / g[far].mean()), 3),
            "band_mean": round(float(g[band].mean()), 4),
            "elsewhere_mean": round(float(g[far].mean()), 4), "band_px": int(band.sum())}


def log_shading(estimate) -> np.ndarray:
    """(H, W, 1) log grey shading: a seam in shading is a step in log brightness."""
    return np.log(np.maximum(estimate.shading.mean(axis=2, keepdims=True), 1e-6))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("photo")
    parser.add_argument("--panel", help="write crop | hard | feather normal maps side by side")
    parser.add_argument("--frame-px", type=int, help="predict's --frame-px (default: its own)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    image = read_image(args.photo).rgb
    model = PortraitModel(device="cpu")
    feathered = model.estimate(image, frame_px=args.frame_px)
    face_box = feathered.crop_box
    weight_of = portrait.feather_weight
    portrait.feather_weight = lambda box, shape, window=None: feather.feather_weight(
        box, shape, share=1e-4, window=window)
    try:
        hard = model.estimate(image, frame_px=args.frame_px)
    finally:
        portrait.feather_weight = weight_of
    blend = portrait.blend_pass
    portrait.blend_pass = lambda base, layer, weight, window=None: base
    try:
        frame = model.estimate(image, frame_px=args.frame_px)
    finally:
        portrait.blend_pass = blend
    timings = {"crop_s": 0.0, "network_s": 0.0, "lighting_fit_s": 0.0, "paste_s": 0.0}
    crop_maps, _, _ = model._pass(image, face_box, model.size, None, timings)
    crop_mask = portrait.subject_mask(crop_maps["mask"] > portrait.MASK_THRESHOLD,
                                      feathered.face_box)
    inside = np.zeros(crop_mask.shape, bool)
    y0, x0 = max(0, int(face_box.y)), max(0, int(face_box.x))
    inside[y0:int(face_box.y + face_box.side), x0:int(face_box.x + face_box.side)] = True
    crop_mask &= inside
    result = {
        "photo": args.photo,
        "crop_box": [round(v, 1) for v in face_box],
        "frame_pass_px": feathered.frame_pass_px,
        "crop_only_covers_share_of_person": round(
            float((crop_mask & feathered.mask).sum() / feathered.mask.sum()), 3),
        "hard": seam_score(hard.normals, hard.mask, face_box),
        "feather": seam_score(feathered.normals, feathered.mask, face_box),
        "frame_only": seam_score(frame.normals, feathered.mask, face_box),
        "hard_shading": seam_score(log_shading(hard), hard.mask, face_box),
        "feather_shading": seam_score(log_shading(feathered), feathered.mask, face_box),
        "frame_only_shading": seam_score(log_shading(frame), feathered.mask, face_box),
        "feather_timings_s": {k: round(v, 3) for k, v in feathered.timings.items()},
    }
    print(json.dumps(result, indent=1))
    if args.panel:
        panels = []
        for normals, mask in ((crop_maps["normal"] * crop_mask[..., None], crop_mask),
                              (hard.normals, hard.mask), (feathered.normals, feathered.mask)):
            rgb = np.where(mask[..., None], (normals + 1) / 2, 0.5)
            panel = np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8)
            scale = 400 / panel.shape[0]
            panels.append(cv2.resize(panel, None, fx=scale, fy=scale,
                                     interpolation=cv2.INTER_AREA))
        cv2.imwrite(args.panel, np.concatenate(panels, axis=1)[..., ::-1])


if __name__ == "__main__":
    main()
