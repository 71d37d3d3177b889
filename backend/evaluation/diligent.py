"""Load a DiLiGenT-layout folder: numbered images, filenames.txt, lights, mask, ground truth."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..io.images import IMAGE_SUFFIXES, read_mask
from ..io.lights import read_light_directions, read_light_intensities


@dataclass(frozen=True)
class PhotometricDataset:
    name: str
    images: list[Path]
    directions: np.ndarray  # (K, 3)
    intensities: np.ndarray | None  # (K, 3)
    mask: np.ndarray  # (H, W) bool
    normal_gt: np.ndarray  # (H, W, 3)

    def subset(self, count: int) -> PhotometricDataset:
        """count images spread evenly over the set, so light directions stay spread too."""
        total = len(self.images)
        if not 1 <= count <= total:
            raise UserError(f"--images must be between 1 and {total}, got {count}")
        index = spread_indices(total, count)
        return PhotometricDataset(
            self.name,
            [self.images[i] for i in index],
            self.directions[index],
            None if self.intensities is None else self.intensities[index],
            self.mask,
            self.normal_gt,
        )


def spread_indices(total: int, count: int) -> np.ndarray:
    """count indices spread evenly over range(total)."""
    return np.unique(np.round(np.linspace(0, total - 1, count)).astype(int))


def load_dataset(folder: str | Path) -> PhotometricDataset:
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: not a folder")
    listing = folder / "filenames.txt"
    if listing.is_file():
        images = [
            folder / line.strip() for line in listing.read_text().splitlines() if line.strip()
        ]
    else:
        images = sorted(
            p for p in folder.iterdir()
            if p.suffix.lower() in IMAGE_SUFFIXES and p.stem.isdigit()
        )
    if not images:
        raise UserError(f"{folder}: no numbered images and no filenames.txt")

    directions = read_light_directions(_require(folder / "light_directions.txt"))
    if len(directions) != len(images):
        raise UserError(
            f"{folder.name}: {len(directions)} light directions for {len(images)} images"
        )
    intensities = None
    if (folder / "light_intensities.txt").is_file():
        intensities = read_light_intensities(folder / "light_intensities.txt")
        if len(intensities) != len(images):
            raise UserError(
                f"{folder.name}: {len(intensities)} light intensities for {len(images)} images"
            )

    normal_gt = _load_normal_gt(folder)
    mask = read_mask(_require(folder / "mask.png"), normal_gt.shape[:2])
    return PhotometricDataset(folder.name, images, directions, intensities, mask, normal_gt)


def _load_normal_gt(folder: Path) -> np.ndarray:
    if (folder / "normal_gt.npy").is_file():
        normals = np.load(folder / "normal_gt.npy", allow_pickle=False)
    elif (folder / "Normal_gt.mat").is_file():
        from scipy.io import loadmat

        normals = loadmat(folder / "Normal_gt.mat")["Normal_gt"]
    else:
        raise UserError(f"{folder.name}: no ground truth (normal_gt.npy or Normal_gt.mat)")
    if normals.ndim != 3 or normals.shape[2] != 3:
        raise UserError(
            f"{folder.name}: ground-truth normals must be H x W x 3, got {normals.shape}"
        )
    return normals.astype(np.float32)


def _require(path: Path) -> Path:
    if not path.is_file():
        raise UserError(f"{path.parent.name}: missing {path.name}")
    return path
