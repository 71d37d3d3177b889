"""Portrait benchmark, synthetic part: the maps `predict` would make on held-out faces, scored.

Normal error in the face region, mask IoU and scale-invariant shading error (see
`evaluation.portrait`), for all samples and split into tight crops and normal framing; baselines
that set the floor; blurred photos; several held-out sets pooled; faces seen off the optical axis.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from photonormals.evaluation.portrait import portrait_metrics, shading_si_error
from photonormals.inference.camera import turn_to_ray
from photonormals.inference.portrait import PortraitModel, predict_maps, subject_mask
from photonormals.inference.sh_lighting import FIT_WEIGHT, REFINE_STEPS, sh_lighting_maps
from photonormals.models.portrait import normalise_portrait_exposure
from photonormals.synthetic.faces import FaceModel
from photonormals.synthetic.portrait.bank import build_bank
from photonormals.synthetic.portrait.validation import render_each, validation_set

TIGHT_EXTENT = 0.8  # face region spanning more of the frame than this -> a tight crop (the engine
#                     draws face fills of 0.35-0.75 normally, 0.9-1.4 for its ~15 % tight crops)
SOFT_PHOTO_BLUR = 1.0  # pixels at the working size: the blur of the "soft photos" row
FIRST_SEED = 1  # the table's validation set: validation_set's default, the one training logs
OFF_AXIS_DEG = 20.0  # a face near the edge of a phone photo (26 mm equivalent: 39° to the corners)
OFF_AXIS_SEED = 7919  # its faces: never a training or validation seed


def is_tight(face: np.ndarray) -> np.ndarray:
    """(N, 1, S, S) face regions -> (N,) bool: the face spans over TIGHT_EXTENT of the frame."""
    tight = []
    for region in face[:, 0] > 0.5:
        ys, xs = np.nonzero(region)
        extent = max(np.ptp(xs) + 1, np.ptp(ys) + 1) / region.shape[0] if xs.size else 0.0
        tight.append(extent > TIGHT_EXTENT)
    return np.array(tight)


@torch.inference_mode()
def predict_validation(
    model,
    val: dict,
    flip_tta: bool,
    batch: int = 16,
    fit_weight: float = FIT_WEIGHT,
    refine_steps: int = REFINE_STEPS,
) -> dict:
    """The network's maps on the validation images, as `inference.portrait` computes them
    (``fit_weight`` 0: the network's own shading, 1: the lighting fit's alone; ``refine_steps``
    0: the network's own normals)."""
    model.eval()
    out = {"normal": [], "shading": [], "mask": []}
    for i in range(0, len(val["image"]), batch):
        x, level = normalise_portrait_exposure(
            torch.from_numpy(val["image"][i : i + batch]).float()
        )
        maps = predict_maps(model, x, flip_tta)
        normals = maps["normal"].numpy()
        shading = (maps["shading"] * level.view(-1, 1, 1, 1)).numpy()
        fitted = [
            sh_lighting_maps(
                *(np.moveaxis(a, 0, -1) for a in (image, n, s)), m > 0, fit_weight, refine_steps
            )
            for image, n, s, m in zip(
                val["image"][i : i + batch],
                normals,
                shading,
                maps["mask_logits"][:, 0].numpy(),
                strict=True,
            )
        ]
        out["normal"].append(np.stack([np.moveaxis(n, -1, 0) for n, _ in fitted]))
        out["shading"].append(np.stack([np.moveaxis(s, -1, 0) for _, s in fitted]))
        out["mask"].append(
            np.stack([subject_mask(m) for m in (maps["mask_logits"][:, 0] > 0).numpy()])[:, None]
        )
    return {k: np.concatenate(v) for k, v in out.items()}


def split_metrics(predicted: dict, val: dict, tight: np.ndarray) -> dict:
    rows = {}
    for name, select in (
        ("all", np.ones_like(tight)),
        ("normal_framing", ~tight),
        ("tight_crop", tight),
    ):
        if select.any():
            rows[name] = {**portrait_metrics({k: v[select] for k, v in predicted.items()},
                                             {k: v[select] for k, v in val.items()}),
                          "count": int(select.sum())}
    return rows


def synthetic_scores(estimator: PortraitModel, val: dict, tight: np.ndarray) -> tuple[dict, dict]:
    """The metrics without and with flip TTA, and the flip-TTA maps (held-out sets pool them)."""
    predicted = {
        tta: predict_validation(estimator.model, val, tta == "flip_tta")
        for tta in ("plain", "flip_tta")
    }
    return {tta: split_metrics(maps, val, tight) for tta, maps in predicted.items()}, predicted[
        "flip_tta"
    ]


def flat_baseline(val: dict, tight: np.ndarray) -> dict:
    """What a constant frontal normal (0, 0, 1), the true mask and a constant shading score:
    the floor a network has to beat."""
    flat = np.zeros_like(val["normal"])
    flat[:, 2] = 1.0
    return split_metrics(
        {"normal": flat, "shading": np.ones_like(val["shading"]), "mask": val["mask"] > 0.5},
        val,
        tight,
    )


def blurred_photo_shading(val: dict, sigma: float = 4.0) -> float:
    """Shading error of the photo's own grey level, blurred: what a shading head scores that
    only learnt to copy the photo (real-photo shading maps can look like that), with no
    separation of albedo from light."""
    grey = val["image"].mean(axis=1)
    blurred = np.stack([cv2.GaussianBlur(g, (0, 0), sigma) for g in grey])[:, None]
    return shading_si_error(np.repeat(blurred, 3, axis=1) + 1e-6, val["shading"], val["mask"])


def softened(val: dict, sigma: float = SOFT_PHOTO_BLUR) -> dict:
    """The validation set with every photo blurred (a soft lens, a resized photo), the truth
    unchanged: a network that took sharpness for the person loses its mask here."""
    images = val["image"]
    flat = images.reshape(-1, *images.shape[2:])
    blurred = np.stack([cv2.GaussianBlur(c, (0, 0), sigma) for c in flat]).reshape(images.shape)
    return {**val, "image": blurred}


def held_out_sets(
    model, envs, size: int, count: int, seeds: list[int], first: dict, first_maps: dict
) -> dict:
    """Flip-TTA scores of ``model`` on the first validation set (its maps ``first_maps`` already
    predicted) and on one more per seed, each set and all of them pooled: one set of 64 faces
    differs from the next by a few tenths of a degree, so the pooled number is the one to hold a
    target against. A seed given twice, or set 1's own, is scored once: pooling it twice would
    weight those faces double."""
    keys = ("normal", "shading", "mask", "face")
    predicted, truth, per_set = [], [], {}
    for seed in dict.fromkeys([FIRST_SEED, *seeds]):
        val = (
            first
            if seed == FIRST_SEED
            else validation_set(count=count, size=size, envs=envs, seed=seed)
        )
        guess = first_maps if seed == FIRST_SEED else predict_validation(model, val, True)
        per_set[str(seed)] = {**portrait_metrics(guess, val), "count": len(val["image"])}
        predicted.append(guess)
        truth.append({k: val[k] for k in keys})
    pooled = portrait_metrics({k: np.concatenate([p[k] for p in predicted]) for k in predicted[0]},
                              {k: np.concatenate([t[k] for t in truth]) for k in keys})
    errors = [m["normal_face_deg"] for m in per_set.values()]
    return {
        "per_set": per_set,
        "pooled": {**pooled, "count": sum(m["count"] for m in per_set.values())},
        "normal_spread_deg": {
            "min": min(errors),
            "max": max(errors),
            "std": float(np.std(errors, ddof=1)),
        },
    }


def off_axis_scores(
    model, envs, size: int, count: int = 32, angle_deg: float = OFF_AXIS_DEG
) -> dict:
    """Held-out faces seen ``angle_deg`` off the optical axis (to a random side), cropped as a
    detector crops them from a wide photo: the network's normals as it gives them (as if the face
    sat on the axis) and turned into the photo's frame by the crop centre's ray, as `predict`
    turns them when it knows the focal length (inference/camera.py)."""
    rng = np.random.default_rng(OFF_AXIS_SEED)
    a = np.radians(angle_deg)
    turns = [turn_to_ray([np.sin(a) * np.cos(side), np.sin(a) * np.sin(side), -np.cos(a)])
             for side in rng.uniform(0, 2 * np.pi, count)]
    bank = build_bank(count, 2 * size, OFF_AXIS_SEED, FaceModel.load(), view_turns=turns)
    val = render_each(bank, envs, size, OFF_AXIS_SEED, mirror=False)  # a mirror would move the axis
    # The ray through the middle of the face region's box, as `predict` takes the detector box's:
    # the bank renders at 2 * size, its principal points in those pixels, y up.
    crop_turns = []
    for face, p, f in zip(val["face"][:, 0] > 0.5, bank["principal"], bank["focal"], strict=True):
        ys, xs = np.nonzero(face)
        x, y = (xs.min() + xs.max() + 1), 2 * size - (ys.min() + ys.max() + 1)
        crop_turns.append(turn_to_ray([x - p[0], y - p[1], -f]))
    crop_turns = np.stack(crop_turns).astype(np.float32)
    predicted = predict_validation(model, val, True)
    turned = {**predicted, "normal": np.einsum("nij,njhw->nihw", crop_turns, predicted["normal"])}
    tight = is_tight(val["face"])
    return {
        "angle_deg": angle_deg,
        "count": count,
        "as_given": split_metrics(predicted, val, tight)["all"],
        "turned": split_metrics(turned, val, tight)["all"],
    }
