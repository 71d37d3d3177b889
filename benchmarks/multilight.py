"""Multi-light benchmark: the source paper's Tables 1-2 (error vs number of inputs) for our models.

    python benchmarks/multilight.py [--weights FILE ...] --out docs/multilight

``--weights`` defaults to every shipped model of the registry's multilight task.

Runs every model on the same inputs in one process: the fixed synthetic validation set
(24 unseen shapes x 64 lights) and the real DiLiGenT ball (`../shared/data/diligent_ball`), for
1, 2, 4, 8, 16, 32 and 64 inputs (and 96 on the ball), plus parameter counts and CPU latency.
The validation set is also scored blown up 3x (objects ~250 px across instead of ~85 px), as
real photos show objects at hundreds of pixels.
Writes results.json, a Markdown report and plots.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from photonormals.errors import UserError
from photonormals.evaluation.diligent import load_dataset, spread_indices
from photonormals.evaluation.lights import direction_errors
from photonormals.evaluation.metrics import angular_errors
from photonormals.inference.multilight import COARSE_SIZE, LAMBERTIAN_RESIDUAL, MultiLightModel
from photonormals.models.registry import MULTILIGHT, list_models, model_spec
from photonormals.models.weights import shipped_weights, weights_dir
from photonormals.io.colorspace import reencode_srgb8
from photonormals.photometric.calibrated import solve_calibrated
from photonormals.predict import load_image_set
from photonormals.synthetic.multilight.validation import validation_set
from reporting import card_notes

COUNTS = (1, 2, 4, 8, 16, 32, 64)
ZOOM, ZOOM_COUNTS = 3, (8, 32)
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def parameter_counts(model) -> dict:
    def count(module):
        return sum(p.numel() for p in module.parameters())

    total = count(model)
    light = sum(count(m) for name, m in model.named_children() if name.startswith(("lcnet", "light")))
    return {"total": total, "light": light, "normal": total - light}


def latency(estimator, k, h, w, repeats=3) -> float:
    images = np.random.default_rng(0).uniform(0, 1, (k, h, w, 3)).astype(np.float32)
    mask = np.ones((h, w), bool)
    estimator.estimate(images, mask)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        estimator.estimate(images, mask)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def synthetic_scores(estimator, val, counts) -> dict:
    rows = {}
    for k in counts:
        normal_errors, light_errors = [], []
        for i in range(len(val["images"])):
            images = val["images"][i, :k].astype(np.float32).transpose(0, 2, 3, 1)
            mask = val["mask"][i, 0]
            est = estimator.estimate(images, mask)
            truth = val["normals"][i].transpose(1, 2, 0)
            normal_errors.append(angular_errors(est.normals, truth, mask).mean())
            light_errors.append(direction_errors(est.light_dirs, val["light_dirs"][i, :k]).mean())
        rows[k] = {"normal_deg": float(np.mean(normal_errors)), "light_deg": float(np.mean(light_errors))}
    return rows


def zoomed(val: dict, factor: int) -> dict:
    """The validation set blown up ``factor`` times: bicubic images and normals, bilinear mask."""
    up = lambda t, mode: torch.nn.functional.interpolate(t, scale_factor=factor, mode=mode, align_corners=False)
    n, k = val["images"].shape[:2]
    images = up(torch.from_numpy(val["images"]).float().flatten(0, 1), "bicubic").clamp_min(0)
    normals = torch.nn.functional.normalize(up(torch.from_numpy(val["normals"]).float(), "bicubic"), dim=1)
    mask = up(torch.from_numpy(val["mask"]).float(), "bilinear") > 0.5
    return {**val, "images": images.unflatten(0, (n, k)).numpy(), "normals": (normals * mask).numpy(),
            "mask": mask.numpy()}


def ball_scores(estimator, dataset, stack, counts, encode=None) -> dict:
    rows = {}
    for k in counts:
        index = spread_indices(len(stack), k)
        images = stack[index]
        if encode == "srgb8":
            images = reencode_srgb8(images)
        est = estimator.estimate(images, dataset.mask)
        rows[k] = {
            "normal_deg": float(angular_errors(est.normals, dataset.normal_gt, dataset.mask).mean()),
            "light_deg": float(direction_errors(est.light_dirs, dataset.directions[index]).mean()),
            # Robust least squares on the network's lights: the hybrid a caller can opt into.
            "ls_on_estimated_lights_deg": _ls_error(images, est, dataset) if k >= 3 else None,
        }
    return rows


def ablation(path, dataset, stack, shipped_rows: dict) -> dict:
    """The shipped model on the ball without the steps around the network (see
    `inference.multilight`): the full-resolution pass alone, and the network's own lights.
    ``shipped_rows`` are its ball scores as shipped, already measured."""
    settings = {"network alone": {"coarse_size": None, "fit_lights": False},
                "+ coarse shape pass": {"fit_lights": False},
                "+ light fit": {"specular_gbr": False}}
    rows = {label: ball_scores(MultiLightModel(path, "cpu", **kw), dataset, stack, (8, 96))
            for label, kw in settings.items()}
    return {**rows, "+ specular GBR (as shipped)": {k: shipped_rows[k] for k in (8, 96)}}


def _ls_error(images, est, dataset) -> float | None:
    try:
        result = solve_calibrated(images, est.light_dirs, est.light_ints, dataset.mask)
    except UserError:  # e.g. estimated lights too close to coplanar
        return None
    errors = angular_errors(result.normals, dataset.normal_gt, dataset.mask)
    errors[~result.mask[dataset.mask]] = 90.0
    return float(errors.mean())


def shipped_files() -> list[Path]:
    """The weights folder's file of each multi-light model the registry ships, in its order."""
    specs = (model_spec(name) for name in list_models(MULTILIGHT))
    return [weights_dir() / spec.weights for spec in specs if spec.weights]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", nargs="+", type=Path, default=shipped_files(),
                        help="weight files (default: every shipped multi-light model)")
    parser.add_argument("--out", type=Path, default=Path("docs/multilight"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cards", type=Path, help="also write a model card per model into this folder")
    parser.add_argument("--update", action="store_true",
                        help="keep the other models' entries of an existing results.json (re-measure some models "
                             "only; the report says when each was measured)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)

    val = validation_set(faces=SHARED / "faces" / "ict_facekit.npz")
    val_zoomed = zoomed(val, ZOOM)
    ball = load_dataset(SHARED / "diligent_ball")
    stack, _ = load_image_set(ball.images)
    results = {"threads": args.threads, "torch": torch.__version__, "models": {}}
    if args.update and (args.out / "results.json").is_file():
        results["models"] = json.loads((args.out / "results.json").read_text())["models"]
    shipped = shipped_weights(MULTILIGHT).resolve()
    for path in args.weights:
        estimator = MultiLightModel(path, "cpu")
        name = estimator.name
        print(f"== {name} ({path})", flush=True)
        entry = {
            "weights": str(path),
            "measured": time.strftime("%Y-%m-%d %H:%M"),
            "threads": args.threads,
            "steps": estimator.metadata.get("steps"),
            "params": parameter_counts(estimator.model),
            "latency_s": {"8x128x128": latency(estimator, 8, 128, 128),
                          "9x512x612": latency(estimator, 9, 512, 612, repeats=1)},
            "synthetic": synthetic_scores(estimator, val, COUNTS),
            f"synthetic_x{ZOOM}": synthetic_scores(estimator, val_zoomed, ZOOM_COUNTS),
            "ball": ball_scores(estimator, ball, stack, COUNTS + (96,)),
            "ball_srgb8": ball_scores(estimator, ball, stack, (8, 96), encode="srgb8"),
        }
        if path.resolve() == shipped:
            entry["ablation"] = ablation(path, ball, stack, entry["ball"])
        results["models"][name] = entry
        print(json.dumps({k: v for k, v in entry.items() if k in ("params", "latency_s")}), flush=True)
        (args.out / "results.json").write_text(json.dumps(results, indent=2))
    write_report(results, args.out)
    if args.cards:
        for name, entry in results["models"].items():
            write_card(name, entry, MultiLightModel(Path(entry["weights"]), "cpu").metadata, args.cards)


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


if __name__ == "__main__":
    main()
