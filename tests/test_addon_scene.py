"""Add-on scene work with bpy (5.0.1, and 4.2 LTS from .ci/run), no backend needed: the maps
come from `photonormals predict`.

Textures and colour spaces, the photo plane's aspect and place, the material links, re-runs that
update instead of duplicating (and leave no clutter), the user's material kept, relative paths,
the HDRI world and its restore, and Cycles bakes (aspect, depth, alpha, settings put back).
"""

import importlib.util
import os
import shutil
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
results, world, bake, material, images = (
    addon.scene.results,
    addon.scene.world,
    addon.scene.bake,
    addon.scene.material,
    addon.scene.images,
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


def map_images():
    return sorted(i.name for i in bpy.data.images if i.get(images.TAG))


def read_png(path):
    """(H, W, channels) array with the file's own integer type, rows top-down."""
    import cv2

    pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return pixels[..., [2, 1, 0, 3]] if pixels.shape[-1] == 4 else pixels


def test_maps_are_published_loaded_and_wired(scene, fetched, tmp_path):
    without_height = [f for f in fetched if not f.name.startswith("height")]
    done = results.import_maps(scene, without_height, tmp_path, "relief")

    # only what the material uses, the lights and the report: no normal.npy, no shading.png
    assert {p.name for p in tmp_path.iterdir()} == {
        f"relief_{name}" for name in ("albedo.png", "normal.png", "mask.png", "lights.json",
                                      "report.json")}
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


def test_new_plane_at_the_cursor_in_the_active_collection_selected(scene, fetched, tmp_path):
    """In the default scene the plane sat inside the cube, unselected, so Bake baked the cube."""
    cube = bpy.data.objects.new("Cube", bpy.data.meshes.new("Cube"))
    props = bpy.data.collections.new("Props")
    scene.collection.children.link(props)
    props.objects.link(cube)
    view_layer = bpy.context.view_layer
    view_layer.active_layer_collection = view_layer.layer_collection.children["Props"]
    view_layer.objects.active = cube
    cube.select_set(True)
    scene.cursor.location = (3.0, -1.0, 2.0)

    placement = results.Placement(props, tuple(scene.cursor.location), view_layer)
    done = results.import_maps(scene, fetched, tmp_path, "relief", placement=placement)

    assert tuple(done.obj.location) == pytest.approx((3.0, -1.0, 2.0))
    assert done.obj.name in props.objects and done.obj.name not in scene.collection.objects
    assert view_layer.objects.active == done.obj and done.obj.select_get()
    assert not cube.select_get()
    camera = addon.scene.camera.frame_plane(scene, done.obj, pixels=200)
    assert scene.camera == camera and camera.data.type == "ORTHO"
    width = 2.0 * 64 / 48  # the plane is 2 m high
    assert tuple(camera.location) == pytest.approx((3.0, -1.0 - 5.0 * width, 2.0))
    assert camera.data.ortho_scale == pytest.approx(width)
    assert (scene.render.resolution_x, scene.render.resolution_y) == (200, 150)


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
    loaded = map_images()

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
    # the earlier runs' images are gone from the file (their files stay on disk)
    assert len(map_images()) == len(loaded) == 4
    assert all(image.users > 0 for image in bpy.data.images if image.get(images.TAG))


def test_missing_height_is_skipped_with_a_note(scene, fetched, tmp_path):
    without_height = [f for f in fetched if not f.name.startswith("height")]
    done = results.import_maps(scene, without_height, tmp_path, "relief", displacement_scale=0.2)
    assert done.notes == [results.NO_HEIGHT_NOTE]
    assert material.DISPLACEMENT not in done.material.node_tree.nodes


def test_no_face_found_is_said(scene, fetched, tmp_path):
    report = tmp_path / "report.json"
    report.write_text('{"method": "single_portrait", "face_found": false}')
    maps = [f for f in fetched if f.name != "report.json"] + [report]
    done = results.import_maps(scene, maps, tmp_path / "out", "portrait")
    assert done.notes == [results.NO_FACE_NOTE]


def test_active_object_needs_uvs(scene, fetched, tmp_path):
    mesh = bpy.data.meshes.new("bare")
    mesh.from_pydata([(0, 0, 0), (1, 0, 0), (0, 1, 0)], [], [(0, 1, 2)])
    bare = bpy.data.objects.new("bare", mesh)
    with pytest.raises(ValueError, match="UV map"):
        results.import_maps(scene, fetched, tmp_path, "relief", target=bare)
    assert not any(tmp_path.iterdir())


def test_the_active_objects_own_material_is_kept(scene, fetched, tmp_path):
    """Apply to Active Object left the user's material with no user: gone on save."""
    mesh = bpy.data.meshes.new("Suzanne")
    mesh.from_pydata([(0, 0, 0), (1, 0, 0), (1, 0, 1), (0, 0, 1)], [], [(0, 1, 2, 3)])
    mesh.uv_layers.new(name="UVMap")
    obj = bpy.data.objects.new("Suzanne", mesh)
    scene.collection.objects.link(obj)
    mine = bpy.data.materials.new("My Material")
    obj.data.materials.append(mine)

    done = results.import_maps(scene, fetched, tmp_path / "maps", "relief", target=obj)
    assert obj.active_material == done.material and mine.users >= 1
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "kept.blend"))
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "kept.blend"))
    obj = bpy.data.objects["Suzanne"]
    assert "My Material" in bpy.data.materials  # survived the save

    assert material.restore_material(obj).name == "My Material"
    assert obj.active_material.name == "My Material" and material.PREVIOUS not in obj
    assert not any(m.get(material.TAG) for m in bpy.data.materials)


