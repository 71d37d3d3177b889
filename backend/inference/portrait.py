"""Single-portrait inference: one photo -> normals, shading, albedo and mask (bpy-free).

The network sees what it saw in training: a square crop around the face (see `face_crop`) at
a fixed working resolution, exposure-normalised by the same function the trainer uses. The
crop alone stops at a straight line below the chin, so the network also runs over the whole
frame (at the size that shows the largest face at its trained scale, see `frame_pass_size`)
and each face's pass is feathered into that (`feather`): the maps cover the whole person.
The network was trained on faces with a little neck and shoulder, so its body normals are
rough (issue 31: the engine has no bodies yet). The subject mask is MediaPipe's person
segmentation (`person`), which knows hair, clothes and hands, combined with the network's own
mask where the segmentation is unsure (`person_probability`).

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
from . import face_crop, person
from . import runtime as runtimes
from .camera import rotation_degrees, view_rotation
from .face_crop import (
    CropBox,
    box_window,
    crop_box_for,
    crop_to_box,
    is_tight,
    paste_back,
    whole_frame_box,
)
from .feather import blend_pass, feather_weight
from .sh_lighting import sh_lighting_maps

WORKING_SIZE = 256  # crop resolution when the weight file does not name its training size
SHADING_FLOOR = 0.02  # x exposure level: below it a pixel is deep shadow for the albedo
MASK_THRESHOLD = 0.5
HOLE_SHARE = 0.02  # enclosed background under this share of the subject's area is filled in
MAX_FRAME_PX = 512  # the largest whole-frame pass that may be asked for (see frame_pass_size)
SURE = 0.3  # a segmentation probability this far from 0.5 is taken as it is
KEEP_SHARE = 0.1  # with the segmentation, any region this share of the largest is a person
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
    faces: list = field(default_factory=list)  # each face pass: face_box, crop_box, turn
    frame_pass_px: int = 0  # working size of the whole-frame pass


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
        if runtimes.auto_bf16(runtime, self.device, PORTRAIT.name, log):
            self._fast, self.runtime = runtimes.Bf16Network(self.model), "torch-bf16"
        else:
            self._fast = runtimes.select(
                runtime, self.device,
                lambda engine: runtimes.OnnxPortrait(self.model, self.path, threads, log, engine),
                log, PORTRAIT.name)
            self.runtime = self._fast.runtime if self._fast else "torch"

    @property
    def net(self):
        """What runs the network: the ONNX graph, the model under bf16 autocast, or the torch
        model."""
        return self._fast or self.model

    @torch.inference_mode()
    def estimate(self, image: np.ndarray, focal_px: float | None = None,
                 frame_px: int | None = None) -> PortraitEstimate:
        """image: (H, W, 3) float32 linear RGB; focal_px: the photo's focal length in pixels, to
        turn an off-centre face's normals into the photo's camera frame (None: no turn);
        frame_px: the whole-frame pass's largest working size (see `frame_pass_size`; None:
        MAX_FRAME_PX).

        One pass over the whole frame (the body, hair and clothes), then one per detected face
        on its crop square, feathered in (`feather`): the maps cover the whole person, with the
        face pass's detail and no seam along the crop square. A face that fills the frame, or
        no face, leaves the whole-frame pass alone."""
        _check_image(image)
        timings = {"crop_s": 0.0, "network_s": 0.0, "lighting_fit_s": 0.0, "paste_s": 0.0,
                   "segmentation_s": 0.0}
        start = time.perf_counter()
        faces = face_crop.detect_faces(image)
        timings["crop_s"] += time.perf_counter() - start
        largest = faces[0] if faces else None
        frame_box = whole_frame_box(image.shape)
        if largest is None or is_tight(largest, image.shape):
            note = ("no face found: the whole frame was used" if largest is None
                    else "the face fills the frame: the whole frame was used")
            face_passes, frame_size = [], self.size
        else:
            note = "whole frame, with a face pass feathered in for each face"
            face_passes = [(box, crop_box_for(box, image.shape)) for box in faces
                           if not is_tight(box, image.shape)]
            frame_size = frame_pass_size(self.size, frame_box, face_passes[0][1],
                                         frame_px or MAX_FRAME_PX)
        # Flip averaging sharpens faces (0.3° on the synthetic ones); with face passes to carry
        # the faces, the frame pass's mirror image would double its cost for the body alone.
        maps, level, frame_turn = self._pass(image, frame_box, frame_size, focal_px, timings,
                                             self.flip_tta and not face_passes)
        found = []
        for face_box, box in face_passes:
            window = box_window(box, image.shape)
            layer, _, turn = self._pass(image, box, self.size, focal_px, timings,
                                        self.flip_tta, window)
            start = time.perf_counter()
            blend_pass(maps, layer, feather_weight(box, image.shape, window=window), window)
            timings["paste_s"] += time.perf_counter() - start
            found.append({"face_box": [int(v) for v in face_box],
                          "crop_box": [round(float(v), 1) for v in box],
                          "view_rotation_deg": round(rotation_degrees(turn), 2)})

        start = time.perf_counter()
        segmentation = person.segment_person(image) if person.available() else None
        timings["segmentation_s"] = time.perf_counter() - start
        start = time.perf_counter()
        if segmentation is None:
            mask = subject_mask(maps["mask"] > MASK_THRESHOLD, faces)
        else:
            combined = person_probability(segmentation, maps["mask"])
            mask = subject_mask(combined > MASK_THRESHOLD, faces, keep_share=KEEP_SHARE)
        inside = mask.astype(np.float32)[..., None]  # (a float factor: 2x a bool one)
        normals = maps["normal"] * inside
        shading = np.maximum(maps["shading"], 0.0)
        albedo = albedo_from_shading(image, shading, SHADING_FLOOR * level) * inside
        timings["paste_s"] += time.perf_counter() - start
        first_turn = rotation_degrees(frame_turn) if not found else found[0]["view_rotation_deg"]
        return PortraitEstimate(
            normals.astype(np.float32, copy=False),
            shading.astype(np.float32, copy=False),
            albedo,
            mask,
            largest,
            largest is not None,
            face_passes[0][1] if face_passes else frame_box,
            note,
            first_turn,
            timings,
            faces=found,
            frame_pass_px=frame_size,
        )

    @torch.inference_mode()
    def _pass(self, image: np.ndarray, box: CropBox, size: int, focal_px: float | None,
              timings: dict, flip_tta: bool | None = None, window=None,
              ) -> tuple[dict[str, np.ndarray], float, np.ndarray]:
        """The network on one square of the photo at size x size (averaged with its mirror
        image with ``flip_tta``, default the model's), refined by the lighting fit and pasted
        back at the photo's resolution, over all of it or its part ``window``:
        ({"normal", "shading", "mask"}, exposure level, the view turn applied to its normals)."""
        flip_tta = self.flip_tta if flip_tta is None else flip_tta
        start = time.perf_counter()
        crop = crop_to_box(image, box, size)
        timings["crop_s"] += time.perf_counter() - start

        start = time.perf_counter()
        x = torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1)[None].to(self.device)
        x, level = normalise_portrait_exposure(x)
        out = predict_maps(self.net, x, flip_tta)
        level = float(level[0])
        small = {
            "normal": out["normal"][0].permute(1, 2, 0).cpu().numpy(),
            "shading": (out["shading"][0] * level).permute(1, 2, 0).cpu().numpy(),
            "mask": torch.sigmoid(out["mask_logits"][0, 0]).cpu().numpy(),
        }
        timings["network_s"] += time.perf_counter() - start

        start = time.perf_counter()
        small["normal"], small["shading"] = sh_lighting_maps(
            crop, small["normal"], small["shading"], small["mask"] > MASK_THRESHOLD)
        timings["lighting_fit_s"] += time.perf_counter() - start

        start = time.perf_counter()
        turn = np.eye(3)
        if focal_px:  # a rotation commutes with the bilinear paste: turn the small map
            turn = view_rotation((box.x + box.side / 2, box.y + box.side / 2), image.shape,
                                 focal_px)
            small["normal"] = small["normal"] @ turn.T.astype(np.float32)
        full = paste_back(small, box, image.shape, window)
        normals = full["normal"]
        normals /= np.maximum(np.sqrt(np.einsum("...c,...c->...", normals, normals))[..., None],
                              1e-8)
        timings["paste_s"] += time.perf_counter() - start
        return full, level, turn


def frame_pass_size(face_size: int, frame_box: CropBox, face_box: CropBox,
                    largest: int = MAX_FRAME_PX) -> int:
    """The whole-frame pass's working size: the one at which the largest face appears as big as
    in its own crop (the scale the network was trained at), in steps of 16, between the face
    pass's size and ``largest`` (at most MAX_FRAME_PX).

    `estimate` asks for the scale-matched pass by default (192-400 px on the shared
    portraits): at the network's own 128 px the body's normals lose the hands, lapels and a
    tie's pattern (docs/portrait/speed.md), for 1.1-1.6x less time end to end; --frame-px 128
    is that fast pass."""
    size = face_size * frame_box.side / face_box.side
    top = max(face_size, min(largest, MAX_FRAME_PX))
    return int(np.clip(round(size / 16) * 16, face_size, top))


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


def person_probability(segmentation: np.ndarray, network: np.ndarray) -> np.ndarray:
    """The subject's probability per pixel from MediaPipe's person segmentation and the
    portrait network's own mask (both (H, W) in [0, 1]).

    The segmentation leads: it was trained on real photos of whole people (hair, clothes, hands,
    several people, any framing) and on obama.jpg it is near-perfect, where the network, trained
    on synthetic heads with a little neck and shoulder, misses the dark suit and hands (IoU 0.47
    against it at full frame). Where the segmentation is sure (further than SURE from 0.5) it is
    taken as it is. Where it is unsure (its 256 px output blurred across edges, wisps of hair,
    low contrast against the background) the network, which sees the face pass at full
    resolution, gets an equal say: the two are averaged. The network's mask alone is never
    enough to add a region the segmentation is sure is background, which stops its blobs on
    clutter."""
    segmentation = np.asarray(segmentation, np.float32)
    unsure = np.abs(segmentation - 0.5) <= SURE
    return np.where(unsure, (segmentation + np.asarray(network, np.float32)) / 2, segmentation)


def subject_mask(mask: np.ndarray, face_box=None, keep_share: float | None = None) -> np.ndarray:
    """The portrait's subject: the largest 8-connected region of a binary mask (and any other
    region holding one of the faces, when ``face_box`` is a list of boxes), with its
    small holes filled. Stray blobs are background people or skin-toned clutter the network
    half-believed (on held-out synthetic portraits this lifts the IoU by about 0.02); large
    enclosed gaps, such as between an arm and the body, stay background. A face has no holes,
    so any enclosed gap centred in the detector's ``face_box`` (x, y, w, h) is filled too: a
    shadowed eye socket the network doubted (4 % of the subject in one real photo). For the
    same reason the core of the face box (an ellipse of FACE_CORE of its size, on the skin in
    the Haar detector's boxes) is always subject: grey hair at a temple or a shadowed forehead
    that the network took for background would otherwise cut a bay into the face, with no
    normals there, that no hole filling reaches. With ``keep_share`` (a mask from a person
    segmentation, which makes few stray blobs) every region at least that share of the largest
    is kept as well: another person whose face is turned away or hidden."""
    mask = mask.astype(bool)
    boxes = _face_boxes(face_box)
    yy, xx = np.ogrid[: mask.shape[0], : mask.shape[1]]
    for x, y, w, h in boxes:
        rx, ry = FACE_CORE[0] * w / 2, FACE_CORE[1] * h / 2
        mask = mask | (((xx + 0.5 - x - w / 2) / rx) ** 2 + ((yy + 0.5 - y - h / 2) / ry) ** 2 <= 1)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        mask.astype(np.uint8), connectivity=8
    )
    if count <= 1:
        return mask
    # The largest region, and every region holding a face (another person, a bystander).
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = {1 + int(np.argmax(areas))}
    if keep_share is not None:
        keep |= {1 + int(i) for i in np.flatnonzero(areas >= keep_share * areas.max())}
    for x, y, w, h in boxes:
        cy, cx = int(np.clip(y + h / 2, 0, mask.shape[0] - 1)), int(np.clip(x + w / 2, 0,
                                                                            mask.shape[1] - 1))
        if labels[cy, cx]:
            keep.add(int(labels[cy, cx]))
    subject = np.isin(labels, list(keep))
    count, labels, stats, centroids = cv2.connectedComponentsWithStats(
        (~subject).astype(np.uint8), connectivity=4
    )
    outside = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    holes = stats[:, cv2.CC_STAT_AREA] < HOLE_SHARE * subject.sum()
    cx, cy = centroids[:, 0], centroids[:, 1]
    for x, y, w, h in boxes:
        holes |= (cx >= x) & (cx < x + w) & (cy >= y) & (cy < y + h)
    holes[outside] = False
    return subject | holes[labels]


def _face_boxes(face_box) -> list[tuple[int, int, int, int]]:
    """None, one (x, y, w, h) box or a list of them -> a list of boxes."""
    if face_box is None:
        return []
    if len(face_box) and np.ndim(face_box[0]) == 0:
        return [tuple(face_box)]
    return [tuple(b) for b in face_box]


def albedo_from_shading(image: np.ndarray, shading: np.ndarray, floor: float) -> np.ndarray:
    """Per-channel image / max(shading, floor), clipped to [0, 1] (float32)."""
    return np.clip(image / np.maximum(shading, max(floor, 1e-12)), 0.0, 1.0).astype(
        np.float32, copy=False)


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
