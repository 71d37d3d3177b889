"""The installed add-on against a real local backend process (bpy 5.0.1 and 4.2 LTS, CPU).

Generate Normals through the operator on a calibrated multi-light set, re-runs, the panel's
light intensities, mask and displacement, Bake / Frame Camera / Import Maps in the default
scene, the single-portrait "model not available" error, and failures: unsaved file, File > New
during a job, backend down, refused remote URL, backend killed mid-job or with Blender. Timers
do not fire headless, so the tests call the timer's poll().
"""

import functools
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

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
    assert published == {
        f"{name}_{m}" for m in ("normal.png", "albedo.png", "mask.png", "lights.json",
                                "report.json")}
    plane, mat = settings.last_object, settings.last_material
    assert bpy.context.view_layer.objects.active == plane and plane.select_get()
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


def test_intensities_mask_and_displacement_reach_the_backend(addon, scene, photo_set, tmp_path):
    """The panel's Intensities and Mask fields, as the batch sends them, and a height map for
    the Displacement option."""
    photos, lights = photo_set
    settings = _set_photos(scene, photos, lights)
    intensities = np.linspace(0.5, 1.0, COUNT * 3).reshape(COUNT, 3)
    np.savetxt(tmp_path / "light_intensities.txt", intensities, fmt="%.6f")
    normals, mask = sphere_normals(64)
    left = mask[8:56].copy()
    left[:, 32:] = False
    write_linear_png(tmp_path / "mask.png", left.astype(np.float32), bits=8)
    settings.intensities_file = str(tmp_path / "light_intensities.txt")
    settings.mask_file = str(tmp_path / "mask.png")
    settings.use_displacement = True
    settings.input_colorspace = "srgb"  # not what auto reads these 16-bit renders as
    state = _generate(addon)
    assert state.last_error == "", state.last_hint

    name = photos[0].parent.name
    maps = tmp_path / "maps"
    sent = json.loads((maps / f"{name}_lights.json").read_text())["lights"]
    assert np.allclose([light["intensity"] for light in sent], intensities, atol=1e-5)
    report = json.loads((maps / f"{name}_report.json").read_text())
    assert report["mask_source"] == "given"
    assert {f["colorspace"] for f in report["inputs"]} == {"srgb"}
    assert (maps / f"{name}_height.png").is_file()
    m = addon.scene.material
    nodes = settings.last_material.node_tree.nodes
    assert nodes[m.HEIGHT].image.filepath.endswith(f"{name}_height.png")
    assert nodes[m.DISPLACEMENT].outputs[0].links[0].to_socket.name == "Displacement"
    assert not any("height map" in note for note in state.notes)


def test_material_mode_sends_no_hidden_mask_and_no_height_option(addon, scene, photo_set,
                                                                   tmp_path):
    """The panel hides Mask in material mode: one set earlier (even a file since deleted) is
    neither checked nor sent, and the material result brings its own height map."""
    photos, _ = photo_set
    settings = _set_photos(scene, photos[:1], mode="material")
    settings.mask_file = str(tmp_path / "gone.png")
    settings.use_displacement = True
    assert addon.controller._check_request(settings, [str(photos[0])]) is None
    request = addon.controller._request(settings, _prefs(), [str(photos[0])], tmp_path)
    assert request.mask_file is None and "height" not in request.options
    assert request.options["mode"] == "material" and "seamless" in request.options
    assert request.options["light_from"] == "auto"  # the default: detected


class _Layout:
    """Records what a panel draws: the properties by name, the labels by text."""

    def __init__(self, shown):
        self.shown = shown

    def prop(self, data, name, **kwargs):
        self.shown.append(name)

    def label(self, text="", **kwargs):
        self.shown.append(text)

    def __getattr__(self, name):  # row, box, operator...: more of the same layout
        return lambda *args, **kwargs: self


def test_light_comes_from_is_shown_and_sent_for_one_material_photo(addon, scene, photo_set,
                                                                    tmp_path):
    photos, _ = photo_set

    def drawn(count, mode):
        _set_photos(scene, photos[:count], mode=mode)
        shown = []
        addon.panel.PHOTONORMALS_PT_main.draw(SimpleNamespace(layout=_Layout(shown)), bpy.context)
        return shown

    assert "light_from" in drawn(1, "material")
    assert not any("turn it" in str(text) for text in drawn(1, "material"))  # the old hint
    assert "light_from" not in drawn(3, "material") and "light_from" not in drawn(1, "multi")

    settings = _set_photos(scene, photos[:1], mode="material")
    settings.light_from = "left"
    request = addon.controller._request(settings, _prefs(), [str(photos[0])], tmp_path)
    assert request.options["light_from"] == "left"
    settings.light_from = "auto"  # detected by the backend
    request = addon.controller._request(settings, _prefs(), [str(photos[0])], tmp_path)
    assert request.options["light_from"] == "auto"
    settings = _set_photos(scene, photos[:3], mode="material")
    request = addon.controller._request(settings, _prefs(), [str(p) for p in photos[:3]],
                                        tmp_path)
    assert "light_from" not in request.options  # lamp-lit photos: photometric stereo
    settings.mode = "multi"
    request = addon.controller._request(settings, _prefs(), [str(photos[0])], tmp_path)
    assert "light_from" not in request.options


