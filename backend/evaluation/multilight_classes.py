"""A multi-light model scored on `class_validation_set`, per material class and light rig, as
`predict` runs it (the benchmark's table and the GPU burst's before/after both read this)."""

from __future__ import annotations

import numpy as np

from ..synthetic.multilight.validation import CLASSES, RIGS
from .lights import direction_errors
from .metrics import angular_errors

COLUMNS = ("light", "normal", "convex", "concave")


def class_errors(model, data: dict) -> dict[tuple[str, str], np.ndarray]:
    """{(class, rig): (objects, 4) mean errors in degrees, in COLUMNS order}; ``model`` is a
    `MultiLightModel`. Concave is NaN for an object without concave pixels."""
    rows: dict[tuple[str, str], list] = {}
    for i in range(len(data["images"])):
        images = data["images"][i].astype(np.float32).transpose(0, 2, 3, 1)
        mask, concave = data["mask"][i, 0], data["concave"][i, 0]
        estimate = model.estimate(images, mask)
        errors = angular_errors(estimate.normals, data["normals"][i].transpose(1, 2, 0), mask)
        hollow = concave[mask]  # errors run over the mask, in order
        key = (CLASSES[data["material_class"][i]], RIGS[data["rig"][i]])
        rows.setdefault(key, []).append([
            direction_errors(estimate.light_dirs, data["light_dirs"][i]).mean(), errors.mean(),
            errors[~hollow].mean(), errors[hollow].mean() if hollow.any() else np.nan])
    return {key: np.array(value) for key, value in rows.items()}