def test_saved_files_use_relative_paths_and_survive_a_move(scene, fetched, tmp_path):
    """Textures relative to the .blend, the bundled HDRI packed (its file is in the Blender
    install): the folder moved elsewhere still renders."""
    project = tmp_path / "project"
    blend = project / "shot.blend"
    project.mkdir()
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    placement = results.Placement(blend_path=str(blend))
    done = results.import_maps(scene, fetched, project / "photonormals", "relief",
                               placement=placement)
    hdri = world.set_hdri_world(scene, "forest", blend_path=str(blend))
    environment = hdri.node_tree.nodes[world.ENVIRONMENT].image
    environment_name = environment.name
    assert {image.filepath for image in done.images.values()} == {
        f"//photonormals/relief_{kind}.png" for kind in ("albedo", "normal", "mask", "height")}
    assert environment.packed_file is not None
    assert not bpy.path.abspath(environment.filepath).startswith(
        str(Path(bpy.utils.resource_path("LOCAL")).parent))
    bpy.ops.wm.save_mainfile()

    moved = tmp_path / "elsewhere"
    shutil.move(project, moved)
    bpy.ops.wm.open_mainfile(filepath=str(moved / "shot.blend"))
    for image in bpy.data.images:
        if image.get(images.TAG):
            assert Path(bpy.path.abspath(image.filepath)).is_file(), image.filepath
            assert image.size[0] > 0  # read from the moved file
    assert bpy.data.images[environment_name].packed_file is not None


def test_a_users_hdri_file_is_relative_to_the_blend(scene, tmp_path):
    hdr = tmp_path / "hdri" / "sky.exr"
    hdr.parent.mkdir()
    shutil.copyfile(world.studio_hdris()["studio"], hdr)
    image = world.hdri_image(str(hdr), blend_path=str(tmp_path / "scenes" / "a.blend"))
    assert image.filepath == "//../hdri/sky.exr" and image.packed_file is None


