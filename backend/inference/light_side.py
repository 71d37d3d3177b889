"""Which side of a surface photo its light comes from (bpy-free): `--light-from auto`.

The shipped `light_side` network (`models.light_side`, trained on the material engine's photos)
sees the photo shrunk to its SIZE px on the long side (the shrink keeps the relief's shading and
the light's fall-off across the frame, the cues it reads) and answers with a probability per
side. Under soft light from everywhere there is little to read and the answer is close to a
guess; the material model then gains or loses little whichever side it is told
(`docs/material`).
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


@dataclass(frozen=True)
class LightSide:
    side: str  # top, left, right or bottom
    probabilities: dict[str, float]  # per side, summing to 1


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
        side = SIDES[int(np.argmax(probabilities))]
        return LightSide(side, {s: round(p, 4) for s, p in zip(SIDES, probabilities,
                                                                strict=True)})
