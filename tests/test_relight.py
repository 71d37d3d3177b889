"""HDRI relighting: env-map orientation, SH9 and pre-convolved irradiance against brute force,
relight_dir's shaders and backgrounds, and the relight CLI. Environment maps are made here."""

import sys

import cv2
import numpy as np
import pytest
import torch
from conftest import sphere_normals
from photonormals.errors import UserError
from photonormals.io.images import read_image, write_linear_png, write_npy, write_srgb_png
from photonormals.relight import envmap, shading
from photonormals.relight.relight import relight_dir, write_relit
from photonormals.relight.sh import project_sh9, sh9_irradiance

H, W = 32, 64  # environment maps
SIZE = 24  # predict folders


def fibonacci_sphere(count):
    i = np.arange(count) + 0.5
    z = 1 - 2 * i / count
    phi = np.pi * (1 + 5**0.5) * i
    r = np.sqrt(1 - z * z)
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


def sky_env(h=H, w=W):
    """A smooth sky: bright blue above, warm ground below, brighter toward the camera's +x."""
    dirs = envmap.pixel_directions(h, w)
    up, right = dirs[..., 1:2], dirs[..., 0:1]
    return (0.6 + 0.4 * up * np.float32([0.6, 0.8, 1.0]) + 0.2 * right).astype(np.float32)


def sun_env(direction=(0.6, 0.6, 0.52), h=64, w=128, radius_deg=3.0, power=200.0):
    """A dim sky plus a small disk about `power` times brighter than it."""
    dirs = envmap.pixel_directions(h, w)
    sun = np.float32(direction) / np.linalg.norm(direction)
    disk = (dirs @ sun) > np.cos(np.radians(radius_deg))
    env = np.full((h, w, 3), 0.2, np.float32) + 0.1 * np.clip(dirs[..., 1:2], 0, None)
    env[disk] += power * 0.2 * np.float32([1.0, 0.9, 0.8])
    return env


def errors(estimate, reference):
    """(mean relative error, max error relative to the mean irradiance over the sphere)."""
    mean = (np.abs(estimate - reference) / reference).mean()
    worst = (np.abs(estimate - reference) / reference.mean(axis=0)).max()
    return mean, worst


# ----------------------------------------------------------------------------- orientation


def test_directions_follow_blenders_equirect_and_front_view():
    # camera -z looks into the scene = world +Y: Cycles puts that at u = 0.25; up is the top row
    u, v = envmap.direction_to_uv(np.array([[0.0, 0, -1], [0, 0, 1], [1, 0, 0], [0, 1, 0]]))
    assert np.allclose(u[:3], [0.25, 0.75, 0.5]) and np.allclose(v, [0.5, 0.5, 0.5, 1.0])
    # the Mapping node's Z rotation looks the texture up at Rz(rot) D: u moves by -rot / 360
    u_rot, _ = envmap.direction_to_uv(np.array([[1.0, 0, 0]]), 90.0)
    assert np.allclose(u_rot, 0.25)
    dirs = fibonacci_sphere(200)
    for rotation in (0.0, 37.0, -120.0):
        assert np.allclose(
            envmap.uv_to_direction(*envmap.direction_to_uv(dirs, rotation), rotation),
            dirs,
            atol=1e-9,
        )


def test_rotate_equals_looking_up_with_the_rotation():
    env = sky_env() + np.random.default_rng(0).uniform(0, 0.1, (H, W, 3)).astype(np.float32)
    dirs = fibonacci_sphere(300)
    for degrees in (90.0, 22.5):  # whole and fractional pixel shifts
        assert np.allclose(
            envmap.sample(envmap.rotate(env, degrees), dirs),
            envmap.sample(env, dirs, degrees),
            atol=2e-3,
        )


def test_solid_angles_cover_the_sphere():
    assert np.isclose(envmap.solid_angles(H, W).sum() * W, 4 * np.pi)


# ----------------------------------------------------------------------------- irradiance


def test_constant_environment_gives_pi_times_radiance():
    env = np.full((H, W, 3), [0.5, 1.0, 2.0], np.float32)
    normals = fibonacci_sphere(100)
    expected = np.pi * np.float32([0.5, 1.0, 2.0])
    assert np.allclose(sh9_irradiance(normals, project_sh9(env)), expected, rtol=1e-3)
    assert np.allclose(envmap.sample(shading.irradiance_map(env), normals), expected, rtol=1e-3)
    assert np.allclose(shading.brute_force_irradiance(env, normals), expected, rtol=1e-3)


