"""Portrait benchmark, the written report: docs/portrait/README.md and the model cards."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from photonormals.inference.portrait import PortraitModel
from portrait_latency import PHOTO_SIDES
from portrait_scores import TIGHT_EXTENT
from reporting import card_notes, kept_section

FAILURE_START, FAILURE_END = "<!-- failure-cases:start -->", "<!-- failure-cases:end -->"


def metrics_rows(name: str, table: dict) -> list[str]:
    rows = []
    for split in ("all", "normal_framing", "tight_crop"):
        m = table.get(split)
        if m:
            rows.append(f"| {name} | {split.replace('_', ' ')} ({m['count']}) | {m['normal_face_deg']:.2f} "
                        f"| {m['mask_iou']:.3f} | {m['shading_si_error']:.3f} |")
    return rows


def latency_table(latency: dict) -> list[str]:
    sizes = sorted({int(s) for e in latency.values() for s in e["model_only_s"]})
    lines = ["| model | weights | params | " + " | ".join(f"network only {s}²" for s in sizes)
             + " | " + " | ".join(f"end to end {s}² photo" for s in PHOTO_SIDES) + " |",
             "|---|---|---|" + "---|" * (len(sizes) + len(PHOTO_SIDES))]
    for family, e in latency.items():
        cells = [f"{e['model_only_s'][str(s)] * 1e3:.0f} ms" if str(s) in e["model_only_s"] else "—" for s in sizes]
        for side in PHOTO_SIDES:
            t = e["end_to_end"][str(side)]
            cells.append(f"{t['total_s'] * 1e3:.0f} ms (detect+crop {t['crop_s'] * 1e3:.0f}, "
                         f"net {t['network_s'] * 1e3:.0f}, light fit {t.get('lighting_fit_s', 0) * 1e3:.0f}, "
                         f"paste {t['paste_s'] * 1e3:.0f})")
        weights = f"given, {e['steps']} steps" if e["trained"] else "untrained (registry)"
        lines.append(f"| {family} | {weights} "
                     f"| {e['params'] / 1e6:.2f} M | " + " | ".join(cells) + " |")
    return lines


def write_report(results: dict, out: Path) -> None:
    m = results["machine"]
    models = results["models"]
    gallery_model = models[results["gallery_model"]]
    lines = [
        "# Single-portrait model: benchmark and real-photo gallery", "",
        (f"One run of `python benchmarks/portrait.py --weights {' '.join(e['weights'] for e in models.values())} "
        f"--out {out}` ({results['run_s']:.0f} s): {m['cpu']}, {m['cores']} cores, torch {m['torch']} on CPU, "
        f"{results['threads']} thread(s), load average {m['load_average_at_start'][0]} at the start "
        "(other jobs on the machine slow every number here)."), "",
        "## Synthetic validation", "",
        (f"{gallery_model['synthetic']['plain']['all']['count']} held-out faces from the synthetic portrait engine "
        "(a face-bank seed no training run uses, the bundled HDRIs at rotations the training draw does not tie to "
        f"these faces), rendered at each model's working size. A sample is a *tight crop* when its face region "
        f"spans more than {TIGHT_EXTENT:.0%} of the frame (the engine draws ~15 % of them). Normal error: mean "
        "angle inside the face region (skin, eyes, mouth; not hair, ears or neck). Mask IoU pooled over the set, "
        "of the mask inference writes (the network's, reduced to its largest region with small holes filled). "
        "Shading: relative squared error after the best per-image scale (0 is perfect, 1 is as bad as predicting "
        "zero). *Flip TTA* averages the prediction with that of the mirrored photo (`PortraitModel(flip_tta=True)`, "
        "twice the network time)."), "",
        "| model | samples | normal error in face (deg) | mask IoU | shading SI error |", "|---|---|---|---|---|",
    ]
    for name, e in models.items():
        lines += metrics_rows(f"{name} ({e['steps']} steps)", e["synthetic"]["plain"])
        lines += metrics_rows(f"{name}, flip TTA", e["synthetic"]["flip_tta"])
    sets = results.get("held_out_sets")
    if sets:
        for seed, m in list(sets["per_set"].items())[1:]:
            lines += metrics_rows(f"{sets['model']}, flip TTA, held-out set {seed}", {"all": m})
        lines += metrics_rows(f"{sets['model']}, flip TTA, all {len(sets['per_set'])} held-out sets pooled",
                              {"all": sets["pooled"]})
    soft = results.get("soft_photos")
    for name, scores in (soft or {}).get("flip_tta", {}).items():
        lines += metrics_rows(f"{name}, flip TTA, the first set's photos blurred (σ {soft['blur_px']:g} px)",
                              {"all": scores["all"]})
    off_axis = results.get("off_axis")
    if off_axis:
        for key, how in (("as_given", "as the network gives them"), ("turned", "turned into the photo's frame")):
            lines += metrics_rows(f"{off_axis['model']}, flip TTA, other faces {off_axis['angle_deg']:g}° off the "
                                  f"optical axis, normals {how}", {"all": off_axis[key]})
    lines += metrics_rows("baseline: flat (0,0,1) normal, true mask, constant shading", results["flat_baseline"])
    if "blurred_photo_shading_si" in results:
        name, scored = next(iter(models.items()))
        lines += ["", (f"A shading map that is just the photo's grey level, blurred (σ 4 px), scores "
                       f"{results['blurred_photo_shading_si']:.3f} on the first set (a constant one "
                       f"{results['flat_baseline']['all']['shading_si_error']:.3f}): the albedo's pattern (brows, lips, "
                       f"skin tone) stays in it. {name} with flip TTA "
                       f"scores {scored['synthetic']['flip_tta']['all']['shading_si_error']:.3f}.")]
    if sets:
        first, *others = sets["per_set"]  # held_out_sets puts the table's own set first
        spread, n = sets["normal_spread_deg"], len(sets["per_set"])
        lines += ["", (f"The table's first set is held-out set {first}; sets {', '.join(others)} are other faces, lights "
                       "and framings at "
                       f"the same size. Their normal errors run from {spread['min']:.2f}° to {spread['max']:.2f}° (standard "
                       f"deviation {spread['std']:.2f}°), so one set of {sets['per_set'][first]['count']} is uncertain "
                       f"by about that much, and the pooled {sets['pooled']['count']} faces (standard error about "
                       f"{spread['std'] / np.sqrt(n):.2f}°) are the estimate to hold a target against. Two weights "
                       "scored on the same set are a paired comparison: a change that every set shows is unlikely "
                       "to be noise.")]
    if soft:
        lines += ["", (f"The blurred rows score the first set with every photo blurred by σ {soft['blur_px']:g} px at the "
                       "working size (a soft lens, a slightly missed focus, a photo resized up), the truth unchanged. "
                       "Backdrops in the engine are out of focus, so a network can learn 'sharp = person'; "
                       "these rows show whether it did.")]
    fit = results.get("lighting_fit")
    if fit:
        used = models[fit["model"]]["synthetic"]["flip_tta"]["all"]
        alone, fit_only = fit["network_only"], fit["fit_shading_only"]
        lines += ["", ("Grey nine-coefficient lighting fitted to the photo on the predicted normals over the skin "
                       "(`inference/sh_lighting.py`) cleans the shading (blended with the fit's, which cannot copy "
                       "the photo's texture) and nudges the skin's normals to explain the photo's shading. "
                       f"{fit['model']} with flip TTA: normals {alone['normal_face_deg']:.2f}° -> "
                       f"{used['normal_face_deg']:.2f}°, shading {alone['shading_si_error']:.3f} -> "
                       f"{used['shading_si_error']:.3f} (the fit's shading alone {fit_only['shading_si_error']:.3f}); "
                       "the rows above include it.")]
    if off_axis:
        lines += ["", (f"The off-axis rows are {off_axis['count']} other held-out faces seen {off_axis['angle_deg']:g}° off "
                       "the optical axis, to a random side, cropped around the face (a face near the edge of a phone "
                       "photo). The network answers as if the face sat on the axis, as every training face does; "
                       "turned by the angle between the axis and the ray through the face box's middle, as "
                       "`predict` turns them when it knows the focal length (`--focal-35mm` or EXIF; "
                       "`inference/camera.py`), they are back near the on-axis error.")]
    lines += ["", "## CPU latency", "",
              (f"Median of 5 runs (3 end to end) after a warm-up, {results['threads']} thread(s). *Network only*: one "
              "forward pass on a random crop. *End to end*: `PortraitModel.estimate` on a real portrait (the top "
              "square of obama.jpg, resized) - face detection on a ≤320 px grey copy, crop and resize to the "
              "working size, network, the lighting fit (shading blend and normal refinement), paste-back of "
              "the maps into the photo and albedo division. Both families run "
              f"at the same working size ({next(iter(results['latency'].values()))['working_size']}²); untrained "
              "weights time the same as trained ones. The stage breakdown in brackets is from one extra run."), ""]
    lines += latency_table(results["latency"])
    lines += ["", "## Real photos", "",
              (f"Model: `{results['gallery_model']}` ({gallery_model['steps']} steps), with flip TTA as `predict` runs "
               "it. The photos are public-domain "
              "official portraits (`../shared/data/portraits`, see its README); the faces are small in the frame, "
              "so the detector has to find them and the maps are pasted back into the full photo. Each panel shows "
              "the square the network saw (twice the detector's box; black where it runs past the photo). "
              "Relit: `photonormals relight --shader diffuse --background keep` under Blender's bundled HDRIs, no exposure change; shading is shown sRGB-encoded."),
              "", "![detections](detections.png)", "",
              "Green: the detector's face box; yellow: the crop the network saw.", ""]
    for entry in results["gallery"]:
        if "error" in entry:
            lines += [f"### {entry['photo']}", "", f"No result: {entry['error']}", ""]
            continue
        c = entry["checks"]
        lines += [f"### {entry['photo']} ({entry['size'][0]}x{entry['size'][1]})", "",
                  f"![{entry['photo']}]({entry['image']})", "",
                  f"{entry['crop_note']}; face box {entry['face_box']}; predict {entry['timings'].get('solve_s', 0):.2f} s "
                  f"of {entry['predict_and_relight_s']:.1f} s with {len(results['hdris'])} relights. Mask area "
                  f"{c['mask_px_over_face_box_px']}x the face box, covering {c['face_box_covered_by_mask']:.0%} of it; "
                  f"albedo clipped white on {c['albedo_clipped_white']:.1%} of the mask, median albedo (sRGB) "
                  f"{c['albedo_median_srgb']}; relit skin clipped on "
                  + ", ".join(f"{c[f'relit_{h}_clipped']:.0%} ({h})" for h in results["hdris"]) + ".", ""]
    lines += ["## Failure cases", "", kept_section(out / "README.md", FAILURE_START, FAILURE_END,
                                                  "_Not written yet: look at the gallery images and describe what goes wrong._"), ""]
    (out / "README.md").write_text("\n".join(lines))


def runs_text(runs: list[dict] | None, config: dict) -> str:
    """Each training run (they restart the schedule), or the last run's config where no history was kept."""
    if not runs:
        return f"last run: lr {config.get('lr')}, capped at {config.get('minutes')} minutes"
    parts = [f"steps {r['from_step']:,}-{r['to_step']:,} at lr {r['lr']:g}"
             + (f" for {r['minutes']:g} minutes" if r.get("minutes") else "")
             + (f" on {r['bank_size']:,} heads" if r.get("bank_size") else "")
             + (f" (bank seed {r['bank_seed']}: a new draw of heads)" if r.get("bank_seed") else "")
             for r in runs]
    return f"{len(runs)} run{'s' if len(runs) > 1 else ''}: " + "; ".join(parts)


