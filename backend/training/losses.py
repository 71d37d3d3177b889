"""Losses for the multi-light models: cosine normal loss plus LCNet-style light classification."""

import torch
import torch.nn.functional as F

from ..models.light_bins import direction_to_bins, intensity_to_bin


def normal_loss(predicted: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean (1 - cos) over the masked pixels: PS-FCN's loss, without its unmasked background."""
    cos = (predicted * truth).sum(dim=1, keepdim=True)
    return ((1.0 - cos) * mask).sum() / mask.sum().clamp_min(1.0)


def light_losses(logits: dict, light_dir: torch.Tensor, dirs: torch.Tensor, ints: torch.Tensor) -> dict:
    """Cross-entropy on the azimuth / elevation / intensity bins, plus the angular error of the
    soft-argmax direction, which the bins alone cannot push below their 5 degree width."""
    azimuth, elevation = direction_to_bins(dirs)
    grey = ints.mean(dim=-1)
    losses = {
        "azimuth": F.cross_entropy(logits["azimuth"].flatten(0, 1), azimuth.flatten()),
        "elevation": F.cross_entropy(logits["elevation"].flatten(0, 1), elevation.flatten()),
        "intensity": F.cross_entropy(logits["intensity"].flatten(0, 1), intensity_to_bin(grey).flatten()),
        "direction": (1.0 - (light_dir * dirs).sum(dim=-1)).mean(),
    }
    return losses