def test_sh9_and_map_match_brute_force_on_a_smooth_sky():
    env = sky_env()
    normals = fibonacci_sphere(300)
    reference = shading.brute_force_irradiance(env, normals)
    for estimate in (
        sh9_irradiance(normals, project_sh9(env)),
        envmap.sample(shading.irradiance_map(env), normals),
    ):
        mean, worst = errors(estimate, reference)
        assert mean < 0.03 and worst < 0.03, (mean, worst)


def test_sharp_sun_needs_the_preconvolved_map():
    env = sun_env()
    normals = fibonacci_sphere(300)
    reference = shading.brute_force_irradiance(env, normals)
    mean, worst = errors(envmap.sample(shading.irradiance_map(env), normals), reference)
    assert mean < 0.03 and worst < 0.03, (mean, worst)
    # SH9 cannot follow the sun's sharp terminator: what relight's default map is for
    _, worst_sh9 = errors(sh9_irradiance(normals, project_sh9(env)), reference)
    assert worst_sh9 > 0.03


def test_sh9_projection_rotates_with_the_environment():
    env = sun_env(h=32, w=64, radius_deg=10.0, power=5.0)
    assert np.allclose(project_sh9(env, 90.0), project_sh9(envmap.rotate(env, 90.0)), atol=1e-4)


def test_sh9_irradiance_on_torch_tensors_and_batches():
    envs = [sky_env(), sun_env(h=32, w=64, radius_deg=10.0, power=5.0)]
    coeffs = np.stack([project_sh9(env) for env in envs])  # (2, 9, 3)
    normals, _ = sphere_normals(8)
    batch = np.stack([normals, normals[::-1]])  # (2, 8, 8, 3)
    expected = np.stack([sh9_irradiance(batch[b], coeffs[b]) for b in range(2)])
    got = sh9_irradiance(torch.from_numpy(batch), torch.from_numpy(coeffs))
    assert isinstance(got, torch.Tensor) and got.shape == (2, 8, 8, 3)
    assert np.allclose(got.numpy(), expected, atol=1e-5)
    single = sh9_irradiance(torch.from_numpy(normals), torch.from_numpy(coeffs[0]))
    assert np.allclose(single.numpy(), expected[0], atol=1e-5)


# ----------------------------------------------------------------------------- relight_dir


@pytest.fixture
def predict_dir(tmp_path):
    """A tiny predict folder (sphere, albedo 0.5) and a photo of the same size."""
    folder = tmp_path / "pred"
    folder.mkdir()
    normals, mask = sphere_normals(SIZE)
    write_npy(folder / "normal.npy", normals)
    write_srgb_png(
        folder / "albedo.png", np.full((SIZE, SIZE, 3), 0.5, np.float32) * mask[..., None]
    )
    write_linear_png(folder / "mask.png", mask.astype(np.float32), bits=8)
    (folder / "report.json").write_text("{}\n")
    photo = tmp_path / "photo.png"
    write_srgb_png(photo, np.full((SIZE, SIZE, 3), [0.2, 0.4, 0.6], np.float32))
    return folder, photo, mask


def test_diffuse_under_constant_light_is_albedo_times_radiance(predict_dir):
    folder, photo, mask = predict_dir
    env = np.full((H, W, 3), 0.8, np.float32)
    rgba = relight_dir(folder, env, shader="diffuse", background="keep", photo=photo)
    albedo = read_image(folder / "albedo.png").rgb
    assert np.allclose(rgba[mask, :3], albedo[mask] * 0.8, rtol=2e-3)
    brighter = relight_dir(folder, env, exposure=1.0, background="keep", photo=photo)
    assert np.allclose(brighter[mask, :3], 2 * rgba[mask, :3], rtol=1e-5)
    assert np.allclose(brighter[~mask, :3], rgba[~mask, :3])  # the photo is not re-exposed


