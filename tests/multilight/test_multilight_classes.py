"""The per-class validation set: the same shapes under every material class and light rig."""

import numpy as np
import torch
from photonormals.synthetic.multilight.validation import (
    CLASSES,
    RIGS,
    class_validation_set,
    rig_directions,
)


def test_every_class_and_rig_renders_the_same_shapes(tmp_path):
    data = class_validation_set(count=2, lights=4, size=32, seed=3, cache_dir=tmp_path)
    n = len(CLASSES) * len(RIGS) * 2
    assert data["images"].shape == (n, 4, 3, 32, 32) and data["normals"].shape == (n, 3, 32, 32)
    assert sorted(set(zip(data["material_class"], data["rig"], strict=True))) == [
        (c, r) for c in range(len(CLASSES)) for r in range(len(RIGS))]
    np.testing.assert_array_equal(data["normals"][0], data["normals"][2])  # same shape, new rig
    metal = data["material_class"] == CLASSES.index("metal")
    matte = data["material_class"] == CLASSES.index("matte")
    assert not np.array_equal(data["images"][metal][0], data["images"][matte][0])
    again = class_validation_set(count=2, lights=4, size=32, seed=3, cache_dir=tmp_path)
    np.testing.assert_array_equal(again["images"], data["images"])  # cached


def test_a_narrow_rig_is_narrower_than_the_wide_cap():
    g = torch.Generator().manual_seed(0)

    def spread(rig):
        d = torch.cat([rig_directions(rig, 9, g) for _ in range(50)])
        axis = torch.nn.functional.normalize(d.mean(1), dim=-1)
        return torch.rad2deg(torch.acos((d * axis[:, None]).sum(-1).clamp(-1, 1))).amax(1)

    narrow, wide = spread("narrow"), spread("wide")
    assert narrow.max() < 55 and narrow.median() < 40 and wide.median() > 55
