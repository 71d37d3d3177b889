"""Material benchmark, accuracy: the model as predict runs it, on held-out synthetic surfaces per
family, against the flat guess; the light_from option on surfaces lit from each side; the
seamless option's seams; and several lamp-lit photos of one surface (photometric stereo with the
surface prior) against one of them alone."""

from __future__ import annotations

import math

import numpy as np
import torch
from photonormals.evaluation.material import (
    LUMA_STRENGTHS,
    angular_error_deg,
    flat_error_deg,
    height_error,
    luminance_normals,
    seam_score,
    shading_leak,
)
from photonormals.inference.material import (
    QUARTER_TURNS,
    surface_from_photometric,
    turn_normals,
)
from photonormals.synthetic.imaging import decode_srgb8, srgb8_codes
from photonormals.synthetic.material.batches import MaterialBatches
from photonormals.synthetic.material.geometry import FAMILIES
from photonormals.synthetic.material.lighting import LIGHT_KINDS

ROUGHNESS_GUESS = 0.6  # a constant answer near the engine's mean roughness


def _hwc(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(np.asarray(a, np.float32), 0, -1))


def synthetic_scores(model, data: dict, log=print) -> dict:
    """Per family and pooled: mean normal error of the model, of the flat guess and of the
    classical luminance-as-height reference (`luminance_normals`, its one strength picked as the
    best pooled on this very set: an optimistic reference) (deg), height error after the best
    scale (flat: 1), albedo shading-leak of the model, of the photo and of the true albedo,
    roughness MAE of the model and of a constant."""
    rows = []
    for i in range(len(data["image"])):
        image = _hwc(data["image"][i])
        truth = np.asarray(data["normal"][i], np.float32)
        truth /= np.linalg.norm(truth, axis=0, keepdims=True)
        estimate = model.estimate(image)
        predicted = np.moveaxis(estimate.normals, -1, 0)
        shading = np.asarray(data["shading"][i, 0], np.float32)
        rows.append({
            "family": FAMILIES[int(data["family"][i])],
            "normal_deg": float(angular_error_deg(predicted, truth).mean()),
            "flat_deg": float(flat_error_deg(truth).mean()),
            "height_error": height_error(estimate.height, np.asarray(data["height"][i, 0])),
            "leak": shading_leak(np.moveaxis(estimate.albedo, -1, 0), shading),
            "leak_photo": shading_leak(np.asarray(data["image"][i], np.float32), shading),
            "leak_true": shading_leak(np.asarray(data["albedo"][i], np.float32), shading),
            "roughness_mae": float(np.abs(estimate.roughness - data["roughness"][i, 0]).mean()),
            "roughness_guess_mae": float(np.abs(ROUGHNESS_GUESS - data["roughness"][i, 0]).mean()),
            **{f"luma_{k}": float(angular_error_deg(luminance_normals(image, k), truth).mean())
               for k in LUMA_STRENGTHS},
        })
        if i % 16 == 15:
            log(f"  scored {i + 1}/{len(data['image'])}")
    best = min(LUMA_STRENGTHS, key=lambda k: np.mean([r[f"luma_{k}"] for r in rows]))
    for r in rows:
        r["luma_deg"] = r[f"luma_{best}"]
        for k in LUMA_STRENGTHS:
            del r[f"luma_{k}"]
    per_family = {f: _mean([r for r in rows if r["family"] == f]) for f in FAMILIES}
    return {"luma_strength": best, "per_family": per_family, "pooled": _mean(rows),
            "count": len(rows)}


def _mean(rows: list[dict]) -> dict:
    keys = [k for k in rows[0] if not isinstance(rows[0][k], str)]  # not family, side, light
    return {k: round(float(np.mean([r[k] for r in rows])), 4) for k in keys} | {"n": len(rows)}


def seam_scores(model, data: dict, count: int = 22) -> dict:
    """Mean seam score (wrap-around jump / inner jump; about 1: invisible) of each map with and
    without the seamless option, and of the photo itself."""
    picks = np.linspace(0, len(data["image"]) - 1, count).round().astype(int)
    scores: dict[str, list] = {}
    for i in picks:
        image = _hwc(data["image"][i])
        scores.setdefault("photo", []).append(seam_score(image))
        for seamless in (False, True):
            e = model.estimate(image, seamless=seamless)
            tag = "seamless" if seamless else "plain"
            for name, texture in (("albedo", e.albedo), ("normal", e.normals),
                                  ("height", e.height), ("roughness", e.roughness)):
                scores.setdefault(f"{name}_{tag}", []).append(seam_score(texture))
    return {k: round(float(np.median(v)), 3) for k, v in scores.items()} | {"n": len(picks)}


