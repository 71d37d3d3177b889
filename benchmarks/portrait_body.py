"""Portrait networks on held-out upper bodies: the whole-frame pass's job (issue 31, item 3).

    python benchmarks/portrait_body.py [--weights FILE ...] [--count 48] [--threads 1]

Held-out body-framed portraits (`synthetic.portrait.geometry`, framing "body": trunk, arms,
hands, clothing; a bank seed no training run uses) are cut into windows of the network's
working size around the person (`PortraitBatches(window=True)`: the scale at which predict's
whole-frame pass sees a body) and lit, backed and photographed as training samples are, from a
fixed seed. Each network runs as predict runs it (exposure normalisation, no flip average).
Prints per model: mean normal error (deg) over the person, over its body (person but not
face) and over the face where a window shows one, and the mask IoU of the network's own mask.

Then the same portraits as whole frames (256 px) through the whole pipeline
(`PortraitModel.estimate`: face detector, whole-frame pass, face passes, person segmentation):
normal error inside the true person mask, and the IoU of the written mask with it (issue 31's
target: >= 0.9 on full-frame synthetic renders); the segmentation's own IoU beside it. Frames
with another person behind (not in the true mask) are included, as the engine draws them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from photonormals.evaluation.metrics import angular_errors
from photonormals.inference import person
from photonormals.inference.portrait import PortraitModel
from photonormals.models.portrait import normalise_portrait_exposure
from photonormals.models.registry import PORTRAIT
from photonormals.relight.envmap import bundled_hdris, load_hdri
from photonormals.synthetic.portrait.bank import cached_bank
from photonormals.synthetic.portrait.batches import PortraitBatches
from reporting import shipped_files

FACES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "faces" / "ict_facekit.npz"
BANK_SEED = 9101  # held out: training banks use small seeds
BANK_PX = 256  # the held-out bodies' render size, as training's body banks


def rendered(count: int, size: int, window: bool, seed: int) -> dict:
    """``count`` held-out body portraits lit and photographed as training samples are: windows
    of ``size`` px around the person, or (``window`` False, ``size`` the bank's) whole frames."""
    envs = [load_hdri(path) for path in bundled_hdris().values()]
    bank = cached_bank(count, BANK_PX, BANK_SEED, FACES, framing="body")
    batches = PortraitBatches(bank, envs, size=size, window=window)
    g = torch.Generator().manual_seed(seed)
    parts = [batches.sample(8, g) for _ in range((count + 7) // 8)]
    return {k: torch.cat([p[k] for p in parts])[:count] for k in parts[0]}


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def pipeline_scores(model: PortraitModel, frames: dict) -> dict:
    errors, face_errors, ious, seg_ious = [], [], [], []
    for i in range(len(frames["image"])):
        image = frames["image"][i].permute(1, 2, 0).numpy().astype(np.float32)
        truth = frames["normal"][i].permute(1, 2, 0).numpy()
        mask, face = frames["mask"][i, 0].numpy() > 0.5, frames["face"][i, 0].numpy() > 0.5
        estimate = model.estimate(image)
        errors.append(angular_errors(estimate.normals, truth, mask & ~face).mean())
        if face.any():
            face_errors.append(angular_errors(estimate.normals, truth, face).mean())
        ious.append(iou(estimate.mask, mask))
        seg_ious.append(iou(person.segment_person(image) > 0.5, mask))
    return {"body": float(np.mean(errors)), "face": float(np.mean(face_errors)),
            "mask_iou": float(np.mean(ious)), "segmentation_iou": float(np.mean(seg_ious))}


def scores(model: PortraitModel, data: dict) -> dict:
    image, _ = normalise_portrait_exposure(data["image"])
    with torch.inference_mode():
        out = model.model(image)
    truth, mask, face = data["normal"], data["mask"][:, 0] > 0.5, data["face"][:, 0] > 0.5
    cos = (torch.nn.functional.normalize(out["normal"].float(), dim=1) * truth).sum(1)
    error = torch.rad2deg(torch.acos(cos.clamp(-1, 1)))
    predicted = out["mask_logits"][:, 0] > 0
    iou = (predicted & mask).sum() / (predicted | mask).sum().clamp_min(1)
    return {"person": float(error[mask].mean()), "body": float(error[mask & ~face].mean()),
            "face": float(error[face].mean()) if face.any() else float("nan"),
            "mask_iou": float(iou)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, nargs="+")
    parser.add_argument("--count", type=int, default=48)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    weights = args.weights or shipped_files(PORTRAIT)[:1]
    print("Body windows, the network alone:\n")
    print("| weights | person (deg) | body | face | mask IoU |")
    print("|---|---|---|---|---|")
    data = {}
    for path in weights:
        model = PortraitModel(path, runtime="torch")
        if model.size not in data:
            data[model.size] = rendered(args.count, model.size, window=True, seed=0)
        row = scores(model, data[model.size])
        print(f"| {Path(path).name} | {row['person']:.2f} | {row['body']:.2f} | "
              f"{row['face']:.2f} | {row['mask_iou']:.3f} |", flush=True)
    print("\nWhole frames, the whole pipeline:\n")
    print("| weights | body (deg) | face | written mask IoU | segmentation IoU |")
    print("|---|---|---|---|---|")
    frames = rendered(args.count, BANK_PX, window=False, seed=1)
    for path in weights:
        row = pipeline_scores(PortraitModel(path, runtime="torch"), frames)
        print(f"| {Path(path).name} | {row['body']:.2f} | {row['face']:.2f} | "
              f"{row['mask_iou']:.3f} | {row['segmentation_iou']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
