"""The installed add-on against a real local backend process (bpy 5.0.1, CPU).

Generate Normals through the operator on a calibrated multi-light set, re-runs, the
single-portrait "model not available" error, and failures: backend down, refused remote URL,
backend killed mid-job. Timers do not fire headless, so the tests call the timer's poll().
"""

import importlib.util
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import render_lambertian, sphere_normals, spread_lights
from photonormals.io.images import write_linear_png

bpy = pytest.importorskip("bpy")
import addon_utils  # noqa: E402 (comes with bpy, so only after it)

ROOT = Path(__file__).resolve().parents[1]
MODULE = "bl_ext.pn_backend_test.photonormals"
COUNT = 8


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def addon(tmp_path_factory):
    """The built zip installed with Blender's extension installer into a throw-away repository."""
    tmp = tmp_path_factory.mktemp("addon")
    target = _load("_pn_build", ROOT / "build_addon.py").build(tmp / "dist")
    repos = bpy.context.preferences.extensions.repos
    repo = repos.new(
        name="pn_backend_test", module="pn_backend_test", custom_directory=str(tmp / "repo")
    )
    assert bpy.ops.extensions.package_install_files(
        filepath=str(target), repo="pn_backend_test", enable_on_install=True) == {"FINISHED"}
    prefs = bpy.context.preferences.addons[MODULE].preferences
    prefs.python_executable, prefs.device = sys.executable, "cpu"
    yield sys.modules[MODULE]
    addon_utils.disable(MODULE)  # unregister stops the local backend
    repos.remove(repo)


@pytest.fixture(scope="module")
def photo_set(tmp_path_factory):
    """8 linear 16-bit renders (64 x 48) of a Lambertian sphere under known lights."""
    folder = tmp_path_factory.mktemp("sphere")
    normals, mask = sphere_normals(64)
    normals, mask = normals[8:56], mask[8:56]
    directions = spread_lights(COUNT, seed=4)
    albedo = np.broadcast_to(np.float32([0.7, 0.5, 0.4]), normals.shape)
    images = render_lambertian(normals, mask, directions, np.ones((COUNT, 3), np.float32), albedo)
    photos = []
    for k, image in enumerate(images):
        photos.append(folder / f"{k + 1:03d}.png")
        write_linear_png(photos[-1], image)
    np.savetxt(folder / "light_directions.txt", directions, fmt="%.6f")
    return photos, folder / "light_directions.txt"


@pytest.fixture
def scene(addon, tmp_path):
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)  # keeps the preferences
    if MODULE not in bpy.context.preferences.addons:
        addon_utils.enable(MODULE)
    prefs = bpy.context.preferences.addons[MODULE].preferences
    prefs.backend_mode, prefs.python_executable, prefs.device = "LOCAL", sys.executable, "cpu"
    prefs.output_dir = str(tmp_path / "maps")
    addon.state.STATE.__init__()
    return bpy.context.scene


def _prefs():
    return bpy.context.preferences.addons[MODULE].preferences


def _set_photos(scene, photos, light_file=None, mode="multi"):
    settings = scene.photonormals
    settings.photos.clear()
    for photo in photos:
        settings.photos.add().filepath = str(photo)
    settings.mode = mode
    settings.light_file = str(light_file or "")
    return settings


def _generate(addon, timeout=180.0):
    """Press Generate Normals, then play the timer until the job has been imported."""
    assert bpy.ops.photonormals.generate() == {"FINISHED"}
    return _finish(addon, timeout)


def _finish(addon, timeout=180.0):
    state = addon.state.STATE
    deadline = time.monotonic() + timeout
    while state.running and time.monotonic() < deadline:
        addon.controller.poll()
        time.sleep(0.05)
    assert not state.running, f"job still running: {state.stage}"
    return state