def test_unsaved_file_without_output_folder_is_refused(addon, scene, photo_set):
    """Maps in the temp folder were lost on reboot and the .blend could not find them."""
    photos, lights = photo_set
    _set_photos(scene, photos, lights)
    _prefs().output_dir = ""
    with pytest.raises(RuntimeError, match="Save the .blend file first"):
        bpy.ops.photonormals.generate()
    state = addon.state.STATE
    assert not state.running and "Output Folder" in state.last_error


def test_result_after_file_new_is_kept_but_not_added_to_the_new_file(
        addon, scene, photo_set, tmp_path):
    photos, lights = photo_set
    _set_photos(scene, photos, lights)
    assert bpy.ops.photonormals.generate() == {"FINISHED"}
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)  # File > New
    state = _finish(addon)
    assert state.last_error == ""
    assert not [o for o in bpy.data.objects if o.get("photonormals_plane")]
    assert not [m for m in bpy.data.materials if m.get("photonormals")]
    name = photos[0].parent.name
    assert (tmp_path / "maps" / f"{name}_normal.png").is_file()  # kept on disk
    assert "not added to this file" in state.notes[0]


def test_panel_never_shows_command_line_wording(addon, scene, photo_set):
    photos, lights = photo_set
    settings = _set_photos(scene, photos[:1], lights, mode="auto")
    with pytest.raises(RuntimeError, match="A light file is set but the set has one photo"):
        bpy.ops.photonormals.generate()
    settings = _set_photos(scene, photos[:5], lights)
    with pytest.raises(RuntimeError, match="has 8 lights for 5 photos"):
        bpy.ops.photonormals.generate()
    settings.light_file = ""
    settings.intensities_file = str(lights)
    with pytest.raises(RuntimeError, match="Light intensities need the light file"):
        bpy.ops.photonormals.generate()
    wording = addon.backend.jobs.panel_wording
    assert wording("--lights is for multi-light sets; single mode takes one portrait") == (
        "The light file is for multi-light sets; Single Portrait mode takes one portrait")
    from photonormals.predict import NO_PERSON_MESSAGE  # the backend's words for a photo of no one

    text, hint = addon.backend.jobs.describe_error(RuntimeError(NO_PERSON_MESSAGE))
    assert text.startswith("No person found in the photo") and "use Multi-Light mode" in text
    assert "use Surface / Material mode" in text and "--" not in text
    assert hint == "Single Portrait needs a photo of one person, face visible"


def test_bake_frame_and_import_in_the_default_scene(addon, scene, photo_set, tmp_path):
    """The default cube is active when Generate is pressed: the new plane must become the
    active object, so Bake bakes the plane, never the cube (nor adds a node to its material)."""
    photos, lights = photo_set
    bpy.ops.wm.read_homefile(use_factory_startup=True)  # the default cube, camera and light
    scene = bpy.context.scene
    cube = bpy.data.objects["Cube"]
    user_camera = scene.camera
    cube_nodes = sorted(n.name for n in cube.active_material.node_tree.nodes)
    scene.cursor.location = (0.0, -3.0, 0.0)  # in front of the cube
    settings = _set_photos(scene, photos, lights)
    assert _generate(addon).last_error == ""
    plane = settings.last_object
    assert bpy.context.view_layer.objects.active == plane
    assert tuple(plane.location) == pytest.approx((0.0, -3.0, 0.0))

    settings.bake_type, settings.bake_size, settings.bake_samples = "albedo", 32, 1
    assert bpy.ops.photonormals.bake() == {"FINISHED"}
    baked = sorted((tmp_path / "maps").glob("*_bake_albedo.png"))
    assert [p.name for p in baked] == [f"{plane.name.replace(' ', '_')}_bake_albedo.png"]
    assert sorted(n.name for n in cube.active_material.node_tree.nodes) == cube_nodes

    assert bpy.ops.photonormals.frame_camera() == {"FINISHED"}
    assert scene.camera.name == "PhotoNormals Camera" and user_camera.name in scene.objects
    assert scene.render.resolution_x == 1920 and scene.render.resolution_y == 1440  # 4:3

    normal = next((tmp_path / "maps").glob("*_normal.png"))
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    assert bpy.ops.photonormals.import_maps(filepath=str(normal)) == {"FINISHED"}
    imported = bpy.context.scene.photonormals.last_object
    assert imported is not None and imported.active_material.get("photonormals")


