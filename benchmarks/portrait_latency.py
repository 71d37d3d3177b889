"""Portrait benchmark, CPU latency: the network alone at the working size, and
`PortraitModel.estimate` end to end (face detection, crop, network, lighting fit, paste-back) on
a real photo at each of PHOTO_SIDES."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import torch
from photonormals.inference.portrait import PortraitModel
from photonormals.io.images import read_image
from photonormals.models import PORTRAIT, create_model, list_models
from photonormals.models.weights import save_weights

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PHOTO_SIDES = (512, 1024)


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def latency_photos() -> dict[int, np.ndarray]:
    """A real portrait (the top square of obama.jpg, face included) at each PHOTO_SIDES side."""
    image = read_image(SHARED / "portraits" / "obama.jpg").rgb
    side = min(image.shape[:2])
    square = np.ascontiguousarray(image[:side, (image.shape[1] - side) // 2 :][:, :side])
    return {s: cv2.resize(square, (s, s), interpolation=cv2.INTER_AREA) for s in PHOTO_SIDES}


@torch.inference_mode()
def latency(estimator: PortraitModel, photos: dict, repeats: int = 5) -> dict:
    model = estimator.model.eval()
    sizes = sorted({estimator.size, 256})
    model_only = {}
    for s in sizes:
        x = torch.rand(1, 3, s, s)
        model_only[str(s)] = median_time(lambda x=x: model(x), repeats)
    end_to_end = {}
    for side, photo in photos.items():
        total = median_time(lambda photo=photo: estimator.estimate(photo), 3)
        est = estimator.estimate(photo)
        end_to_end[str(side)] = {"total_s": total, "face_found": est.face_found,
                                 **{k: round(v, 4) for k, v in est.timings.items()}}
    return {"working_size": estimator.size, "steps": estimator.metadata.get("steps"),
            "params": sum(p.numel() for p in model.parameters()),
            "model_only_s": model_only, "end_to_end": end_to_end}


def latency_models(given: dict[str, PortraitModel], size: int, folder: Path) -> dict:
    """One estimator per family: the given weights, else untrained weights from the registry."""
    out = {}
    for family in list_models(PORTRAIT):
        estimator = given.get(family)
        if estimator is None:
            path = folder / f"{family}_untrained.safetensors"
            save_weights(path, create_model(family), input_size=size, steps=0)
            estimator = PortraitModel(path, "cpu", flip_tta=False)
        out[family] = (estimator, family in given)
    return out