OPPOSITE = {"top": "bottom", "bottom": "top", "left": "right", "right": "left"}


def light_side_scores(model, data_up: dict, log=print) -> dict:
    """The light_from option on surfaces lit from each side. ``data_up`` is a set lit from the
    image's upper side (``light_up=1``); each sample is turned by quarter turns, photo and true
    normals together, so its light comes from the left, right or bottom instead. The engine
    draws every pattern's orientation from the four quarter turns, so a turned sample is one it
    would render lit from that side. Per side, the mean normal error predicted with the matching
    light_from, as if lit from the top (the default), with the opposite side (a wrong pick),
    and of the flat guess."""
    rows: dict[str, list] = {side: [] for side in QUARTER_TURNS}
    for i in range(len(data_up["image"])):
        image = _hwc(data_up["image"][i])
        truth = _hwc(data_up["normal"][i])
        truth /= np.linalg.norm(truth, axis=-1, keepdims=True)
        for side, turns in QUARTER_TURNS.items():
            k = -turns % 4  # the turn that takes light from the top to this side
            photo, true = np.ascontiguousarray(np.rot90(image, k)), turn_normals(truth, k)

            def error(light_from, photo=photo, true=true):
                normals = model.estimate(photo, light_from=light_from).normals
                return float(angular_error_deg(np.moveaxis(normals, -1, 0),
                                               np.moveaxis(true, -1, 0)).mean())

            matched = error(side)
            rows[side].append({
                "matched_deg": matched,
                "as_top_deg": matched if side == "top" else error("top"),
                "opposite_deg": error(OPPOSITE[side]),
                "flat_deg": float(flat_error_deg(np.moveaxis(true, -1, 0)).mean()),
            })
        if i % 8 == 7:
            log(f"  light sides: {i + 1}/{len(data_up['image'])}")
    return {side: _mean(r) for side, r in rows.items()} | {
        "count": len(data_up["image"]), "size": int(data_up["image"].shape[-1])}


def light_auto_scores(model, data_up: dict, log=print) -> dict:
    """``light_from="auto"`` on the set of `light_side_scores` (each top-lit sample turned so its
    light comes from each side): per side, the detector's accuracy and the mean normal error
    with auto, the default top, the matching side and the flat guess; the same pooled over the
    four sides (a photo lit from an unknown side) and per lighting kind (`LIGHT_KINDS`).

    The model's answer for a photo turned by k, read as lit from a side of t turns, is its
    answer on the upright photo turned by (t + k) % 4, turned back: so four passes per sample
    give every side's error exactly (E[j], j = 0 the matching side), and auto costs E[j] of the
    side it picked. The detector runs on each turned photo itself."""
    rows = []
    for i in range(len(data_up["image"])):
        image = _hwc(data_up["image"][i])
        truth = _hwc(data_up["normal"][i])
        truth /= np.linalg.norm(truth, axis=-1, keepdims=True)
        errors = []
        for j in range(4):
            normals = model.estimate(np.ascontiguousarray(np.rot90(image, j))).normals
            errors.append(float(angular_error_deg(np.moveaxis(normals, -1, 0), np.moveaxis(
                turn_normals(truth, j), -1, 0)).mean()))
        flat = float(flat_error_deg(np.moveaxis(truth, -1, 0)).mean())
        light = LIGHT_KINDS[int(data_up["light"][i])] if "light" in data_up else "unknown"
        for side, turns in QUARTER_TURNS.items():
            k = -turns % 4  # the turn that takes light from the top to this side
            found = model.detect_light(np.ascontiguousarray(np.rot90(image, k)))
            rows.append({
                "side": side, "light": light,
                "correct": float(found.side == side),
                "auto_deg": errors[(QUARTER_TURNS[found.side] + k) % 4],
                "top_deg": errors[k], "matched_deg": errors[0], "flat_deg": flat,
                "confident": float(found.confident),
            })
        if i % 8 == 7:
            log(f"  auto light side: {i + 1}/{len(data_up['image'])}")
    out = {side: _mean([r for r in rows if r["side"] == side]) for side in QUARTER_TURNS}
    out["pooled"] = _mean(rows)
    out["per_light"] = _per_light(rows)
    return out | {"count": len(data_up["image"]), "size": int(data_up["image"].shape[-1])}