def test_bake_button_starts_blenders_bake_job_and_follows_it(
        addon, scene, photo_set, tmp_path, monkeypatch):
    """The button's invoke() starts object.bake with INVOKE_DEFAULT (Blender's job: progress in
    the status bar, Esc) and a modal timer follows it. Headless there is no event loop: Blender
    runs that bake at once, and the operator's methods are called here as the window would."""
    photos, lights = photo_set
    settings = _set_photos(scene, photos, lights)
    assert _generate(addon).last_error == ""
    settings.bake_type, settings.bake_size, settings.bake_samples = "normal", 32, 1
    operator = addon.operators.PHOTONORMALS_OT_bake
    calls = []
    wm = SimpleNamespace(event_timer_add=lambda step, window: calls.append("timer") or "T",
                         modal_handler_add=lambda op: calls.append("modal"),
                         event_timer_remove=lambda timer: calls.append("removed"))
    context = SimpleNamespace(
        window="W", window_manager=wm, screen=None, scene=bpy.context.scene,
        view_layer=bpy.context.view_layer, active_object=bpy.context.active_object,
        preferences=bpy.context.preferences, temp_override=bpy.context.temp_override)
    me = SimpleNamespace(report=lambda kind, text: calls.append(text), _job=None, _timer=None)
    me._fail = functools.partial(operator._fail, me)
    me._job_for = functools.partial(operator._job_for, me)
    monkeypatch.setattr(addon.operators, "no_event_loop", lambda context: False)

    assert operator.invoke(me, context, None) == {"RUNNING_MODAL"}
    assert addon.state.STATE.baking and calls[:2] == ["timer", "modal"]
    assert not bpy.ops.photonormals.bake.poll()  # one bake at a time
    assert operator.modal(me, context, SimpleNamespace(type="ESC")) == {"PASS_THROUGH"}
    assert operator.modal(me, context, SimpleNamespace(type="TIMER")) == {"FINISHED"}
    assert not addon.state.STATE.baking and "removed" in calls
    assert me._job.path.is_file() and me._job.path.suffix == ".png"


def test_apply_to_active_object_keeps_its_material(addon, scene, photo_set):
    photos, lights = photo_set
    settings = _set_photos(scene, photos, lights)
    bpy.ops.mesh.primitive_plane_add()
    obj = bpy.context.active_object
    mine = bpy.data.materials.new("Mine")
    obj.data.materials.append(mine)
    settings.target = "ACTIVE"
    assert _generate(addon).last_error == ""
    assert obj.active_material.get("photonormals") and mine.users >= 1
    assert bpy.ops.photonormals.restore_material() == {"FINISHED"}
    assert obj.active_material == mine


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
    assert "model not available" in state.last_error.lower()
    assert "multi-light" in state.last_hint.lower()
    assert not (tmp_path / "maps").exists()


def test_backend_down_is_reported_without_files(addon, scene, photo_set, tmp_path):
    photos, lights = photo_set
    _set_photos(scene, photos, lights)
    prefs = _prefs()
    prefs.backend_mode = "REMOTE"
    prefs.remote_url = f"http://127.0.0.1:{addon.backend.server.free_port()}"
    state = _generate(addon)
    assert "cannot reach" in state.last_error.lower() and "backend" in state.last_hint.lower()
    assert state.backend == "unreachable"
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
    assert "cannot reach" in state.last_error.lower() or "dropped" in state.last_error
    assert state.backend == "unreachable"  # not "connected" any more
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


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")  # a zombie has exited; only its exit status is left


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process states from /proc")
def test_backend_exits_when_blender_dies(tmp_path):
    """Blender killed (a crash runs no exit handler): the local backend must not stay behind
    with its model in memory, nor its log in the temp folder."""
    batch_py, logs = str(ROOT / "blender_addon" / "batch.py"), str(tmp_path)
    script = (
        "import importlib.util, json, sys, time\n"
        f"spec = importlib.util.spec_from_file_location('b', {batch_py!r})\n"
        "batch = importlib.util.module_from_spec(spec); spec.loader.exec_module(batch)\n"
        "addon = batch.load_addon()\n"
        f"server = addon.backend.server.LocalServer(sys.executable, 'cpu', log_dir={logs!r})\n"
        "server.start()\n"
        "print(json.dumps([server.process.pid, str(server.log_path)]), flush=True)\n"
        "time.sleep(600)\n"
    )
    blender = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        pid, log = json.loads(blender.stdout.readline())
        assert not _gone(pid) and Path(log).is_file()
    finally:
        blender.kill()
        blender.wait()
    deadline = time.monotonic() + 30
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _gone(pid), "the backend outlived Blender"
    deadline = time.monotonic() + 5
    while Path(log).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(log).exists()
