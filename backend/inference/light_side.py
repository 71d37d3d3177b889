"""Which side of a surface photo its light comes from (bpy-free): `--light-from auto`.

The shipped `light_side` network (`models.light_side`, trained on the material engine's photos)
sees the photo shrunk to its SIZE px on the long side (the shrink keeps the relief's shading and
the light's fall-off across the frame, the cues it reads) and answers with a probability per
side. Its best side is taken when it has at least even odds (MIN_CONFIDENCE); below that the
photo is read as lit from the top, the side most surface photos are lit from and the material
model's own prior. On held-out surfaces (a tuning set apart from the benchmark's) that gate is
what keeps auto from costing anything on top-lit photos (8.70 deg against top's 8.73; with no
gate 8.86) while side-lit ones keep most of the gain (docs/material). Under soft light from
everywhere there is little to read, and the material model gains or loses little whichever
side it is told.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from ..models.light_side import SIDES, SIZE
from ..models.registry import LIGHT_SIDE
from ..models.weights import load_model, read_metadata, shipped_weights

MIN_CONFIDENCE = 0.5  # the best side's probability needed to read the photo as lit from it
FALLBACK = "top"


@dataclass(frozen=True)
class LightSide:
    side: str  # top, left, right or bottom: the side to read the photo as lit from
    probabilities: dict[str, float]  # per side, summing to 1
    confident: bool  # side is the detector's best; False: it was unsure, side is FALLBACK


class LightSideDetector:
    def __init__(self, path: Path | str | None = None, device: str = "cpu"):
        self.path = Path(path) if path else shipped_weights(LIGHT_SIDE)
        self.device = torch.device(device)
        self.model = load_model(self.path, self.device)
        self.metadata = read_metadata(self.path)

    @torch.inference_mode()
    def detect(self, image: np.ndarray) -> LightSide:
        """image: (H, W, 3) float32 linear RGB of a surface."""
        scale = SIZE / max(image.shape[:2])
        if scale < 1:
            image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        x = torch.from_numpy(np.ascontiguousarray(image, np.float32)).permute(2, 0, 1)[None]
        logits = self.model(x.to(self.device))["logits"][0].float().cpu()
        probabilities = torch.softmax(logits, 0).tolist()
        best = int(np.argmax(probabilities))
        confident = probabilities[best] >= MIN_CONFIDENCE
        return LightSide(SIDES[best] if confident else FALLBACK,
                         {s: round(p, 4) for s, p in zip(SIDES, probabilities, strict=True)},
                         confident)
