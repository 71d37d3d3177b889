"""Material benchmark, writing: docs/material/README.md and the model card, from results.json."""

from __future__ import annotations

import json
from pathlib import Path

from photonormals.models.weights import read_metadata
from photonormals.synthetic.material.geometry import FAMILIES
from reporting import NOTES_END, NOTES_START, kept_section

FINDINGS_START, FINDINGS_END = "<!-- findings:start -->", "<!-- findings:end -->"


def _scores_table(scores: dict) -> list[str]:
    lines = [
        "| family | n | normal error (deg) | flat guess (deg) | better than flat | luminance as height (deg) | height error after best scale (flat: 1) | albedo shading-leak (photo / true albedo) | roughness MAE (constant 0.6) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    rows = [(f, scores["per_family"][f]) for f in FAMILIES if f in scores["per_family"]]
    rows.append(("**all**", scores["pooled"]))
    for name, r in rows:
        gain = r["flat_deg"] - r["normal_deg"]
        lines.append(
            f"| {name} | {r['n']} | {r['normal_deg']:.2f} | {r['flat_deg']:.2f} | "
            f"{gain:+.2f} | {r.get('luma_deg', float('nan')):.2f} | {r['height_error']:.3f} | {r['leak']:.3f} ({r['leak_photo']:.3f} / "
            f"{r['leak_true']:.3f}) | {r['roughness_mae']:.3f} ({r['roughness_guess_mae']:.3f}) |")
    return lines


def write_report(results: dict, path: Path) -> None:
    model = results.get("model", {})
    m = results.get("machine", {})
    lines = [
        "# Material mode: measurements",
        "",
        "`photonormals predict --mode material [--seamless] PHOTO` turns one photo of a nearly flat "
        "surface into `normal`, `height`, `albedo`, `roughness` (and `shading`) maps; several photos "
        "of the surface under different lamps go through photometric stereo with the surface prior "
        "instead. Written by `python benchmarks/material.py --out docs/material --card "
        "weights/material.md`.",
        "",
        f"Model: `{model.get('name')}` ({model.get('parameters', 0):,} parameters, "
        f"{model.get('steps')} training steps), `{results.get('weights')}`. Machine: "
        f"{m.get('cpu')}, {m.get('cores')} cores, load average {m.get('load_average_at_start')} "
        "at the start (the machine was shared with other training jobs: timings are pessimistic).",
        "",
    ]
    if "scores" in results:
        s = results["scores"]
        lines += [
            f"## Held-out synthetic surfaces ({s['count']}, rendered by the engine with a seed no "
            "training run draws)",
            "",
            "Every number is as `predict` runs the model (exposure, one pass or tiles, height "
            "integration). The flat guess answers (0, 0, 1) everywhere; a height of zeros scores 1. "
            "Shading-leak is the correlation of the albedo's log-luminance with the true shading's: "
            "0 means no light left in the albedo; the photo itself (as if taken for the albedo) and "
            "the true albedo are given for scale.",
            "",
            *_scores_table(s),
            "",
        ]
    if "scores" in results and "luma_strength" in results["scores"]:
        lines += [
            "*Luminance as height*: the classical reference (Materialize, CrazyBump): height = the "
            "photo's band-passed log-luminance, bright = high, at the one strength "
            f"({results['scores']['luma_strength']} px per unit) that scores best pooled on this "
            "very set (an optimistic reference: a user tunes it by eye).",
            "",
        ]
    if "scores_up" in results:
        s = results["scores_up"]
        lines += [
            f"### The same families lit from the image's upper side ({s['count']} surfaces)",
            "",
            "Rendered as above with another seed, but every HDRI turned at most 45 deg from "
            "upright and every lamp within 60 deg of the image's up (`light_up=1`): the light "
            "most surface photos have (a wall under the sky, a lamp above), and the prior the "
            "model is trained with (90 % of its samples). Under light from every side alike, one "
            "photo leaves the relief's sign in doubt (a bump lit from the left is a dent lit from "
            "the right): the table above.",
            "",
            *_scores_table(s),
            "",
        ]
    if "light_sides" in results:
        ls = results["light_sides"]
        lines += [
            f"### Light from other sides: `--light-from` ({ls['count']} surfaces, "
            f"{ls['size']} px)",
            "",
            "The set above, each surface turned by quarter turns, photo and true normals together, so its light "
            "comes from the left, right or bottom. The engine draws every pattern's orientation "
            "from the four quarter turns, so a turned surface is one it would render lit from that "
            "side. Predicted with the matching `--light-from` (the photo turned back for the "
            "model), as if lit from the top (the default), and with the opposite side (a wrong "
            "pick).",
            "",
            "| light comes from | matching `--light-from` (deg) | as if from the top (deg) | "
            "opposite side (deg) | flat guess (deg) |",
            "|---|---|---|---|---|",
            *[f"| {side} | {r['matched_deg']:.2f} | {r['as_top_deg']:.2f} | "
              f"{r['opposite_deg']:.2f} | {r['flat_deg']:.2f} |"
              for side, r in ls.items() if isinstance(r, dict)],
            "",
        ]
    if "light_auto" in results:
        la = results["light_auto"]
        lines += [
            f"### The light's side detected: `--light-from auto` ({la['count']} surfaces x 4 "
            f"sides, {la['size']} px)",
            "",
            "The same turned set. The light-side detector (`weights/light_side.md`) picks a side "
            "for each turned photo (its best side at even odds or more, else top) and the model "
            "reads it as lit from there; the normal error with that pick, with top (the default "
            "before auto), with the matching side (a user who says) and of the flat guess. "
            "*detected right*: the pick is the side the set was turned to (the engine's light "
            "spreads 45-60 deg around it). *all sides*: a photo lit from a side nobody gave.",
            "",
            "| light comes from | detected right | auto (deg) | top (deg) | matching side (deg) "
            "| flat guess (deg) |",
            "|---|---|---|---|---|---|",
            *[f"| {side} | {r['correct']:.0%} | {r['auto_deg']:.2f} | {r['top_deg']:.2f} | "
              f"{r['matched_deg']:.2f} | {r['flat_deg']:.2f} |"
              for side, r in [*((s, la[s]) for s in ("top", "left", "right", "bottom")),
                              ("all sides", la["pooled"])]],
            "",
            "Per lighting kind (all sides; sky: the HDRI alone, soft light from everywhere; "
            "lamp: a lamp in a dim room or the flash):",
            "",
            "| light | photos | detected right | auto (deg) | top (deg) | matching side (deg) | "
            "flat guess (deg) |",
            "|---|---|---|---|---|---|---|",
            *[f"| {kind} | {r['n']} | {r['correct']:.0%} | {r['auto_deg']:.2f} | "
              f"{r['top_deg']:.2f} | {r['matched_deg']:.2f} | {r['flat_deg']:.2f} |"
              for kind, r in la["per_light"].items()],
            "",
        ]
    if "light_auto_any" in results:
        la = results["light_auto_any"]
        lines += [
            f"### `--light-from auto` on light from any direction ({la['count']} surfaces)",
            "",
            "The first set (light drawn from every direction alike, not turned): the photos a "
            "user gives without saying where the light is.",
            "",
            "| light | photos | auto (deg) | top (deg) | flat guess (deg) | picked top / left / "
            "right / bottom |",
            "|---|---|---|---|---|---|",
            *[f"| {kind} | {r['n']} | {r['auto_deg']:.2f} | {r['top_deg']:.2f} | "
              f"{r['flat_deg']:.2f} | {r['picked_top']:.0%} / {r['picked_left']:.0%} / "
              f"{r['picked_right']:.0%} / {r['picked_bottom']:.0%} |"
              for kind, r in [*la["per_light"].items(), ("all", la["pooled"])]],
            "",
        ]
    if "seams" in results:
        sc = results["seams"]
        lines += [
            f"## Seams (median over {sc['n']} held-out photos)",
            "",
            "Seam score: the mean jump across the wrap-around (last column to first, last row to "
            "first) over the mean jump between neighbouring pixels inside; about 1 is invisible.",
            "",
            "| map | plain | `--seamless` |",
            "|---|---|---|",
            *[f"| {name} | {sc[f'{name}_plain']:.2f} | {sc[f'{name}_seamless']:.2f} |"
              for name in ("albedo", "normal", "height", "roughness")],
            f"| (the photo itself) | {sc['photo']:.2f} | |",
            "",
        ]
    if "multilight" in results:
        ml = results["multilight"]
        lines += [
            "## Several lamp-lit photos of one surface against one photo",
            "",
            "Two surfaces per family (192 px), each photographed K times with a lamp moved around "
            "it (30-60 deg above the surface, at 0.6-10 frame widths, in a dim room), one exposure "
            "for the set, 8-bit sRGB. *Multi-light*: the shipped multi-light model (lights "
            "unknown) and the surface prior (mean tilt and bends wider than 1/8 of the frame "
            "removed); *calibrated*: robust least squares on the lamps' directions to the frame's "
            "centre (their intensities unknown and taken as equal, and the lamps' nearness "
            "ignored) with the same prior; *single*: the material model on the set's first photo.",
            "",
            "| photos | multi-light (deg) | calibrated (deg) | single photo (deg) | flat guess (deg) |",
            "|---|---|---|---|---|",
            *[f"| {k} | {r['multi_deg']:.2f} | {r['calibrated_deg']:.2f} | {r['single_deg']:.2f} "
              f"| {r['flat_deg']:.2f} |" for k, r in ml.items()],
            "",
        ]
    if "latency" in results:
        lat = results["latency"]
        lines += [
            "## Time and memory (CPU, end to end)",
            "",
            "`predict` + writing every map, the model loaded once (as the service keeps it); each "
            "size in its own process, so the peak resident memory is its own (Python, torch and the "
            "model included).",
            "",
            "| photo | tiles | seconds | network (s) | height (s) | writing (s) | peak memory (MB) |",
            "|---|---|---|---|---|---|---|",
            *[f"| {side}² | {r['tiles']} | {r['seconds']:.2f} | "
              f"{r['timings'].get('network_s', 0):.2f} | {r['timings'].get('height_s', 0):.2f} | "
              f"{r['timings'].get('write_s', 0):.2f} | {r['peak_rss_mb']:.0f} |"
              for side, r in lat.items()],
            "",
        ]
    if "gallery" in results:
        lines += [
            "## Real photos",
            "",
            "scikit-image's bundled surface photos (public domain; grey), `--seamless`: photo, "
            "normal, height, albedo, relit under Blender's courtyard and interior HDRIs, and the "
            "normal map tiled 2 x 2. There is no ground truth for these; they show what the model "
            "does with real texture (mean tilt of the normals in brackets).",
            "",
            *[f"![{g['photo']}]({g['file']}) {g['photo']} ({g['mean_tilt_deg']} deg)\n"
              for g in results["gallery"]],
        ]
    findings = kept_section(path, FINDINGS_START, FINDINGS_END, "(findings written by hand)")
    lines += ["## Findings", "", findings, ""]
    path.write_text("\n".join(lines))


def write_card(results: dict, weights: Path, card: Path) -> None:
    meta = read_metadata(weights)
    config = meta["config"]
    train = meta.get("train_config", {})
    runs = meta.get("runs", [])
    pooled = results.get("scores", {}).get("pooled", {})
    lat = results.get("latency", {})
    notes = kept_section(card, NOTES_START, NOTES_END, "- (none yet)")
    lines = [
        f"# Model card: `{config['name']}`",
        "",
        f"- **Weights:** `{weights.name}` (safetensors, float32; config in its metadata).",
        "- **Task:** one photo of a nearly flat surface -> normals in the surface's frame, grey "
        "log-shading (albedo = photo / shading) and GGX roughness; height by integrating the "
        "normals; `photonormals predict --mode material`.",
        f"- **Parameters:** {results.get('model', {}).get('parameters', 0):,}.",
        f"- **Model config:** `{json.dumps(config)}`",
        f"- **Training:** {meta.get('steps')} steps in {len(runs)} run(s), batch "
        f"{train.get('batch')}, {train.get('size')} px crops, AdamW with cosine decay, on "
        f"{meta.get('hardware')}, {meta.get('precision')} forward passes. Runs: "
        + "; ".join(f"{r['from_step']}->{r['to_step']} (lr {r['lr']}, {r['minutes']} min cap)"
                    for r in runs) + ".",
        f"- **Data:** {meta.get('data')}: {len(FAMILIES)} relief families "
        f"({', '.join(FAMILIES)}), albedo loosely tied to the relief under patterns that ignore "
        "it, the bundled HDRIs under random 3-D rotations and a lamp at a finite distance with "
        "cast shadows, GGX speculars, vignetting, perspective, lens blur, noise, 8-bit sRGB, "
        "JPEG"
        + (f"; {train['light_up']:.0%} of the samples lit from the image's upper side (HDRI "
           "within 45 deg of upright, lamp within 60 deg of up)" if train.get("light_up") else "")
        + ". No real photos.",
        "",
        notes,
        "",
        "## Metrics (same run as `docs/material`)",
        "",
    ]
    if pooled:
        lines += [
            f"Held-out synthetic surfaces ({pooled['n']}): normal error {pooled['normal_deg']:.2f} "
            f"deg against the flat guess's {pooled['flat_deg']:.2f}; height error after best scale "
            f"{pooled['height_error']:.3f} (flat: 1); albedo shading-leak {pooled['leak']:.3f} "
            f"(the photo: {pooled['leak_photo']:.3f}); roughness MAE {pooled['roughness_mae']:.3f} "
            f"(a constant: {pooled['roughness_guess_mae']:.3f}). Per family in "
            "`docs/material/README.md`.",
            "",
        ]
    up = results.get("scores_up", {}).get("pooled", {})
    if up:
        lines += [
            f"Lit from the image's upper side ({up['n']}): normal error {up['normal_deg']:.2f} deg "
            f"against the flat guess's {up['flat_deg']:.2f} and luminance-as-height's "
            f"{up.get('luma_deg', float('nan')):.2f}; height error {up['height_error']:.3f}.",
            "",
        ]
    if lat:
        lines += ["CPU end to end: " + ", ".join(
            f"{side}² {r['seconds']:.2f} s ({r['peak_rss_mb']:.0f} MB peak)"
            for side, r in lat.items()) + ".", ""]
    lines += [
        "**Limitations:** trained on synthetic surfaces only, on a shared 2-core CPU; reads "
        "relief from one photo's shading, so a surface lit flat from the front (a flash) carries "
        "little to read; the albedo keeps the light's colour (one photo cannot tell a warm light "
        "from a warm wall); roughness from one photo is a weak guess.",
        "",
    ]
    card.write_text("\n".join(lines))