def test_generate_normals_wires_the_maps(addon, scene, photo_set, tmp_path):
    photos, lights = photo_set
    settings = _set_photos(scene, photos, lights)
    state = _generate(addon)
    assert state.last_error == "", state.last_hint
    assert state.device == "cpu" and state.backend == "connected"

    name = photos[0].parent.name  # a multi-light set is named after its folder
    published = {p.name for p in (tmp_path / "maps").iterdir()}
    assert {
        f"{name}_{m}" for m in ("normal.png", "albedo.png", "mask.png", "normal.npy", "lights.json")
    } <= published
    plane, mat = settings.last_object, settings.last_material
    nodes = mat.node_tree.nodes
    m = addon.scene.material
    assert nodes[m.NORMAL].image.colorspace_settings.name == "Non-Color"
    assert nodes[m.MASK].image.colorspace_settings.name == "Non-Color"
    assert nodes[m.ALBEDO].image.colorspace_settings.name == "sRGB"
    assert Path(nodes[m.NORMAL].image.filepath).parent == tmp_path / "maps"
    assert addon.scene.plane.plane_aspect(plane) == pytest.approx(64 / 48)
    assert {
        (link.from_node.name, link.to_node.name, link.to_socket.name)
        for link in mat.node_tree.links
    } == {
        (m.PRINCIPLED, m.OUTPUT, "Surface"),
        (m.ALBEDO, m.PRINCIPLED, "Base Color"),
        (m.NORMAL, m.NORMAL_MAP, "Color"),
        (m.NORMAL_MAP, m.PRINCIPLED, "Normal"),
        (m.MASK, m.PRINCIPLED, "Alpha"),
    }

    # The normals the backend solved really are the sphere's (RGB = (n + 1) / 2, rows top-down).
    image = nodes[m.NORMAL].image
    pixels = np.empty(64 * 48 * 4, np.float32)
    image.pixels.foreach_get(pixels)
    centre = pixels.reshape(48, 64, 4)[24, 32, :3] * 2 - 1
    assert centre == pytest.approx([0, 0, 1], abs=0.1)

    node_names = sorted(n.name for n in nodes)
    objects = len(bpy.data.objects)
    settings.normal_strength = 0.4  # the property updates the owned node live
    assert nodes[m.NORMAL_MAP].inputs["Strength"].default_value == pytest.approx(0.4)
    state = _generate(addon)
    assert state.last_error == ""
    assert settings.last_material == mat and sorted(n.name for n in nodes) == node_names
    assert len(bpy.data.objects) == objects
    # a second set, none overwritten
    assert len(list((tmp_path / "maps").glob("*_normal.png"))) == 2


def test_single_portrait_reports_model_not_available(addon, scene, photo_set, tmp_path):
    """A backend whose weights folder has no portrait model (an older or trimmed install)."""
    from photonormals.service import launch
    from test_service import make_weights  # a multi-light-only weights folder

    photos, _ = photo_set
    env = {"PHOTONORMALS_WEIGHTS": str(make_weights(tmp_path / "weights"))}
    process, url = launch.start_server(tmp_path / "server", env=env, timeout=60)
    try:
        prefs = _prefs()
        prefs.backend_mode, prefs.remote_url = "REMOTE", url
        _set_photos(scene, photos[:1], mode="single")
        state = _generate(addon)
    finally:
        launch.stop_server(process)
    assert "model not available" in state.last_error
    assert "multi-light" in state.last_hint.lower()
    assert not (tmp_path / "maps").exists()


def test_backend_down_is_reported_without_files(addon, scene, photo_set, tmp_path):
    photos, lights = photo_set
    _set_photos(scene, photos, lights)
    prefs = _prefs()
    prefs.backend_mode = "REMOTE"
    prefs.remote_url = f"http://127.0.0.1:{addon.backend.server.free_port()}"
    state = _generate(addon)
    assert "cannot reach" in state.last_error and "backend" in state.last_hint.lower()
    assert not (tmp_path / "maps").exists()


