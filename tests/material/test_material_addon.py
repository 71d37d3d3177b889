"""The add-on's surface material (bpy 5.0.1, no backend): roughness and height wired, colour
spaces right, a UV Mapping node repeating every texture, and re-runs that update it."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from photonormals.io.images import write_linear_png, write_normal_png, write_png, write_srgb_png

bpy = pytest.importorskip("bpy")
ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("_pn_batch", ROOT / "blender_addon" / "batch.py")
batch = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(batch)
addon = batch.load_addon()
results, material = addon.scene.results, addon.scene.material


def links(mat):
    return {(link.from_node.name, link.from_socket.name, link.to_node.name, link.to_socket.name)
            for link in mat.node_tree.links}


@pytest.fixture
def fetched(tmp_path):
    """What a material job returns (small maps written as predict writes them)."""
    rng = np.random.default_rng(0)
    normals = np.dstack([rng.normal(0, 0.1, (24, 32, 2)), np.ones((24, 32, 1))])
    normals /= np.linalg.norm(normals, axis=2, keepdims=True)
    write_normal_png(tmp_path / "normal.png", normals)
    write_srgb_png(tmp_path / "albedo.png", rng.uniform(0.2, 0.8, (24, 32, 3)))
    write_png(tmp_path / "height.png", (rng.uniform(0, 1, (24, 32)) * 65535).astype(np.uint16))
    write_linear_png(tmp_path / "roughness.png", rng.uniform(0.3, 0.9, (24, 32)), bits=8)
    write_linear_png(tmp_path / "mask.png", np.ones((24, 32)), bits=8)
    return [tmp_path / n for n in ("normal.png", "albedo.png", "height.png", "roughness.png",
                                   "mask.png")]


def test_a_surface_material_repeats_every_map(fetched, tmp_path):
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    scene = bpy.context.scene
    imported = results.import_maps(scene, fetched, tmp_path / "out", "wall",
                                   displacement_scale=0.05, tiling=3.0)
    mat = imported.material
    assert imported.images["roughness"].colorspace_settings.name == "Non-Color"
    assert imported.images["normal"].colorspace_settings.name == "Non-Color"
    assert imported.images["albedo"].colorspace_settings.name == "sRGB"
    wired = links(mat)
    assert (material.ROUGHNESS, "Color", material.PRINCIPLED, "Roughness") in wired
    assert (material.DISPLACEMENT, "Displacement", material.OUTPUT, "Displacement") in wired
    for name in (material.ALBEDO, material.NORMAL, material.HEIGHT, material.ROUGHNESS):
        assert (material.MAPPING, "Vector", name, "Vector") in wired, name
    assert tuple(mat.node_tree.nodes[material.MAPPING].inputs["Scale"].default_value) == (3, 3, 1)

    material.set_tiling(mat, 5.0)
    assert mat.node_tree.nodes[material.MAPPING].inputs["Scale"].default_value[0] == 5
    # a later run without tiling (a portrait onto the same plane) removes the mapping again
    again = results.import_maps(scene, fetched[:2], tmp_path / "out", "wall")
    assert again.material == mat
    names = set(mat.node_tree.nodes.keys())
    assert material.MAPPING not in names and material.ROUGHNESS not in names
    assert not any(link.to_socket.name == "Vector" for link in mat.node_tree.links)


def test_the_panel_settings_know_the_material_mode():
    import importlib

    # the module postpones its annotations: they are the property calls' source text
    props = importlib.import_module(f"{addon.__name__}.props").PhotoNormalsSettings
    assert "('material', 'Surface / Material'" in props.__annotations__["mode"]
    assert {"seamless", "tiling"} <= set(props.__annotations__)
