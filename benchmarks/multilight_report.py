"""Multi-light benchmark, the written report: docs/multilight/README.md, its plot, and the model
cards."""

from __future__ import annotations

import json
from pathlib import Path

from photonormals.inference.multilight import COARSE_SIZE, LAMBERTIAN_RESIDUAL
from reporting import card_notes

ZOOM, ZOOM_COUNTS = 3, (8, 32)  # the validation set blown up ZOOM times, scored at these counts


def resume_command(name: str, config: dict, model_config: dict) -> str:
    """The train command that continues this model with the data settings it was trained with."""
    parts = [f"photonormals train --model {name}"]
    images = config.get("images")
    if images:
        parts.append(f"--images {images[0]}-{images[1]}" if images[0] != images[1] else f"--images {images[0]}")
    if config.get("crop"):
        parts.append(f"--crop {config['crop']}")
    if (config.get("overrides") or {}).get("light_size"):
        parts.append(f"--light-size {model_config.get('light_size')}")
    return " ".join(parts)


def write_card(name: str, entry: dict, metadata: dict, folder: Path) -> None:
    """weights/<name>.md: what the model is, what it was trained on and how, and what it scores."""
    config = metadata.get("train_config") or {}
    p = entry["params"]
    syn, ball, srgb8 = entry["synthetic"], entry["ball"], entry["ball_srgb8"]
    get = lambda table, k: table.get(k, table.get(str(k)))
    lines = [
        f"# Model card: `{name}`", "",
        f"- **Weights:** `{Path(entry['weights']).name}` (safetensors, float32; config in its metadata).",
        f"- **Parameters:** {p['total']:,} ({p['light']:,} light estimation + {p['normal']:,} normal estimation).",
        f"- **Model config:** `{json.dumps(metadata.get('config'))}`",
        f"- **Training:** {entry['steps']} steps, batch {config.get('batch')}, "
        f"{config.get('images')} images per sample, {config.get('crop')} px crops, AdamW lr {config.get('lr')} "
        "with cosine decay, on a 2-core CPU (no GPU was available), "
        f"last run capped at {config.get('minutes')} minutes (runs resume or warm-start from the shipped weights, "
        f"so the steps are the total). `{resume_command(name, config, metadata.get('config') or {})}` resumes it.",
        "- **Data:** the synthetic multi-light engine only (`backend/synthetic/multilight/`): a cached bank of "
        f"{config.get('bank_size')} rasterised shapes (blobby, sculpture-like, height-field reliefs, "
        "ICT-FaceKit faces), procedural spatially varying albedo, GGX specular with varied roughness "
        "and metalness, cast shadows, an ambient term, lights over the frontal hemisphere (<= 80 deg) "
        "with per-channel intensities in [0.2, 2.0], camera noise and 8-bit sRGB / 16-bit linear / float imaging.",
        "",
        *card_notes(folder / f"{name}.md"),
        "## Metrics (same run as `docs/multilight/`)", "",
        ("As `predict` runs the model: the network plus the steps around it in `inference/multilight.py` "
         "(coarse shape pass, light fit, specular bas-relief correction)."), "",
        "| set | inputs | normal mean error | light direction error |", "|---|---|---|---|",
    ]
    big = entry.get(f"synthetic_x{ZOOM}", {})
    for label, table, ks in (("synthetic validation", syn, (2, 8, 32, 64)),
                             (f"synthetic validation at {ZOOM}x size", big, ZOOM_COUNTS),
                             ("DiLiGenT ball, 16-bit", ball, (8, 96)), ("DiLiGenT ball, 8-bit sRGB", srgb8, (8, 96))):
        for k in ks:
            row = get(table, k)
            if row is None:
                continue
            lines.append(f"| {label} | {k} | {row['normal_deg']:.2f} deg | {row['light_deg']:.2f} deg |")
    lines += ["", f"CPU latency (2 threads): {entry['latency_s']['8x128x128'] * 1e3:.0f} ms for 8 x 128², "
              f"{entry['latency_s']['9x512x612']:.2f} s for 9 x 612x512.", "",
              "**Limitations:** trained for minutes on a CPU, far from convergence (SDPS-Net trains ~46 GPU-hours); "
              "orthographic, directional lights only; intensities are relative (mean 1) and per-light colour "
              "comes from channel ratios, not from the network."]
    (folder / f"{name}.md").write_text("\n".join(lines) + "\n")


def _measured_note(models: dict) -> list[str]:
    """A line saying when each model was measured, if ``--update`` mixed runs."""
    runs = {(e.get("measured"), e.get("threads")) for e in models.values()}
    if len(runs) <= 1:
        return []
    when = "; ".join(f"{name}: {e.get('measured', 'earlier')} ({e.get('threads', '?')} threads)" for name, e in models.items())
    return [f"**Not one run:** models were re-measured separately ({when}). Compare latencies within a run only.", ""]