def test_hdri_world_is_set_and_restorable(scene):
    original = bpy.data.worlds.new("Mine")
    scene.world = original
    hdris = world.studio_hdris()
    assert {"studio", "forest", "city"} <= hdris.keys()
    assert next(iter(hdris)) == "studio"  # the panel's default, as the docs say
    assert addon.props.hdri_items(None, None)[0][0] == "studio"

    hdri = world.set_hdri_world(scene, "forest", rotation_deg=90, strength=2.0)
    assert scene.world == hdri and original.users >= 1  # kept alive for the restore
    nodes = hdri.node_tree.nodes
    assert nodes[world.ENVIRONMENT].image[world.IMAGE_TAG] == "bundled:forest"
    assert nodes[world.ENVIRONMENT].image.packed_file is not None
    assert nodes[world.MAPPING].inputs["Rotation"].default_value[2] == pytest.approx(np.pi / 2)
    assert nodes[world.BACKGROUND].inputs["Strength"].default_value == 2.0
    world.set_hdri_world(scene, "studio")  # switching HDRI keeps the user's world as "previous"
    assert not any(i.get(world.IMAGE_TAG) == "bundled:forest" for i in bpy.data.images)
    with pytest.raises(ValueError, match="neither a file"):
        world.set_hdri_world(scene, "no-such-hdri")

    assert world.restore_world(scene) == original and scene.world == original
    assert world.eevee_engine() == (
        "BLENDER_EEVEE" if bpy.app.version >= (5, 0, 0) else "BLENDER_EEVEE_NEXT"  # 4.2 - 4.5
    )


def test_bake_has_the_photos_aspect_and_the_masks_alpha(scene, fetched, tmp_path):
    done = results.import_maps(scene, fetched, tmp_path / "maps", "relief")
    world.set_hdri_world(scene, "studio")
    out = bake.bake(done.obj, "combined", tmp_path / "bake.png", size=48, margin=2, samples=2)
    albedo = bake.bake(done.obj, "albedo", tmp_path / "albedo.png", size=32, margin=2, samples=1)

    mask = read_png(tmp_path / "maps" / "relief_mask.png") > 127
    for path, shape in ((out, (36, 48)), (albedo, (24, 32))):
        pixels = read_png(path)
        assert pixels.shape == (*shape, 4) and pixels.dtype == np.uint8
        assert pixels[..., :3][pixels[..., 3] > 250].std() > 5
        rows = ((np.arange(shape[0]) + 0.5) * mask.shape[0] / shape[0]).astype(int)
        cols = ((np.arange(shape[1]) + 0.5) * mask.shape[1] / shape[1]).astype(int)
        small = mask[rows][:, cols]
        inside, outside = pixels[..., 3][small], pixels[..., 3][~small]
        assert np.median(inside) == 255 and np.median(outside) == 0  # alpha is the mask
    # no temp file left, no bake node or image left in the file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["albedo.png", "bake.png", "maps"]
    assert bake.TARGET_NODE not in done.material.node_tree.nodes
    assert not [i for i in bpy.data.images if i.name.startswith("PhotoNormals bake")]


def test_normal_bake_is_16_bit_and_exr_is_float(scene, fetched, tmp_path):
    import OpenEXR

    done = results.import_maps(scene, fetched, tmp_path / "maps", "relief")
    png = bake.bake(done.obj, "normal", tmp_path / "n.png", size=32, margin=0, samples=1)
    pixels = read_png(png)
    assert pixels.dtype == np.uint16 and pixels.shape == (24, 32, 4)
    exr = bake.bake(done.obj, "normal", tmp_path / "n.exr", size=32, margin=0, samples=1)
    channels = OpenEXR.File(str(exr)).channels()
    rgba = channels["RGBA"].pixels
    assert rgba.dtype == np.float32 and rgba.shape == (24, 32, 4)
    assert np.allclose(rgba[..., :3], pixels[..., :3] / 65535, atol=2e-4)
    assert np.allclose(rgba[..., 3], pixels[..., 3] / 65535, atol=2e-4)


def test_bake_puts_back_the_render_settings_and_the_selection(scene, fetched, tmp_path):
    done = results.import_maps(scene, fetched, tmp_path / "maps", "relief")
    other = bpy.data.objects.new("Empty", None)
    scene.collection.objects.link(other)
    bpy.context.view_layer.objects.active = other
    other.select_set(True)
    done.obj.select_set(False)
    scene.render.engine = world.eevee_engine()
    scene.cycles.samples, scene.cycles.use_denoising = 128, True
    scene.render.bake.margin = 7

    bake.bake(done.obj, "diffuse", tmp_path / "d.png", size=16, margin=2, samples=1)

    assert scene.render.engine == world.eevee_engine()
    assert (scene.cycles.samples, scene.cycles.use_denoising) == (128, True)
    assert scene.render.bake.margin == 7
    assert bpy.context.view_layer.objects.active == other and other.select_get()
    assert not done.obj.select_get()


