"""Portrait networks on held-out upper bodies: the whole-frame pass's job (issue 31, item 3).

    python benchmarks/portrait_body.py [--weights FILE ...] [--count 48] [--threads 1]

Held-out body-framed portraits (`synthetic.portrait.geometry`, framing "body": trunk, arms,
hands, clothing; a bank seed no training run uses) are cut into windows of the network's
working size around the person (`PortraitBatches(window=True)`: the scale at which predict's
whole-frame pass sees a body) and lit, backed and photographed as training samples are, from a
fixed seed. Each network runs as predict runs it (exposure normalisation, no flip average).
Prints per model: mean normal error (deg) over the person, over its body (person but not
face) and over the face where a window shows one, and the mask IoU of the network's own mask.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from photonormals.inference.portrait import PortraitModel
from photonormals.models.portrait import normalise_portrait_exposure
from photonormals.models.registry import PORTRAIT
from photonormals.relight.envmap import bundled_hdris, load_hdri
from photonormals.synthetic.portrait.bank import cached_bank
from photonormals.synthetic.portrait.batches import PortraitBatches
from reporting import shipped_files

FACES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "faces" / "ict_facekit.npz"
BANK_SEED = 9101  # held out: training banks use small seeds


def held_out(count: int, size: int, bank_size: int = 256) -> dict:
    envs = [load_hdri(path) for path in bundled_hdris().values()]
    bank = cached_bank(count, bank_size, BANK_SEED, FACES, framing="body")
    batches = PortraitBatches(bank, envs, size=size, window=True)
    g = torch.Generator().manual_seed(0)
    parts = [batches.sample(8, g) for _ in range((count + 7) // 8)]
    return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}


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
    print("| weights | person (deg) | body | face | mask IoU |")
    print("|---|---|---|---|---|")
    data = {}
    for weights in args.weights or shipped_files(PORTRAIT)[:1]:
        model = PortraitModel(weights, runtime="torch")
        size = model.size
        if size not in data:
            data[size] = held_out(args.count, size)
        row = scores(model, data[size])
        print(f"| {Path(weights).name} | {row['person']:.2f} | {row['body']:.2f} | "
              f"{row['face']:.2f} | {row['mask_iou']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
