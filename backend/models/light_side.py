"""Light-side network: which side of a surface photo its light comes from (top, left, right or
bottom), for the material model, which reads relief as light from the top shows it.

One small CNN scores how much a photo looks lit from its top; the photo's four quarter turns are
scored by the same network, and the scores are the logits over the four sides. The answer is
then equivariant by construction: turning the photo turns the answer, and training needs only
photos lit from the top (label: no turn).

Input: (B, 3, H, W) linear RGB, any size and exposure (the inference wrapper shrinks the photo to
SIZE px on its long side); the network reads its log-luminance with the mean removed, so the
exposure and the surface's mean colour drop out and the shading's ratios stay. Output:
{"logits": (B, 4)} in SIDES order.
"""

from __future__ import annotations

import torch
from torch import nn

from .registry import resolve_config

SIDES = ("top", "left", "right", "bottom")
# Counter-clockwise quarter turns (np.rot90 / torch.rot90 on H, W) that bring each side's light
# to the top; the same table as `inference.material.QUARTER_TURNS` (a test ties them).
TURNS = (0, 3, 1, 2)
SIZE = 128  # px, the long side the photo is shrunk to: the relief's shading, not its texture
LOG_FLOOR = 1e-3  # x the photo's mean luminance, under the log (black pixels stay finite)
LUMA = (0.2126, 0.7152, 0.0722)

LIGHT_SIDE_DEFAULTS = {
    "widths": [8, 16, 32, 48, 64, 64],  # the first conv keeps full size, each other halves it
}


class LightSideNet(nn.Module):
    def __init__(self, widths):
        super().__init__()
        layers, channels = [], 1
        for i, width in enumerate(widths):
            layers += [nn.Conv2d(channels, width, 3, stride=1 if i == 0 else 2, padding=1),
                       nn.ReLU(inplace=True)]
            channels = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(channels, 1)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """(B,) how much each photo looks lit from its top."""
        return self.head(self.features(x).mean((2, 3)))[:, 0]

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = log_luminance(images)
        turned = [torch.rot90(x, k, (2, 3)) for k in TURNS]
        return {"logits": torch.stack([self.score(t) for t in turned], 1)}


def light_side(**overrides) -> LightSideNet:
    config = resolve_config("light_side", LIGHT_SIDE_DEFAULTS, overrides)
    model = LightSideNet(config["widths"])
    model.config = config
    return model


def log_luminance(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) linear RGB -> (B, 1, H, W) log-luminance relative to its mean, mean removed."""
    luma = (images.clamp_min(0) * images.new_tensor(LUMA).view(1, 3, 1, 1)).sum(1, keepdim=True)
    level = luma.mean((2, 3), keepdim=True).clamp_min(1e-8)
    log = torch.log(luma / level + LOG_FLOOR)
    return log - log.mean((2, 3), keepdim=True)