@pytest.mark.parametrize("shader", ["diffuse", "reflective", "both"])
@pytest.mark.parametrize("background", ["keep", "hdri", "transparent"])
def test_outputs_are_finite_and_backgrounds_are_right(predict_dir, shader, background):
    folder, photo, mask = predict_dir
    env = sun_env(h=32, w=64, radius_deg=8.0, power=20.0)
    rgba = relight_dir(
        folder, env, rotation=30.0, shader=shader, background=background, photo=photo
    )
    assert rgba.shape == (SIZE, SIZE, 4) and rgba.dtype == np.float32
    assert np.isfinite(rgba).all() and (rgba >= 0).all()
    assert (rgba[mask, :3].max(axis=1) > 0).all()
    if background == "keep":
        assert np.allclose(rgba[~mask, :3], read_image(photo).rgb[~mask])
        assert (rgba[..., 3] == 1).all()
    elif background == "transparent":
        assert np.array_equal(rgba[..., 3], mask.astype(np.float32))
        assert (rgba[~mask, :3] == 0).all()
    else:
        assert (rgba[..., 3] == 1).all()
        # the backplate looks into the scene (-z): the env's values around u = 0.25
        lo, hi = env[H // 4 : 3 * H // 4, W // 8 : 3 * W // 8].min(), env.max()
        assert (rgba[~mask, :3] >= lo - 1e-6).all() and (rgba[~mask, :3] <= hi).all()


def test_rotation_turns_the_light_like_blender(predict_dir):
    """A sun on the camera's right; Mapping rotation Z = 90 brings it in front of the subject."""
    folder, _photo, mask = predict_dir
    env = sun_env(direction=(1.0, 0.0, 0.0), h=32, w=64, radius_deg=8.0, power=500.0)
    normals, _ = sphere_normals(SIZE)

    def relit(rotation):
        return relight_dir(folder, env, rotation=rotation, background="transparent")[..., 0] * mask

    def brightest(rotation):
        return normals[np.unravel_index(np.argmax(relit(rotation)), mask.shape)]

    assert brightest(0.0)[0] > 0.8
    assert brightest(90.0)[2] > 0.8
    assert relit(-90.0).sum() < 0.5 * relit(90.0).sum()  # -90: the sun is behind the subject


def test_mirror_reflects_what_faces_the_camera(predict_dir):
    folder, _photo, _mask = predict_dir
    env = np.zeros((H, W, 3), np.float32)
    env[..., 2] = 1.0
    # u > 0.5, around the direction toward the viewer (u = 0.75): red + blue
    env[:, W // 2 :, 0] = 1.0
    rgba = relight_dir(folder, env, shader="reflective", roughness=0.0, background="transparent")
    centre = rgba[SIZE // 2, SIZE // 2, :3]
    assert centre[0] > 0.2 and centre[2] > 0.2  # albedo 0.5 metal, head-on
    assert rgba[SIZE // 2, 3, 0] < rgba[SIZE // 2, SIZE // 2, 0]  # the rim reflects what is behind


def test_keep_without_photo_and_bad_options_are_user_errors(predict_dir):
    folder, _photo, _mask = predict_dir
    env = sky_env()
    with pytest.raises(UserError, match="photo"):
        relight_dir(folder, env, background="keep")
    with pytest.raises(UserError, match="shader"):
        relight_dir(folder, env, shader="glossy", background="transparent")
    with pytest.raises(UserError, match="2:1"):
        relight_dir(folder, np.ones((32, 32, 3), np.float32), background="transparent")
    small = folder.parent / "small.png"
    write_srgb_png(small, np.zeros((8, 8, 3), np.float32))
    with pytest.raises(UserError, match="8x8"):
        relight_dir(folder, env, photo=small)


def test_write_relit_png_and_exr(tmp_path):
    rgba = np.zeros((4, 6, 4), np.float32)
    rgba[..., :3] = [0.5, 2.0, 0.0]
    rgba[..., 3] = 1.0
    write_relit(tmp_path / "opaque.png", rgba)
    png = cv2.imread(str(tmp_path / "opaque.png"), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint8 and png.shape == (4, 6, 3)
    # clipped
    assert np.allclose(read_image(tmp_path / "opaque.png").rgb, [0.5, 1.0, 0.0], atol=0.01)
    rgba[0, 0, 3] = 0.0
    write_relit(tmp_path / "cutout.png", rgba)
    png = cv2.imread(str(tmp_path / "cutout.png"), cv2.IMREAD_UNCHANGED)
    assert png.shape == (4, 6, 4) and png[0, 0, 3] == 0 and png[1, 1, 3] == 255
    assert png[1, 1, 2] == 188  # red 0.5 linear is sRGB 188, and stays in the red channel
    write_relit(tmp_path / "linear.exr", rgba)
    assert np.allclose(read_image(tmp_path / "linear.exr").rgb, rgba[..., :3])  # not clipped
    with pytest.raises(UserError, match=".png"):
        write_relit(tmp_path / "relit.jpg", rgba)


def test_bundled_hdris_ship_with_the_package():
    bundled = envmap.bundled_hdris()
    assert sorted(bundled) == sorted(envmap.BUNDLED_NAMES)
    assert all(path.is_relative_to(envmap.BUNDLED_FOLDER) for path in bundled.values())
    assert sum(path.stat().st_size for path in bundled.values()) < 3 << 20  # a few MB at most
    assert "CC0" in (envmap.BUNDLED_FOLDER / "LICENSE.txt").read_text()
    env = envmap.load_hdri("Forest")
    assert env.shape == (512, 1024, 3) and env.dtype == np.float32


def test_bundled_names_are_looked_up_only_in_the_bundle(tmp_path, monkeypatch):
    # A planted "studio" in the working folder is not opened (and its name does not leak).
    monkeypatch.chdir(tmp_path)
    (tmp_path / "secret.exr").write_bytes(envmap.bundled_hdri("night").read_bytes())
    (tmp_path / "studio").symlink_to(tmp_path / "secret.exr")
    assert envmap.resolve_hdri("studio") == envmap.BUNDLED_FOLDER / "studio.exr"
    assert envmap.resolve_hdri("./studio").name == "studio"  # a path says it means the file


def test_the_hdri_cache_is_keyed_by_content(tmp_path):
    from photonormals.relight import relight

    relight._maps_for.cache_clear()
    for k in range(3):  # one HDRI uploaded three times, to a new temporary path each time
        copy = tmp_path / f"upload{k}.exr"
        copy.write_bytes(envmap.bundled_hdri("night").read_bytes())
        relight._hdri_maps(copy)
    assert relight._maps_for.cache_info().currsize == 1


# ----------------------------------------------------------------------------- CLI


def test_cli_relights_with_hdr_and_exr_files(cli, predict_dir, tmp_path):
    folder, photo, _mask = predict_dir
    env = sky_env()
    hdr = tmp_path / "sky.hdr"
    cv2.imwrite(str(hdr), np.ascontiguousarray(env[..., ::-1]))
    exr = tmp_path / "sky.exr"
    write_relit(exr, np.concatenate([env, np.ones((H, W, 1), np.float32)], axis=2))

    code, _out, err = cli(
        "relight", "--hdri", hdr, "--photo", photo, "--out", tmp_path / "a.png", folder
    )
    assert code == 0, err
    assert cv2.imread(str(tmp_path / "a.png"), cv2.IMREAD_UNCHANGED).shape == (SIZE, SIZE, 3)
    code, _out, err = cli(
        "relight",
        "--hdri",
        exr,
        "--shader",
        "both",
        "--background",
        "transparent",
        "--rotation",
        "45",
        "--exposure",
        "-1",
        "--out",
        tmp_path / "b.exr",
        folder,
    )
    assert code == 0, err
    assert read_image(tmp_path / "b.exr").rgb.shape == (SIZE, SIZE, 3)
    code, _out, err = cli(
        "relight", "--hdri", exr, "--out", tmp_path / "a.png", "--photo", photo, folder
    )
    assert code == 2 and "--overwrite" in err


def test_cli_relights_by_name_with_nothing_but_an_output(cli, predict_dir, tmp_path, monkeypatch):
    folder, _photo, _mask = predict_dir
    monkeypatch.setitem(sys.modules, "bpy", None)  # as without bpy: importing it fails
    code, _out, err = cli("relight", "--hdri", "studio", "--out", tmp_path / "a.png", folder)
    assert code == 0, err  # the background defaults to the HDRI when no photo is given
    assert cv2.imread(str(tmp_path / "a.png"), cv2.IMREAD_UNCHANGED).shape == (SIZE, SIZE, 3)


@pytest.mark.parametrize(
    "case, message",
    [
        ("no_normals", "no normal.npy"),
        ("bad_normals", "normal.npy"),
        ("unknown_hdri", "unknown HDRI"),
        ("unknown_hdri_no_background", "unknown HDRI"),
        ("bad_extension", "must be .png"),
        ("no_photo", "--photo"),
        ("not_hdr", "OpenEXR"),
    ],
)
def test_cli_bad_inputs_exit_2_with_one_line(cli, predict_dir, tmp_path, case, message):
    folder, photo, _mask = predict_dir
    hdri = tmp_path / "sky.hdr"
    cv2.imwrite(str(hdri), np.ascontiguousarray(sky_env()[..., ::-1]))
    args = {"hdri": str(hdri), "out": tmp_path / "out.png", "extra": ["--photo", photo]}
    if case == "no_normals":
        (folder / "normal.npy").unlink()
    elif case == "bad_normals":
        (folder / "normal.npy").write_bytes(b"not numpy")
    elif case == "unknown_hdri":
        args["hdri"] = "moonbase"
    elif case == "unknown_hdri_no_background":  # the real problem is named, not the background
        args["hdri"], args["extra"] = "moonbase", []
    elif case == "bad_extension":
        args["out"] = tmp_path / "out.jpg"
    elif case == "no_photo":
        args["extra"] = ["--background", "keep"]
    elif case == "not_hdr":
        args["hdri"] = str(photo)
    code, _out, err = cli(
        "relight", "--hdri", args["hdri"], "--out", args["out"], *args["extra"], folder
    )
    assert code == 2
    assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "out.png").exists()