def normal_loss_text(config: dict) -> str:
    """The normal loss of the last run, in words (runs before it was configurable used 1 - cos)."""
    if config.get("normal_loss", "cosine") == "cosine":
        return "normal loss 1 - cos over the person mask"
    return f"normal loss the angle over the person mask, the face weighted x{1 + config.get('face_weight', 0):g}"


def card_row(label: str, m: dict) -> str:
    return f"| {label} | {m['normal_face_deg']:.2f} | {m['mask_iou']:.3f} | {m['shading_si_error']:.3f} |"


def write_card(estimator: PortraitModel, results: dict, folder: Path) -> None:
    """weights/<name>.md: what the model is, how it was trained, and what it scores."""
    name, meta = estimator.name, estimator.metadata
    entry = results["models"][name]
    config = meta.get("train_config") or {}
    latency = results["latency"].get(name, {})
    lines = [
        f"# Model card: `{name}`", "",
        f"- **Weights:** `{Path(entry['weights']).name}` (safetensors, float32; config in its metadata).",
        ("- **Task:** one portrait photo -> camera-frame normals, RGB shading and a person mask "
        "(albedo = photo / shading); `photonormals predict --mode single`."),
        f"- **Parameters:** {entry['params']:,}.",
        f"- **Model config:** `{json.dumps(meta.get('config'))}`",
        f"- **Working size:** {entry['input_size']}² crops around the detected face (2x the detector's box).",
        (f"- **Training:** {entry['steps']} steps, batch {config.get('batch')}, {config.get('size')} px, AdamW "
        f"with cosine decay, horizontal flips, {normal_loss_text(config)}, on "
        f"{meta.get('hardware') or 'a CPU'}, {meta.get('precision', 'fp32')} forward passes; "
        f"{runs_text(meta.get('runs'), config)} (runs resume or warm-start from the shipped weights, so the steps are "
        f"the total). `photonormals train --model {name} --size {config.get('size')}` resumes it."),
        (f"- **Data:** {meta.get('data', 'the synthetic portrait engine')}: a bank of {config.get('bank_size')} "
        "rasterised ICT-FaceKit heads (identity, expression, pose, procedural hair, shoulders; perspective camera), "
        "procedural skin albedo and gloss, light or dark clothes (suits with shirt and tie), backgrounds from HDRI "
        "backplates, textures, clutter panels and bystanders (outside the mask), lighting from Blender's bundled "
        "HDRIs / random SH / studio set-ups plus "
        "directional lights with cast shadows, subsurface-like shading blur, GGX specular, and a camera model "
        "(white balance, noise, tone curve, 8-bit sRGB, JPEG); half the frames are blurred (soft focus). No real photos."),
        "",
        *card_notes(folder / f"{name}.md"),
        f"## Metrics (same run as `{results.get('out', 'docs/portrait')}`)", "",
        "| samples | normal error in face (deg) | mask IoU | shading SI error |", "|---|---|---|---|",
    ]
    for label_, table in (("", entry["synthetic"]["plain"]), (", flip TTA", entry["synthetic"]["flip_tta"])):
        for split in ("all", "normal_framing", "tight_crop"):
            m = table.get(split)
            if m:
                lines.append(card_row(f"synthetic validation, {split.replace('_', ' ')} ({m['count']}){label_}", m))
    soft = results.get("soft_photos")
    if soft and name in soft["flip_tta"]:
        m = soft["flip_tta"][name]["all"]
        lines.append(card_row(f"synthetic validation, all ({m['count']}), flip TTA, photos blurred σ "
                              f"{soft['blur_px']:g} px", m))
    held_out = results.get("held_out_sets")
    if held_out and held_out["model"] == name:  # the number to hold a target against: one set is noisy
        m, sets = held_out["pooled"], len(held_out["per_set"])
        spread = held_out["normal_spread_deg"]
        lines.append(card_row(f"**{sets} held-out sets pooled, all ({m['count']}), flip TTA** (normal error "
                              f"{spread['min']:.2f}-{spread['max']:.2f}° by set)", m))
    if latency:
        e2e = latency["end_to_end"]
        lines += ["", (f"CPU latency ({results['threads']} thread(s), {results['machine']['cpu']}): network "
                  f"{latency['model_only_s'][str(latency['working_size'])] * 1e3:.0f} ms at {latency['working_size']}²; "
                  f"end to end {e2e['512']['total_s'] * 1e3:.0f} ms for a 512² photo, "
                  f"{e2e['1024']['total_s'] * 1e3:.0f} ms for 1024².")]
    lines += ["", ("**Limitations:** trained only on synthetic faces, for minutes to hours on a CPU; one face per "
              "photo (the largest the Haar detector finds; none found -> the whole frame); the working size limits "
              "detail, maps are upsampled into the photo; the absolute shading/albedo level is ambiguous from one "
              "photo. See `docs/portrait/README.md` for real-photo results and failure cases.")]
    (folder / f"{name}.md").write_text("\n".join(lines) + "\n")
