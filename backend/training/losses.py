"""Losses: cosine and angular normal losses, and LCNet-style light classification."""

import torch
import torch.nn.functional as F

from ..models.light_bins import direction_to_bins, intensity_to_bin


def normal_loss(predicted: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean (1 - cos) over the masked pixels: PS-FCN's loss, without its unmasked background."""
    cos = (predicted * truth).sum(dim=1, keepdim=True)
    return ((1.0 - cos) * mask).sum() / mask.sum().clamp_min(1.0)


def angular_normal_loss(
    predicted: torch.Tensor, truth: torch.Tensor, weight: torch.Tensor
) -> torch.Tensor:
    """Weighted mean angle (radians) between unit normals.

    1 - cos pulls with a force of sin(angle), which fades as the error shrinks: errors of a few
    degrees, most of a face, barely train. The angle itself pulls equally at every size, as the
    mean-angle metric counts them. atan2 of |p x t| and p . t (with a tiny floor under the
    root) stays finite and differentiable at zero error, where acos's slope blows up."""
    cross = torch.linalg.cross(predicted, truth, dim=1)
    sine = torch.sqrt((cross * cross).sum(dim=1, keepdim=True) + 1e-14)
    angle = torch.atan2(sine, (predicted * truth).sum(dim=1, keepdim=True))
    return (angle * weight).sum() / weight.sum().clamp_min(1.0)


def light_losses(
    logits: dict, light_dir: torch.Tensor, dirs: torch.Tensor, ints: torch.Tensor
) -> dict:
    """Cross-entropy on the azimuth / elevation / intensity bins, plus the angular error of the
    soft-argmax direction, which the bins alone cannot push below their 5 degree width."""
    azimuth, elevation = direction_to_bins(dirs)
    grey = ints.mean(dim=-1)
    losses = {
        "azimuth": F.cross_entropy(logits["azimuth"].flatten(0, 1), azimuth.flatten()),
        "elevation": F.cross_entropy(logits["elevation"].flatten(0, 1), elevation.flatten()),
        "intensity": F.cross_entropy(
            logits["intensity"].flatten(0, 1), intensity_to_bin(grey).flatten()
        ),
        "direction": (1.0 - (light_dir * dirs).sum(dim=-1)).mean(),
    }
    return losses
