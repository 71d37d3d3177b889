"""Exposure normalisation shared by training and inference.

A photo set's absolute level depends on exposure, gain and light power, none of which the
networks can know. Dividing each set by a robust high level of its masked pixels makes the
input scale-free; the same function runs on synthetic batches and real photos, so the
networks never see a distribution shift from it. Light intensities are then relative too,
and are reported normalised to a mean of 1.
"""

import torch

QUANTILE = 0.99
MAX_SAMPLES = 1 << 20  # quantile over a subsample: exact enough, and bounded in memory


def normalise_exposure(
    images: torch.Tensor, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """images (B, K, 3, H, W), mask (B, 1, H, W) -> (images / level, level of shape (B,))."""
    grey = images.mean(dim=2)  # (B, K, H, W)
    levels = []
    for b in range(images.shape[0]):
        values = grey[b][:, mask[b, 0] > 0.5].flatten()
        if values.numel() == 0:
            values = grey[b].flatten()
        if values.numel() > MAX_SAMPLES:
            step = values.numel() // MAX_SAMPLES + 1
            values = values[::step]
        # The order statistic by selection (linear time), not torch.quantile's full sort: the
        # same level to within one rank, several times faster on a large photo set.
        rank = min(values.numel(), int(QUANTILE * (values.numel() - 1)) + 1)
        levels.append(torch.kthvalue(values.float(), rank).values.clamp_min(1e-6))
    level = torch.stack(levels).to(images.dtype)
    return images / level.view(-1, 1, 1, 1, 1), level