def test_remote_url_refused_while_online_access_is_off(addon, scene, photo_set):
    assert not bpy.app.online_access  # the bpy module's default
    photos, lights = photo_set
    _set_photos(scene, photos, lights)
    prefs = _prefs()
    prefs.backend_mode, prefs.remote_url = "REMOTE", "http://gpu.example.com:8765"
    with pytest.raises(RuntimeError, match="Online access is off"):
        bpy.ops.photonormals.generate()
    assert "Online access is off" in addon.state.STATE.last_error and not addon.state.STATE.running


@pytest.mark.parametrize("kill_during", ["wait", "fetch"])
def test_backend_killed_mid_job(addon, scene, photo_set, tmp_path, monkeypatch, kill_during):
    """A real server is killed after the job was submitted: an error, and no textures at all."""
    photos, lights = photo_set
    _set_photos(scene, photos, lights)
    server = addon.backend.server.LocalServer(sys.executable, "cpu", log_dir=str(tmp_path))
    url = server.start()
    client_module = addon.backend.client_loader.load_client()

    class Dying(client_module.Client):
        def wait(self, job_id, **kwargs):
            if kill_during == "wait":
                server.process.kill()
                server.process.wait()
            return super().wait(job_id, **kwargs)

        def fetch(self, job_id, out_dir):
            server.process.kill()
            server.process.wait()
            return super().fetch(job_id, out_dir)

    monkeypatch.setattr(addon.controller, "make_connect",
                        lambda prefs: (lambda: Dying(url, token=server.token), ""))
    try:
        state = _generate(addon)
    finally:
        server.stop()
    assert "cannot reach" in state.last_error or "dropped" in state.last_error
    assert not (tmp_path / "maps").exists()


def test_cancel_stops_the_job_and_writes_nothing(addon, scene, photo_set, tmp_path, monkeypatch):
    photos, lights = photo_set
    _set_photos(scene, photos, lights)
    real_connect = addon.controller.make_connect

    def held_until_cancel(prefs):  # the job waits for the Cancel button, so there is no race
        connect, problem = real_connect(prefs)

        def connect_held():
            client = connect()
            wait = client.wait

            def held(job_id, **kwargs):
                while not kwargs["should_cancel"]():
                    time.sleep(0.01)
                return wait(job_id, **kwargs)

            client.wait = held
            return client

        return connect_held, problem

    monkeypatch.setattr(addon.controller, "make_connect", held_until_cancel)
    assert bpy.ops.photonormals.generate() == {"FINISHED"}
    assert addon.state.STATE.running and not bpy.ops.photonormals.generate.poll()
    assert bpy.ops.photonormals.cancel() == {"FINISHED"}
    state = _finish(addon, 60)
    assert state.last_error == "Cancelled" and state.stage == "cancelled"
    assert not (tmp_path / "maps").exists()


def test_unusable_python_is_reported_with_a_hint(addon, scene, photo_set, tmp_path):
    photos, lights = photo_set
    _set_photos(scene, photos, lights)
    _prefs().python_executable = str(tmp_path / "no-such-python")
    state = _generate(addon)
    assert "Python executable not found" in state.last_error and "preferences" in state.last_hint
    assert not (tmp_path / "maps").exists()


def test_local_server_token_starting_with_a_dash(addon, tmp_path, monkeypatch):
    """secrets.token_urlsafe() starts with "-" one time in 64; argparse once took that for an
    option and the backend died at start-up. The token now travels in the environment."""
    server_module = addon.backend.server
    monkeypatch.setattr(server_module.secrets, "token_urlsafe", lambda n: "-dash-first-token")
    server = server_module.LocalServer(sys.executable, "cpu", log_dir=str(tmp_path))
    try:
        url = server.start()
        assert "-dash-first-token" not in " ".join(server.process.args)  # not visible in `ps`
        client_module = addon.backend.client_loader.load_client()
        with pytest.raises(client_module.PhotoNormalsError) as known:
            client_module.Client(url, token=server.token).status("no-such-job")
        with pytest.raises(client_module.PhotoNormalsError) as refused:
            client_module.Client(url, token="wrong").status("no-such-job")
        assert known.value.status == 404 and refused.value.status == 403
    finally:
        server.stop()