def write_report(results: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = results["models"]
    fig, axes = plt.subplots(2, 2, figsize=(11, 8), sharex=True)
    for (row, dataset), (col, metric) in [
        ((r, d), (c, m)) for r, d in enumerate(("synthetic", "ball")) for c, m in enumerate(("normal_deg", "light_deg"))
    ]:
        ax = axes[row][col]
        for name, entry in models.items():
            ks = sorted(int(k) for k in entry[dataset])
            ax.plot(ks, [entry[dataset][k if k in entry[dataset] else str(k)][metric] for k in ks], "o-", label=name)
        ax.set_xscale("log", base=2)
        ax.set_title(f"{'synthetic validation' if dataset == 'synthetic' else 'DiLiGenT ball'}: "
                     f"{'normal mean error' if metric == 'normal_deg' else 'light direction error'} (deg)")
        ax.set_xlabel("input images")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / "error_vs_inputs.png", dpi=110)

    measured = _measured_note(models)
    lines = ["# Multi-light models: error versus number of inputs", "",
             f"{'Separate runs' if measured else 'One run'}, CPU, {results['threads']} threads, "
             f"torch {results['torch']}. "
             "Reproduce with `python benchmarks/multilight.py --weights ...` (see its docstring).", "",
             *measured,
             "![error vs inputs](error_vs_inputs.png)", "",
             "| model | params (light + normal) | train steps | latency 8x128² | latency 9x612x512 |",
             "|---|---|---|---|---|"]
    for name, e in models.items():
        p = e["params"]
        lines.append(f"| {name} | {p['total'] / 1e6:.2f} M ({p['light'] / 1e6:.2f} + {p['normal'] / 1e6:.2f}) "
                     f"| {e['steps']} | {e['latency_s']['8x128x128'] * 1e3:.0f} ms | {e['latency_s']['9x512x612']:.2f} s |")
    for dataset, title in (("synthetic", "Synthetic validation (24 unseen shapes, mean over samples)"),
                           (f"synthetic_x{ZOOM}", f"Synthetic validation blown up {ZOOM}x (large objects)"),
                           ("ball", "DiLiGenT ball (real, 16-bit, 141 px across), uncalibrated")):
        if not all(dataset in e for e in models.values()):
            continue
        ks = sorted({int(k) for e in models.values() for k in e[dataset]})
        lines += ["", f"## {title}", "", "| model | metric | " + " | ".join(str(k) for k in ks) + " |",
                  "|---|---|" + "---|" * len(ks)]
        for name, e in models.items():
            for metric, label in (("normal_deg", "normal (deg)"), ("light_deg", "light dir (deg)"),
                                  ("ls_on_estimated_lights_deg", "LS normals on its lights (deg)")):
                cells = [e[dataset].get(k, e[dataset].get(str(k), {})).get(metric) for k in ks]
                if all(c is None for c in cells):
                    continue
                lines.append(f"| {name} | {label} | " + " | ".join("—" if c is None else f"{c:.2f}" for c in cells) + " |")
    lines += ["", "## DiLiGenT ball, inputs re-encoded as 8-bit sRGB", "", "| model | images | normal (deg) | light dir (deg) |", "|---|---|---|---|"]
    for name, e in models.items():
        for k, row in e["ball_srgb8"].items():
            lines.append(f"| {name} | {k} | {row['normal_deg']:.2f} | {row['light_deg']:.2f} |")
    for name, e in models.items():
        if "ablation" not in e:
            continue
        lines += ["", f"## What the steps around the network add (`{name}`, the shipped model, DiLiGenT ball)", "",
                  "Inference runs the network twice on large objects, on the full-resolution crop and at "
                  f"{COARSE_SIZE} px, where the object is as big as the training shapes, and keeps the overall "
                  "shape of the second and the detail of the first; then it refits the lights to the normals by "
                  "least squares and keeps that fit when it explains the photos (Lambertian residual < "
                  f"{LAMBERTIAN_RESIDUAL}). When it does and at least four photos show a highlight, the highlights "
                  "fix the bas-relief ambiguity that the fitted lights share with the network's normals, and the "
                  "normals become least squares on the corrected lights. The synthetic set's objects are small "
                  "enough for one pass, and few of its glossy, shadowed renders pass the fit's check, so the ball "
                  "shows the effect best.", "",
                  "| inference | normal, 8 images | light, 8 | normal, 96 | light, 96 |", "|---|---|---|---|---|"]
        for label, rows in e["ablation"].items():
            r8, r96 = rows.get(8, rows.get("8")), rows.get(96, rows.get("96"))
            lines.append(f"| {label} | {r8['normal_deg']:.2f} | {r8['light_deg']:.2f} | {r96['normal_deg']:.2f} "
                         f"| {r96['light_deg']:.2f} |")
    (out / "README.md").write_text("\n".join(lines) + "\n")
