"""Add-on scene work with bpy (5.0.1, and 4.2 LTS from .ci/run), no backend needed: the maps
come from `photonormals predict`.

Textures and colour spaces, the photo plane's aspect, the material links, re-runs that update
instead of duplicating, the HDRI world and its restore, and a Cycles bake.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from conftest import render_lambertian, sphere_normals, spread_lights
from photonormals.cli.main import main as photonormals
from photonormals.io.images import write_linear_png

bpy = pytest.importorskip("bpy")
ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("_pn_batch", ROOT / "blender_addon" / "batch.py")
batch = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(batch)
addon = batch.load_addon()
results, world, bake, material = (
    addon.scene.results,
    addon.scene.world,
    addon.scene.bake,
    addon.scene.material,
)


def links(mat):
    return {(link.from_node.name, link.from_socket.name, link.to_node.name, link.to_socket.name)
            for link in mat.node_tree.links}


@pytest.fixture(scope="module")
def fetched(tmp_path_factory):
    """What a backend job returns, made by the CLI: a 64 x 48 sphere crop, plus a height map."""
    tmp = tmp_path_factory.mktemp("maps")
    normals, mask = sphere_normals(64)
    normals, mask = normals[8:56], mask[8:56]
    directions = spread_lights(6, seed=2)
    albedo = np.broadcast_to(np.float32([0.8, 0.5, 0.3]), normals.shape)
    images = render_lambertian(normals, mask, directions, np.ones((6, 3), np.float32), albedo)
    paths = []
    for k, image in enumerate(images):
        paths.append(tmp / f"{k:03d}.png")
        write_linear_png(paths[-1], image)
    np.savetxt(tmp / "light_directions.txt", directions)
    out = tmp / "job"
    assert (
        photonormals(
            [
                "predict",
                "--lights",
                str(tmp / "light_directions.txt"),
                "--out",
                str(out),
                *map(str, paths),
            ]
        )
        == 0
    )
    assert photonormals(["height", str(out)]) == 0
    return sorted(p for p in out.iterdir() if p.suffix != ".json" or p.name != "height.json")


@pytest.fixture
def scene():
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    return bpy.context.scene


def test_maps_are_published_loaded_and_wired(scene, fetched, tmp_path):
    without_height = [f for f in fetched if not f.name.startswith("height")]
    done = results.import_maps(scene, without_height, tmp_path, "relief")

    assert {p.name for p in tmp_path.iterdir()} == {f"relief_{f.name}" for f in without_height}
    spaces = {kind: image.colorspace_settings.name for kind, image in done.images.items()}
    assert spaces == {"albedo": "sRGB", "normal": "Non-Color", "mask": "Non-Color"}
    assert tuple(done.images["normal"].size) == (64, 48)
    assert addon.scene.plane.plane_aspect(done.obj) == pytest.approx(64 / 48)
    face = done.obj.data.polygons[0]
    assert tuple(face.normal) == pytest.approx((0, -1, 0))  # faces the front view (camera on -Y)

    m = material
    assert links(done.material) == {
        (m.PRINCIPLED, "BSDF", m.OUTPUT, "Surface"),
        (m.ALBEDO, "Color", m.PRINCIPLED, "Base Color"),
        (m.NORMAL, "Color", m.NORMAL_MAP, "Color"),
        (m.NORMAL_MAP, "Normal", m.PRINCIPLED, "Normal"),
        (m.MASK, "Color", m.PRINCIPLED, "Alpha"),
    }
    nodes = done.material.node_tree.nodes
    assert nodes[m.ALBEDO].image == done.images["albedo"]
    assert nodes[m.NORMAL].image == done.images["normal"]
    assert nodes[m.NORMAL_MAP].space == "TANGENT"


def test_rerun_updates_owned_nodes_and_never_overwrites(scene, fetched, tmp_path):
    first = results.import_maps(scene, fetched, tmp_path, "relief", displacement_scale=0.2)
    user_node = first.material.node_tree.nodes.new("ShaderNodeValue")  # the user's own node stays
    names = sorted(n.name for n in first.material.node_tree.nodes)
    assert material.DISPLACEMENT in names and (
        material.DISPLACEMENT,
        "Displacement",
        material.OUTPUT,
        "Displacement",
    ) in links(first.material)

    directx = results.import_maps(
        scene, fetched, tmp_path, "relief", directx=True, displacement_scale=0.2
    )
    assert (material.DX_JOIN, "Color", material.NORMAL_MAP, "Color") in links(directx.material)
    again = results.import_maps(
        scene, fetched, tmp_path, "relief", displacement_scale=0.2, strength=0.5
    )

    assert again.obj == first.obj and again.material == first.material
    assert sorted(n.name for n in again.material.node_tree.nodes) == names
    assert user_node.name in again.material.node_tree.nodes
    assert [o.name for o in scene.objects] == [first.obj.name]
    assert (
        again.material.node_tree.nodes[material.NORMAL_MAP].inputs["Strength"].default_value == 0.5
    )
    assert again.material.node_tree.nodes[material.NORMAL].image == again.images["normal"]
    published = {p.name for p in tmp_path.iterdir()}
    assert {"relief_normal.png", "relief_002_normal.png", "relief_003_normal.png"} <= published


def test_missing_height_is_skipped_with_a_note(scene, fetched, tmp_path):
    without_height = [f for f in fetched if not f.name.startswith("height")]
    done = results.import_maps(scene, without_height, tmp_path, "relief", displacement_scale=0.2)
    assert done.notes == [results.NO_HEIGHT_NOTE]
    assert material.DISPLACEMENT not in done.material.node_tree.nodes


def test_active_object_needs_uvs(scene, fetched, tmp_path):
    mesh = bpy.data.meshes.new("bare")
    mesh.from_pydata([(0, 0, 0), (1, 0, 0), (0, 1, 0)], [], [(0, 1, 2)])
    bare = bpy.data.objects.new("bare", mesh)
    with pytest.raises(ValueError, match="UV map"):
        results.import_maps(scene, fetched, tmp_path, "relief", target=bare)
    assert not any(tmp_path.iterdir())


def test_hdri_world_is_set_and_restorable(scene):
    original = bpy.data.worlds.new("Mine")
    scene.world = original
    hdris = world.studio_hdris()
    assert {"studio", "forest", "city"} <= hdris.keys()

    hdri = world.set_hdri_world(scene, "forest", rotation_deg=90, strength=2.0)
    assert scene.world == hdri and original.users >= 1  # kept alive for the restore
    nodes = hdri.node_tree.nodes
    assert Path(nodes[world.ENVIRONMENT].image.filepath) == hdris["forest"]
    assert nodes[world.MAPPING].inputs["Rotation"].default_value[2] == pytest.approx(np.pi / 2)
    assert nodes[world.BACKGROUND].inputs["Strength"].default_value == 2.0
    world.set_hdri_world(scene, "studio")  # switching HDRI keeps the user's world as "previous"
    with pytest.raises(ValueError, match="neither a file"):
        world.set_hdri_world(scene, "no-such-hdri")

    assert world.restore_world(scene) == original and scene.world == original
    assert world.eevee_engine() == (
        "BLENDER_EEVEE" if bpy.app.version >= (5, 0, 0) else "BLENDER_EEVEE_NEXT"  # 4.2 - 4.5
    )


def test_bake_writes_a_sized_non_constant_image(scene, fetched, tmp_path):
    done = results.import_maps(scene, fetched, tmp_path / "maps", "relief")
    world.set_hdri_world(scene, "studio")
    out = bake.bake(done.obj, "combined", tmp_path / "bake.png", size=48, margin=2, samples=2)
    albedo = bake.bake(done.obj, "albedo", tmp_path / "albedo.png", size=32, margin=2, samples=1)

    for path, size in ((out, 48), (albedo, 32)):
        image = bpy.data.images.load(str(path), check_existing=False)
        assert tuple(image.size) == (size, size)
        pixels = np.empty(size * size * 4, np.float32)
        image.pixels.foreach_get(pixels)
        assert pixels.reshape(-1, 4)[:, :3].std() > 0.02
    # no temp left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["albedo.png", "bake.png", "maps"]


def test_plane_turns_camera_normals_into_world_normals(scene, fetched, tmp_path):
    """Camera x, y, z = world X, Z, -Y: an object-space bake of the sphere's normal map shows it."""
    done = results.import_maps(scene, fetched, tmp_path / "maps", "relief")
    scene.render.bake.normal_space = "OBJECT"
    path = bake.bake(done.obj, "normal", tmp_path / "n.png", size=64, margin=0, samples=1)
    image = bpy.data.images.load(str(path))
    pixels = np.empty(64 * 64 * 4, np.float32)
    image.pixels.foreach_get(pixels)
    world_n = pixels.reshape(64, 64, 4)[..., :3] * 2 - 1  # rows bottom-up, like V
    right, top, centre = world_n[32, 52], world_n[52, 32], world_n[32, 32]
    assert right[0] > 0.5 and abs(right[2]) < 0.3  # camera +x -> world +X
    assert top[2] > 0.5 and abs(top[0]) < 0.3  # camera +y (up) -> world +Z
    assert centre[1] < -0.9  # camera +z (toward the viewer) -> world -Y