def test_bake_job_cancelled_writes_nothing_and_puts_everything_back(scene, fetched, tmp_path):
    """The Bake button runs Blender's bake job (progress, Esc) and follows it with Blender's
    bake handlers; headless there is no event loop, so the job's two endings are played here."""
    done = results.import_maps(scene, fetched, tmp_path / "maps", "relief")
    settings = type("Settings", (), {"bake_type": "normal", "bake_format": "AUTO",
                                     "bake_size": 16, "bake_margin": 0, "bake_samples": 1})()
    scene.render.engine = world.eevee_engine()

    cancelled = addon.bakejob.BakeJob(done.obj, tmp_path / "bakes", settings)
    assert cancelled.target.suffix == ".png" and cancelled.poll(job_running=True) == "running"
    cancelled._on_cancel(scene)
    assert cancelled.poll(job_running=True) == "cancelled"
    assert not list((tmp_path / "bakes").iterdir())
    assert scene.render.engine == world.eevee_engine()
    assert bake.TARGET_NODE not in done.material.node_tree.nodes

    finished = addon.bakejob.BakeJob(done.obj, tmp_path / "bakes", settings)
    bake.run(finished.session)  # what Blender's job does in the background
    finished._on_complete(scene)
    assert finished.poll(job_running=False) == "done" and finished.path.is_file()
    assert scene.render.engine == world.eevee_engine()

    with pytest.raises(addon.bakejob.BakeError, match="Save the .blend"):
        addon.bakejob.BakeJob(done.obj, None, settings)


def test_files_follow_the_umask(scene, fetched, tmp_path):
    """Maps and bakes were 0600 (tempfile's private mode): unreadable on a render farm."""
    old = os.umask(0o002)
    try:
        done = results.import_maps(scene, fetched, tmp_path / "maps", "relief")
        baked = bake.bake(done.obj, "albedo", tmp_path / "maps" / "b.png", size=16, margin=0,
                          samples=1)
    finally:
        os.umask(old)
    for path in [*done.files.values(), baked]:
        assert path.stat().st_mode & 0o777 == 0o664, path


def test_import_maps_rebuilds_from_files_on_disk(scene, fetched, tmp_path):
    """What an older Blender (4.2 LTS cannot open a 5.x .blend) uses to rebuild the material."""
    results.import_maps(scene, fetched, tmp_path, "relief")
    name, files = results.find_maps(tmp_path / "relief_normal.png")
    assert name == "relief" and {"normal.png", "albedo.png", "mask.png"} <= files.keys()
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    done = results.wire_files(bpy.context.scene, files, name)
    assert done.images["normal"].filepath == str(tmp_path / "relief_normal.png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no normal map"):
        results.find_maps(tmp_path / "empty")


def test_plane_turns_camera_normals_into_world_normals(scene, fetched, tmp_path):
    """Camera x, y, z = world X, Z, -Y: an object-space bake of the sphere's normal map shows it."""
    done = results.import_maps(scene, fetched, tmp_path / "maps", "relief")
    scene.render.bake.normal_space = "OBJECT"
    path = bake.bake(done.obj, "normal", tmp_path / "n.png", size=64, margin=0, samples=1)
    world_n = read_png(path)[::-1, :, :3] / 65535 * 2 - 1  # rows bottom-up, like V
    right, top, centre = world_n[24, 52], world_n[44, 32], world_n[24, 32]
    assert right[0] > 0.5 and abs(right[2]) < 0.3  # camera +x -> world +X
    assert top[2] > 0.5 and abs(top[0]) < 0.3  # camera +y (up) -> world +Z
    assert centre[1] < -0.9  # camera +z (toward the viewer) -> world -Y