def light_auto_any_scores(model, data: dict, log=print) -> dict:
    """``light_from="auto"`` on the held-out set lit from any direction alike (the photos a
    user gives without saying where the light is): mean normal error with auto, with the
    default top and of the flat guess, pooled and per lighting kind, and how often each side
    was picked."""
    rows = []
    for i in range(len(data["image"])):
        image = _hwc(data["image"][i])
        truth = np.asarray(data["normal"][i], np.float32)
        truth /= np.linalg.norm(truth, axis=0, keepdims=True)
        auto = model.estimate(image, light_from="auto")
        # read as top-lit, auto ran exactly that pass
        top = auto if auto.light_from == "top" else model.estimate(image, light_from="top")
        rows.append({
            "light": LIGHT_KINDS[int(data["light"][i])],
            "auto_deg": float(angular_error_deg(np.moveaxis(auto.normals, -1, 0), truth).mean()),
            "top_deg": float(angular_error_deg(np.moveaxis(top.normals, -1, 0), truth).mean()),
            "flat_deg": float(flat_error_deg(truth).mean()),
            **{f"picked_{side}": float(auto.light_from == side) for side in QUARTER_TURNS},
        })
        if i % 16 == 15:
            log(f"  auto, any side: {i + 1}/{len(data['image'])}")
    return {"pooled": _mean(rows), "per_light": _per_light(rows), "count": len(rows)}


def _per_light(rows: list[dict]) -> dict:
    """The rows' means per lighting kind (`LIGHT_KINDS`) that occurs among them."""
    return {kind: _mean([r for r in rows if r["light"] == kind])
            for kind in sorted({r["light"] for r in rows})}


def lamp_directions(count: int, generator: torch.Generator, batch: int) -> torch.Tensor:
    """(B, K, 3) lamps around the surface at 30-60 degrees above it, spread in azimuth."""
    start = torch.rand(batch, 1, generator=generator) * 2 * math.pi
    azimuth = start + torch.arange(count) * 2 * math.pi / count
    elevation = torch.deg2rad(30 + 30 * torch.rand(batch, count, generator=generator))
    return torch.stack([torch.cos(elevation) * torch.cos(azimuth),
                        torch.cos(elevation) * torch.sin(azimuth), torch.sin(elevation)], -1)


def multilight_vs_single(model, multilight, counts=(3, 6, 12), per_family: int = 2,
                         size: int = 192, log=print) -> dict:
    """Several photos of one surface, each lit by a lamp moved around it (30-60 deg up, at a
    finite distance, in a dim room), one exposure for the set, 8-bit sRGB: the mean normal error
    of the multi-light model with the surface prior (lights unknown), of calibrated photometric
    stereo on the lamps' directions to the frame's centre with the same prior, of the
    single-photo model on the set's first photo, and of the flat guess."""
    engine = MaterialBatches(size=size)
    g = torch.Generator().manual_seed(2027)
    from photonormals.photometric.calibrated import solve_calibrated

    results: dict[int, list] = {k: [] for k in counts}
    for family in FAMILIES:
        maps = engine.surfaces(per_family, g, family)
        truth = maps["normal"].numpy()
        lamps = lamp_directions(max(counts), g, per_family)
        radiance = engine.lamp_sets(maps, lamps, g)  # (B, K, 3, H, W)
        exposure = 0.9 / torch.quantile(radiance.flatten(1)[:, ::5], 0.99, dim=1).clamp_min(1e-6)
        photos = decode_srgb8(srgb8_codes(radiance * exposure.view(-1, 1, 1, 1, 1)))
        for b in range(per_family):
            single = model.estimate(_hwc(photos[b, 0].numpy()))
            for k in counts:
                stack = photos[b, :k].permute(0, 2, 3, 1).numpy()
                full = np.ones(stack.shape[1:3], bool)
                multi = multilight.estimate(stack, full)
                ours = surface_from_photometric(multi.normals, np.ones_like(multi.normals))
                calibrated = solve_calibrated(stack, lamps[b, :k].numpy(), None, full)
                cal = surface_from_photometric(calibrated.normals, calibrated.albedo)
                t = truth[b]
                results[k].append({
                    "family": family,
                    "multi_deg": float(angular_error_deg(np.moveaxis(ours.normals, -1, 0),
                                                         t).mean()),
                    "calibrated_deg": float(angular_error_deg(np.moveaxis(cal.normals, -1, 0),
                                                              t).mean()),
                    "single_deg": float(angular_error_deg(np.moveaxis(single.normals, -1, 0),
                                                          t).mean()),
                    "flat_deg": float(flat_error_deg(t).mean()),
                })
        log(f"  multi-light sets: {family} done")
    return {str(k): _mean(v) for k, v in results.items()}
