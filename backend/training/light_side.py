"""Train the light-side network (`models.light_side`) on the material engine's photos.

    python -m photonormals.training.light_side --out weights/light_side.safetensors \\
        [--seeds 200-214] [--minutes 6] [--threads 1]

Photos: the engine's held-out-style renders (`validation.render_set`, ``count`` per family) lit
from the image's upper side (``light_up=1``: the HDRI within UP_ROLL of upright, the lamp within
UP_AZIMUTH of up) at RENDER px, shrunk to the network's SIZE as inference shrinks a photo, kept
as luminance (the network reads nothing else). Every label is "top" (no turn): the network
scores a photo's four quarter turns, so a photo lit from another side is one of these turned.
Augmented with left-right mirrors (still lit from the top), random crops and a contrast power.
Held out: photos rendered with another seed (VAL_SEED), scored as the steps go.

Seeds here are `render_set` seeds (its generator: validation.SEED + seed), apart from the
benchmark's set (seed 0) and from the material trainer's (seed * 1_000_003 + step).
Not wired into `photonormals train` (a helper of the material task, `registry.HELPER_TASKS`).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..models.light_side import LUMA, SIZE
from ..models.registry import create_model
from ..models.weights import save_weights
from ..synthetic.cache import CACHE_DIR, arrays_tag, load_arrays, save_arrays

RENDER = 256  # px rendered before the shrink: the camera's noise and blur at a photo's scale
PER_FAMILY = 10  # photos of each family per seed
VAL_SEED = 101
CROP = 112  # px of SIZE taken per training sample


def render_luminance(seed: int, envs, count: int = PER_FAMILY) -> np.ndarray:
    """(N, SIZE, SIZE) float32 luminance of ``count`` top-lit photos per family, cached."""
    from ..synthetic.material.validation import render_set

    path = Path(CACHE_DIR) / f"light_side_v1_n{count}_seed{seed}_{arrays_tag(envs)}.npz"
    if path.is_file():
        return load_arrays(path)["luminance"]
    photos = render_set(count, RENDER, seed, envs, light_up=1.0)["image"].astype(np.float32)
    luminance = np.einsum("nchw,c->nhw", photos, np.asarray(LUMA, np.float32))
    small = np.stack([cv2.resize(x, (SIZE, SIZE), interpolation=cv2.INTER_AREA)
                      for x in luminance])
    save_arrays(path, {"luminance": small})
    return small


def augment(luminance: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """(B, SIZE, SIZE) -> (B, 3, CROP, CROP) grey photos, still lit from their top."""
    B = luminance.shape[0]
    y, x = (torch.randint(0, SIZE - CROP + 1, (2,), generator=g)).tolist()
    out = luminance[:, y:y + CROP, x:x + CROP]
    mirror = torch.rand(B, generator=g) < 0.5
    out = torch.where(mirror[:, None, None], out.flip(-1), out)
    power = torch.exp((torch.rand(B, 1, 1, generator=g) - 0.5) * 2 * math.log(1.4))
    out = out.clamp_min(0) ** power
    return out[:, None].expand(-1, 3, -1, -1)


def accuracy(model, luminance: torch.Tensor) -> tuple[float, float]:
    """(share of photos whose top wins, mean loss) on whole SIZE px photos."""
    with torch.inference_mode():
        logits = model(luminance[:, None].expand(-1, 3, -1, -1))["logits"]
        labels = torch.zeros(len(logits), dtype=torch.long)
        return (float((logits.argmax(1) == 0).float().mean()),
                float(F.cross_entropy(logits, labels)))


def train(train_photos: np.ndarray, val_photos: np.ndarray, minutes: float, batch: int = 32,
          lr: float = 2e-3, seed: int = 0, log=print):
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    model = create_model("light_side")
    photos, val = torch.from_numpy(train_photos), torch.from_numpy(val_photos)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    start, step, history = time.perf_counter(), 0, []
    labels = torch.zeros(batch, dtype=torch.long)
    while (elapsed := time.perf_counter() - start) < minutes * 60:
        fraction = elapsed / (minutes * 60)  # cosine decay over the wall-time budget
        for group in optimizer.param_groups:
            group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * fraction))
        model.train()
        pick = torch.randint(0, len(photos), (batch,), generator=g)
        loss = F.cross_entropy(model(augment(photos[pick], g))["logits"], labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        step += 1
        if step % 100 == 0:
            model.eval()
            acc, val_loss = accuracy(model, val)
            history.append({"step": step, "loss": round(loss.item(), 4),
                            "val_accuracy": round(acc, 4), "val_loss": round(val_loss, 4)})
            log(f"step {step} {time.perf_counter() - start:.0f}s loss {loss.item():.3f} "
                f"val acc {acc:.3f} loss {val_loss:.3f}")
    model.eval()
    acc, val_loss = accuracy(model, val)
    return model, {"steps": step, "minutes": round((time.perf_counter() - start) / 60, 2),
                   "val_accuracy": round(acc, 4), "val_loss": round(val_loss, 4),
                   "history": history}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", default="200-214", help="render_set seeds, FIRST-LAST")
    parser.add_argument("--minutes", type=float, default=6.0)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from ..relight.envmap import bundled_hdris, load_hdri

    envs = [load_hdri(path) for path in bundled_hdris().values()]
    first, last = (int(s) for s in args.seeds.split("-"))
    photos = np.concatenate([render_luminance(s, envs) for s in range(first, last + 1)])
    val = render_luminance(VAL_SEED, envs, count=20)
    print(f"{len(photos)} training photos, {len(val)} held out", flush=True)
    model, result = train(photos, val, args.minutes, args.batch,
                          log=lambda m: print(m, flush=True))
    save_weights(args.out, model, steps=result["steps"], photos=len(photos),
                 seeds=args.seeds, result={k: v for k, v in result.items() if k != "history"})
    print(f"{args.out}: {result['steps']} steps, held-out accuracy {result['val_accuracy']}")
    return result


if __name__ == "__main__":
    main()
