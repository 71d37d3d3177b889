"""Single-portrait inference: one photo -> normals, shading, albedo and mask (bpy-free).

The network sees what it saw in training: a square crop around the face (see `face_crop`) at
a fixed working resolution, exposure-normalised by the same function the trainer uses. Its
maps are resized back into the photo; outside the crop the mask, normals and shading are 0.

Low-order lighting fitted to the photo on the predicted normals (`sh_lighting`) then cleans
the shading (blended with the fit's, which cannot carry the photo's texture) and nudges the
skin's normals to explain the photo's shading. Albedo is the photo divided by the shading.
The shading is RGB, so the light's colour (and the camera's white balance) is divided out per
channel and the albedo keeps only the surface's own colour. Where the shading is nearly black
(deep shadow) the division is meaningless and noisy, so the shading is floored at
SHADING_FLOOR times the exposure level there; the result is clipped to [0, 1].
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..errors import UserError
from ..models.portrait import normalise_portrait_exposure
from ..models.registry import PORTRAIT, model_spec
from ..models.weights import load_model, read_metadata, shipped_weights
from . import runtime as runtimes
from .camera import rotation_degrees, view_rotation
from .face_crop import CropBox, face_crop, paste_back
from .sh_lighting import sh_lighting_maps

WORKING_SIZE = 256  # crop resolution when the weight file does not name its training size
SHADING_FLOOR = 0.02  # x exposure level: below it a pixel is deep shadow for the albedo
MASK_THRESHOLD = 0.5
HOLE_SHARE = 0.02  # enclosed background under this share of the subject's area is filled in
FACE_CORE = (0.7, 0.85)  # width, height of the ellipse in the detector's box that is always skin


@dataclass
class PortraitEstimate:
    normals: np.ndarray  # (H, W, 3) unit camera-frame normals, zeros outside the mask
    shading: np.ndarray  # (H, W, 3) linear, in the photo's units; zeros outside the crop
    albedo: np.ndarray  # (H, W, 3) linear in [0, 1], zeros outside the mask
    mask: np.ndarray  # (H, W) bool
    face_box: tuple[int, int, int, int] | None  # detector box (x, y, w, h) in photo pixels
    face_found: bool
    crop_box: CropBox | None = None  # the square the network saw (may extend past the photo)
    note: str = ""  # how the crop was chosen, e.g. "no face found: the whole frame was used"
    view_rotation_deg: float = 0.0  # turn from the crop's view to the photo's frame (see `camera`)
    timings: dict = field(default_factory=dict)


class PortraitModel:
    """A portrait network ready to run: the shipped one (the weights index's single mode), or
    the weight file ``path``. ``runtime`` and ``threads``: where the network's forward runs, as
    for `MultiLightModel`."""

    def __init__(self, path: Path | str | None = None, device: str = "cpu",
                 size: int | None = None, flip_tta: bool | None = None, runtime: str = "torch",
                 threads: int | None = None, log=None):
        self.path = Path(path) if path else shipped_weights(PORTRAIT)
        self.device = torch.device(device)
        self.model = load_model(self.path, self.device)
        self.metadata = read_metadata(self.path)
        self.name = self.model.config["name"]
        self.size = int(size or self.metadata.get("input_size") or WORKING_SIZE)
        # Average with the mirrored prediction (exact flip symmetry, 2x the network time);
        # None: as the registry runs this model.
        self.flip_tta = model_spec(self.name).flip_tta if flip_tta is None else flip_tta
        self._onnx = runtimes.select(
            runtime, self.device,
            lambda: runtimes.OnnxPortrait(self.model, self.path, threads, log), log,
            PORTRAIT.name)
        self.runtime = "onnx" if self._onnx else "torch"

    @property
    def net(self):
        """What runs the network: the ONNX graph, or the torch model."""
        return self._onnx or self.model

    @torch.inference_mode()
    def estimate(self, image: np.ndarray, focal_px: float | None = None) -> PortraitEstimate:
        """image: (H, W, 3) float32 linear RGB; focal_px: the photo's focal length in pixels, to
        turn an off-centre face's normals into the photo's camera frame (None: no turn)."""
        _check_image(image)
        timings = {}
        start = time.perf_counter()
        crop = face_crop(image, self.size)
        timings["crop_s"] = time.perf_counter() - start

        start = time.perf_counter()
        x = (
            torch.from_numpy(np.ascontiguousarray(crop.image))
            .permute(2, 0, 1)[None]
            .to(self.device)
        )
        x, level = normalise_portrait_exposure(x)
        out = predict_maps(self.net, x, self.flip_tta)
        level = float(level[0])
        small = {
            "normal": out["normal"][0].permute(1, 2, 0).cpu().numpy(),
            "shading": (out["shading"][0] * level).permute(1, 2, 0).cpu().numpy(),
            "mask": torch.sigmoid(out["mask_logits"][0, 0]).cpu().numpy(),
        }
        timings["network_s"] = time.perf_counter() - start

        start = time.perf_counter()
        small["normal"], small["shading"] = sh_lighting_maps(
            crop.image, small["normal"], small["shading"], small["mask"] > MASK_THRESHOLD)
        timings["lighting_fit_s"] = time.perf_counter() - start  # report.json's name for this step

        start = time.perf_counter()
        full = paste_back(small, crop.box, image.shape)
        mask = subject_mask(full["mask"] > MASK_THRESHOLD, crop.face_box)
        normals = full["normal"]
        normals /= np.maximum(np.linalg.norm(normals, axis=2, keepdims=True), 1e-8)
        turn = np.eye(3)
        if focal_px:
            box = crop.box
            turn = view_rotation(
                (box.x + box.side / 2, box.y + box.side / 2), image.shape, focal_px
            )
            normals = normals @ turn.T.astype(np.float32)
        normals *= mask[..., None]
        shading = np.maximum(full["shading"], 0.0)
        albedo = albedo_from_shading(image, shading, SHADING_FLOOR * level) * mask[..., None]
        timings["paste_s"] = time.perf_counter() - start
        return PortraitEstimate(
            normals.astype(np.float32),
            shading.astype(np.float32),
            albedo,
            mask,
            crop.face_box,
            crop.face_found,
            crop.box,
            crop.note,
            rotation_degrees(turn),
            timings,
        )


def predict_maps(
    model: torch.nn.Module, x: torch.Tensor, flip_tta: bool = False
) -> dict[str, torch.Tensor]:
    """Run the network on normalised (B, 3, H, W) crops; with ``flip_tta`` also on the mirrored
    crops, in the same batch (the portrait nets' norms are per sample at inference), and average
    (normal x negated back, log-shading and mask logits averaged)."""
    if not flip_tta:
        return model(x)
    both = model(torch.cat([x, x.flip(-1)]))
    b = len(x)
    out = {k: v[:b] for k, v in both.items()}
    mirrored = unflip_outputs({k: v[b:] for k, v in both.items()})
    log_shading = (out["log_shading"] + mirrored["log_shading"]) / 2
    return {
        "normal": F.normalize(out["normal"] + mirrored["normal"], dim=1),
        "log_shading": log_shading,
        "shading": log_shading.exp(),
        "mask_logits": (out["mask_logits"] + mirrored["mask_logits"]) / 2,
    }


def unflip_outputs(out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Outputs for a mirrored input, mirrored back: flip the width, and negate normal x (a
    horizontal mirror reverses the x component of a camera-frame normal)."""
    flipped = {k: v.flip(-1) for k, v in out.items()}
    flipped["normal"] = flipped["normal"] * flipped["normal"].new_tensor([-1.0, 1.0, 1.0]).view(
        1, 3, 1, 1
    )
    return flipped


def subject_mask(mask: np.ndarray, face_box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """The portrait's one subject: the largest 8-connected region of a binary mask, with its
    small holes filled. Stray blobs are background people or skin-toned clutter the network
    half-believed (on held-out synthetic portraits this lifts the IoU by about 0.02); large
    enclosed gaps, such as between an arm and the body, stay background. A face has no holes,
    so any enclosed gap centred in the detector's ``face_box`` (x, y, w, h) is filled too: a
    shadowed eye socket the network doubted (4 % of the subject in one real photo). For the
    same reason the core of the face box (an ellipse of FACE_CORE of its size, on the skin in
    the Haar detector's boxes) is always subject: grey hair at a temple or a shadowed forehead
    that the network took for background would otherwise cut a bay into the face, with no
    normals there, that no hole filling reaches."""
    mask = mask.astype(bool)
    if face_box is not None:
        x, y, w, h = face_box
        yy, xx = np.ogrid[: mask.shape[0], : mask.shape[1]]
        rx, ry = FACE_CORE[0] * w / 2, FACE_CORE[1] * h / 2
        mask = mask | (((xx + 0.5 - x - w / 2) / rx) ** 2 + ((yy + 0.5 - y - h / 2) / ry) ** 2 <= 1)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        mask.astype(np.uint8), connectivity=8
    )
    if count <= 1:
        return mask
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    subject = labels == largest
    count, labels, stats, centroids = cv2.connectedComponentsWithStats(
        (~subject).astype(np.uint8), connectivity=4
    )
    outside = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    holes = stats[:, cv2.CC_STAT_AREA] < HOLE_SHARE * subject.sum()
    if face_box is not None:
        x, y, w, h = face_box
        cx, cy = centroids[:, 0], centroids[:, 1]
        holes |= (cx >= x) & (cx < x + w) & (cy >= y) & (cy < y + h)
    holes[outside] = False
    return subject | holes[labels]


def albedo_from_shading(image: np.ndarray, shading: np.ndarray, floor: float) -> np.ndarray:
    """Per-channel image / max(shading, floor), clipped to [0, 1] (float32)."""
    return np.clip(image / np.maximum(shading, max(floor, 1e-12)), 0.0, 1.0).astype(np.float32)


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        raise UserError(
            f"the portrait model takes one (H, W, 3) RGB image, got shape "
            f"{getattr(image, 'shape', None)}"
        )
    if min(image.shape[:2]) < 16:
        raise UserError(
            f"the image is too small for the portrait model ({image.shape[1]}x{image.shape[0]})"
        )
    if not np.isfinite(image).all():
        raise UserError("the image has NaN or infinite pixel values")
