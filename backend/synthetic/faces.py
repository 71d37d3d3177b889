"""Random faces from the ICT-FaceKit morphable model (``../shared/data/faces/ict_facekit.npz``).

The model is in centimetres with +y up and the face looking down +z, i.e. already the camera
frame at zero pose; posing is a rotation and framing maps to pixel units (`meshes.fit_to_frame`),
so the same sampler serves both engines: the multi-light bank's faces and the portraits.

Label ids (per pixel, ``0`` outside the mask) let the renderer give skin, eyes, mouth interior
and lashes their own materials. The ICT lacrimal-fluid, eye-blend and eye-occlusion shells are
transparent helper layers meant for blending over the eyes; rasterised opaquely they would hide
the eyeballs, so they are dropped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

BACKGROUND = 0
SKIN = 1  # face + head_and_neck
EYE = 2  # eyeballs (sclera, iris, pupil: the renderer tells them apart itself)
EYE_SOCKET = 3  # the inner lid / eye-socket lining around the eyeballs
MOUTH_SOCKET = 4  # inside of the mouth
GUMS_TONGUE = 5
TEETH = 6
EYELASHES = 7
LABEL_NAMES = (
    "background",
    "skin",
    "eye",
    "eye_socket",
    "mouth_socket",
    "gums_tongue",
    "teeth",
    "eyelashes",
)

REGION_LABELS = {
    "face": SKIN,
    "head_and_neck": SKIN,
    "mouth_socket": MOUTH_SOCKET,
    "eye_socket_left": EYE_SOCKET,
    "eye_socket_right": EYE_SOCKET,
    "gums_and_tongue": GUMS_TONGUE,
    "teeth": TEETH,
    "eyeball_left": EYE,
    "eyeball_right": EYE,
    "eyelashes_left": EYELASHES,
    "eyelashes_right": EYELASHES,
}  # every other region (lacrimal fluid, eye blend, eye occlusion) is not rendered

# Framing box in neutral-mesh cm: jaw corners are at x = +-7.4, the chin at y = -7.6, the brows
# at y = 6.3; the top allows ~5 cm of forehead. "The face fills X% of the frame" refers to it
# (the region called 'face' in ICT also covers ears and the front of the neck).
FACE_BOX = ((-7.5, 7.5), (-7.8, 11.5))

DEFAULT_PATH = (
    Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "faces" / "ict_facekit.npz"
)


class FaceModel:
    """ICT-FaceKit mesh with identity/expression bases flattened to float32 for fast sampling."""

    def __init__(
        self, neutral, identity, expression, expression_names, triangles, labels, face_vertices
    ):
        self.neutral = neutral  # (V, 3) cm
        self.identity = identity  # (100, V*3)
        self.expression = expression  # (57, V*3)
        self.expression_names = list(expression_names)
        self.triangles = triangles  # (F, 3) rendered triangles only
        self.labels = labels  # (F,) int16 label per triangle
        self.face_vertices = face_vertices  # 'face' vertices inside FACE_BOX, for framing
        self._groups = _expression_groups(self.expression_names)

    @classmethod
    def load(cls, path: str | Path = DEFAULT_PATH) -> FaceModel:
        d = np.load(path, allow_pickle=False)
        names = list(d["region_names"])
        quads = d["faces"].astype(np.int64)
        region = np.full(len(quads), -1)
        for name, (a, b) in zip(names, d["region_face_ranges"], strict=True):
            region[a:b] = REGION_LABELS.get(str(name), -1)
        keep = region >= 0
        quads, region = quads[keep], region[keep]
        # Quads split along a-c; a triangle stored as a quad repeats its last index (c == d).
        quad = quads[:, 2] != quads[:, 3]
        tris = np.concatenate([quads[:, [0, 1, 2]], quads[quad][:, [0, 2, 3]]])
        labels = np.concatenate([region, region[quad]]).astype(np.int16)
        v = len(d["neutral"])
        fa, fb = d["region_vertex_ranges"][names.index("face")]
        n = d["neutral"][fa:fb]
        (x0, x1), (y0, y1) = FACE_BOX
        box = (n[:, 0] >= x0) & (n[:, 0] <= x1) & (n[:, 1] >= y0) & (n[:, 1] <= y1)
        return cls(
            d["neutral"].astype(np.float32),
            d["identity"].astype(np.float32).reshape(-1, v * 3),
            d["expression"].astype(np.float32).reshape(-1, v * 3),
            d["expression_names"],
            tris,
            labels,
            fa + np.flatnonzero(box),
        )

    def mesh(
        self, identity: np.ndarray, expression: np.ndarray, rotation: np.ndarray | None = None
    ):
        """Vertices (V, 3) in cm for given weights, optionally rotated (about the origin)."""
        v = self.neutral + (identity @ self.identity + expression @ self.expression).reshape(-1, 3)
        return v if rotation is None else v @ rotation.T

    def sample_expression(self, rng: np.random.Generator) -> np.ndarray:
        """A few active expression groups; left/right shapes mostly move together.

        Groups pair ``_L``/``_R`` shapes (same weight, or one side weaker for asymmetry) and pair
        ``eyeLookIn_L`` with ``eyeLookOut_R`` so both eyes gaze the same way. ``mouthClose``
        only makes sense on top of ``jawOpen`` (alone it pushes the lips through each other), so
        it is only added, no stronger than the jaw, when ``jawOpen`` is active.
        """
        w = np.zeros(len(self.expression_names), np.float32)
        count = rng.choice([0, 1, 2, 3, 4, 5], p=[0.1, 0.2, 0.25, 0.2, 0.15, 0.1])
        for g in rng.choice(len(self._groups), size=count, replace=False):
            value = rng.uniform(0.2, 1.0)
            for k, i in enumerate(self._groups[g]):
                w[i] = value if k == 0 or rng.random() < 0.7 else value * rng.uniform(0.3, 1.0)
        if "jawOpen" in self.expression_names and "mouthClose" in self.expression_names:
            jaw = w[self.expression_names.index("jawOpen")]
            if jaw > 0 and rng.random() < 0.3:
                w[self.expression_names.index("mouthClose")] = rng.uniform(0, jaw)
        return w

    def sample(
        self,
        rng: np.random.Generator,
        max_yaw: float = 50,
        max_pitch: float = 25,
        max_roll: float = 15,
    ):
        """Random identity, expression and head pose: ``(vertices cm, triangles, labels)``."""
        identity = rng.normal(size=len(self.identity)).astype(np.float32) * rng.uniform(0.8, 1.2)
        angles = np.radians(
            [
                rng.uniform(-max_yaw, max_yaw),
                rng.uniform(-max_pitch, max_pitch),
                rng.uniform(-max_roll, max_roll),
            ]
        )
        v = self.mesh(identity, self.sample_expression(rng), head_rotation(*angles))
        return v, self.triangles, self.labels


def head_rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Rotation (radians) applied as roll (about z), then pitch (about x), then yaw (about y).

    Positive yaw turns the face toward +x (the viewer's right), positive pitch tilts it up.
    """
    cy, sy, cp, sp, cr, sr = (
        np.cos(yaw),
        np.sin(yaw),
        np.cos(pitch),
        np.sin(pitch),
        np.cos(roll),
        np.sin(roll),
    )
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return ry @ rx.T @ rz


def _expression_groups(names: list[str]) -> list[list[int]]:
    pairs = {"eyeLookIn_L": "eyeLookOut_R", "eyeLookOut_L": "eyeLookIn_R"}
    groups, used = [], {"mouthClose"}
    for n in names:
        if n in used:
            continue
        partner = pairs.get(n) or (n[:-2] + "_R" if n.endswith("_L") else None)
        if n in pairs.values():
            continue
        members = [n] + ([partner] if partner in names else [])
        used.update(members)
        groups.append([names.index(m) for m in members])
    return groups
