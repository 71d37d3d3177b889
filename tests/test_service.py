"""The inference service over real HTTP: a uvicorn server in a subprocess on a free loopback port.

One server for the module (startup is paid once). A test-only stage delay makes every job take
a fraction of a second, long enough to cancel one while it runs; a test-only photo name makes
the worker crash as a bug would.
"""

from __future__ import annotations

import io
import json
import socket
import struct
import time
import urllib.error
import urllib.request
import uuid
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from conftest import render_lambertian, sphere_normals, spread_lights
from photonormals.io.images import write_linear_png, write_srgb_png
from photonormals.service import launch
from photonormals.service.launch import free_port, stop_server  # noqa: F401 (test_client's)

TOKEN = "test-token-0123456789"
COUNT = 6
MAX_QUEUE = 3
CRASH_NAME = "crash-me.png"
ALLOWED_ORIGIN = "http://allowed.example"


def make_weights(folder: Path) -> Path:
    """A weights folder with a small untrained multi-light model and no portrait model, so the
    tests do not depend on which weights ship."""
    from photonormals.models import create_model
    from photonormals.models.weights import save_weights

    folder.mkdir(parents=True, exist_ok=True)
    save_weights(folder / "multi.safetensors", create_model("fused_fast"), steps=0)
    (folder / "index.json").write_text(json.dumps({"multi": "multi.safetensors"}))
    return folder


def start_server(tmp: Path, *extra, env=None, results_dir=True):
    """A real server on a free loopback port with the tests' own weights folder."""
    weights = {"PHOTONORMALS_WEIGHTS": str(make_weights(tmp / "weights"))}
    return launch.start_server(tmp, *extra, env={**weights, **(env or {})}, timeout=60,
                               results_dir=results_dir)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("service")
    process, url = start_server(
        tmp,
        "--token",
        TOKEN,
        "--max-queue",
        str(MAX_QUEUE),
        "--max-upload-mb",
        "1",
        "--max-photos",
        "8",
        "--allow-origin",
        ALLOWED_ORIGIN,
        env={"PHOTONORMALS_TEST_STAGE_DELAY": "0.05", "PHOTONORMALS_TEST_CRASH_NAME": CRASH_NAME},
    )
    yield url
    stop_server(process)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """A 48x48 sphere under COUNT known lights: 16-bit linear PNGs, ground-truth normals."""
    folder = tmp_path_factory.mktemp("photos")
    normals, mask = sphere_normals(48)
    directions = spread_lights(COUNT, seed=3)
    albedo = np.broadcast_to(np.float32([0.7, 0.6, 0.5]), normals.shape)
    images = render_lambertian(normals, mask, directions, np.ones((COUNT, 3), np.float32), albedo)
    paths = []
    for k, image in enumerate(images):
        paths.append(folder / f"{k + 1:03d}.png")
        write_linear_png(paths[-1], image)
    np.savetxt(folder / "light_directions.txt", directions)
    return {
        "paths": paths,
        "directions": directions,
        "normals": normals,
        "mask": mask,
        "folder": folder,
    }


# ---------------------------------------------------------------------------- raw HTTP helpers


def multipart(photos=(), options=None, lights_file=None, fields=None, files=None):
    """A multipart body: photos are paths or (filename, bytes); files maps other file fields
    to (filename, bytes)."""
    boundary = uuid.uuid4().hex
    body = b""
    for name, value in {
        **({"options": json.dumps(options)} if options is not None else {}),
        **(fields or {}),
    }.items():
        disposition = f'Content-Disposition: form-data; name="{name}"'
        body += f"--{boundary}\r\n{disposition}\r\n\r\n{value}\r\n".encode()
    files_by_field = files
    files = [
        ("photos", Path(p).name, Path(p).read_bytes())
        if not isinstance(p, tuple)
        else ("photos", *p)
        for p in photos
    ]
    if lights_file is not None:
        files.append(("lights_file", *lights_file))
    for field, (filename, data) in (files_by_field or {}).items():
        files.append((field, filename, data))
    for field, filename, data in files:
        body += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
                f'filename="{filename}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + data
            + b"\r\n"
        )
    body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def call(url, method="GET", body=None, content_type=None, token=TOKEN, headers=None):
    """(status, headers, body bytes) for any status."""
    request = urllib.request.Request(url, data=body, method=method)
    if content_type:
        request.add_header("Content-Type", content_type)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def submit(server, photos=(), options=None, lights_file=None, token=TOKEN):
    return call(server + "/v1/jobs", "POST", *multipart(photos, options, lights_file), token=token)


def error_of(status_body):
    status, _, body = status_body
    return status, json.loads(body)["error"]


def wait_done(server, job_id, timeout=60, token=TOKEN):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = json.loads(call(f"{server}/v1/jobs/{job_id}", token=token)[2])
        if status["state"] in ("done", "error", "cancelled"):
            return status
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not finish")


def lights_options(photos):
    return {"lights": photos["directions"].tolist()}


def angular_error(predicted, photos):
    mask = photos["mask"]
    cos = (predicted[mask] * photos["normals"][mask]).sum(axis=1)
    return np.degrees(np.arccos(np.clip(cos, -1, 1))).mean()


# ---------------------------------------------------------------------------- endpoints


def test_health_needs_no_token_and_describes_the_server(server):
    status, _, body = call(server + "/v1/health", token=None)
    health = json.loads(body)
    assert status == 200 and health["status"] == "ok"
    assert (
        health["api_version"] == "1" and health["device"] == "cpu" and health["gpu_memory"] is None
    )
    assert health["models"]["multi"] == {"available": True, "weights": "multi.safetensors"}
    assert health["models"]["single"]["available"] is False
    assert health["memory"]["peak_rss_mib"] > 0


def test_token_is_checked_on_every_other_endpoint(server, photos):
    status, error = error_of(call(server + "/v1/jobs/x", token=None))
    assert status == 401 and error["code"] == "unauthorized" and "Bearer" in error["message"]
    assert error_of(call(server + "/v1/jobs/x", token="wrong"))[0] == 403
    body, content_type = multipart(photos["paths"], lights_options(photos))
    assert error_of(call(server + "/v1/jobs", "POST", body, content_type, token="wrong"))[0] == 403
    assert error_of(call(server + "/v1/predict", "POST", body, content_type, token=None))[0] == 401
    assert error_of(call(server + "/v1/jobs/x", "DELETE", token=None))[0] == 401
    status, _ = error_of(
        call(server + "/v1/jobs/x", token=None, headers={"X-PhotoNormals-Token": TOKEN})
    )
    assert status == 404  # the alternative header is accepted; the job just does not exist


def test_calibrated_job_end_to_end(server, photos):
    status, _, body = submit(server, photos["paths"], lights_options(photos))
    assert status == 202
    job_id = json.loads(body)["id"]
    final = wait_done(server, job_id)
    assert final["state"] == "done" and final["progress"] == 1.0 and final["error"] is None
    expected = ["albedo.png", "lights.json", "mask.png", "normal.npy", "normal.png", "report.json"]
    assert final["files"] == expected

    status, headers, archive = call(f"{server}/v1/jobs/{job_id}/result")
    assert status == 200 and headers["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        assert sorted(zf.namelist()) == expected
        normals = np.load(io.BytesIO(zf.read("normal.npy")), allow_pickle=False)
        lights = json.loads(zf.read("lights.json"))
    assert angular_error(normals, photos) < 1.0
    assert [light["file"] for light in lights["lights"]] == [p.name for p in photos["paths"]]

    status, _, single = call(f"{server}/v1/jobs/{job_id}/files/normal.npy")
    assert status == 200 and np.array_equal(np.load(io.BytesIO(single)), normals)
    assert error_of(call(f"{server}/v1/jobs/{job_id}/files/shading.png"))[0] == 404
    assert error_of(call(f"{server}/v1/jobs/{job_id}/files/..%2F..%2Fetc%2Fpasswd"))[0] == 404


def test_lights_file_and_output_subset(server, photos):
    light_file = ("light_directions.txt", (photos["folder"] / "light_directions.txt").read_bytes())
    status, _, body = submit(server, photos["paths"], {"outputs": ["normal.png", "mask.png"],
                                                       "normal_convention": "directx"}, light_file)
    assert status == 202, body
    final = wait_done(server, json.loads(body)["id"])
    assert final["state"] == "done" and final["files"] == ["mask.png", "normal.png"]


def test_uncalibrated_job_runs_the_warm_shipped_model(server, photos):
    status, _, body = submit(
        server, photos["paths"][:3], {"mode": "multi", "input_colorspace": "linear"}
    )
    assert status == 202, body
    job_id = json.loads(body)["id"]
    assert wait_done(server, job_id)["state"] == "done"
    report = json.loads(call(f"{server}/v1/jobs/{job_id}/files/report.json")[2])
    assert report["method"] == "uncalibrated_photometric_stereo" and report["model"] == "fused_fast"
    assert "multi@cpu" in json.loads(call(server + "/v1/health")[2])["models"]["loaded"]


def test_blocking_predict_returns_the_zip(server, photos):
    status, headers, archive = call(
        server + "/v1/predict", "POST", *multipart(photos["paths"], lights_options(photos))
    )
    assert status == 200 and headers["X-PhotoNormals-Job"]
    assert "normal.png" in zipfile.ZipFile(io.BytesIO(archive)).namelist()
    status, error = error_of(
        call(server + "/v1/predict", "POST", *multipart(photos["paths"][:1], {"mode": "single"}))
    )
    assert status == 501 and error["code"] == "model_not_available"


def test_status_of_unknown_job_and_result_before_done(server, photos):
    assert error_of(call(server + "/v1/jobs/nope"))[1]["code"] == "not_found"
    job_id = json.loads(submit(server, photos["paths"], lights_options(photos))[2])["id"]
    status, error = error_of(call(f"{server}/v1/jobs/{job_id}/result"))
    assert status == 409 and error["code"] == "not_done"
    wait_done(server, job_id)


def test_openapi_matches_the_routes(server):
    from photonormals.service import Settings, create_app

    document = json.loads(call(server + "/openapi.json", token=None)[2])
    documented = {
        (path, method.upper()) for path, item in document["paths"].items() for method in item
    }
    app = create_app(Settings(token="x"))
    real = {(route.path, method) for route in app.routes if route.path.startswith("/v1")
            for method in route.methods}
    assert documented == real
    assert ("/v1/relight", "POST") in real and ("/v1/jobs/{job_id}/files/{name}", "GET") in real
    upload = document["paths"]["/v1/jobs"]["post"]
    schema_ref = upload["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"].split(
        "/"
    )[-1]
    fields = document["components"]["schemas"][schema_ref]["properties"]
    assert {"photos", "options", "lights_file"} <= fields.keys()
    assert document["components"]["schemas"][schema_ref]["required"] == ["photos"]
    assert {"400", "401", "408", "413", "503"} <= upload["responses"].keys()
    assert "ErrorResponse" in document["components"]["schemas"]


def test_a_wrong_method_is_told_every_allowed_one(server):
    status, headers, body = call(server + "/v1/jobs/x", "OPTIONS")
    assert status == 405 and headers["Allow"] == "DELETE, GET"
    assert json.loads(body)["error"]["code"] == "method_not_allowed"


def test_colliding_photo_names_never_replace_a_photo(server, photos):
    # The second a.png once became 003_a.png, over the first photo of that name.
    data = [p.read_bytes() for p in photos["paths"]]
    named = [("003_a.png", data[0]), ("a.png", data[1]), ("a.png", data[2]), ("A.PNG", data[3]),
             ("a-2.png", data[4]), ("b.png", data[5])]
    status, _, body = submit(server, named, lights_options(photos))
    assert status == 202, body
    job_id = json.loads(body)["id"]
    assert wait_done(server, job_id)["state"] == "done"
    lights = json.loads(call(f"{server}/v1/jobs/{job_id}/files/lights.json")[2])["lights"]
    names = [light["file"] for light in lights]
    assert names == ["003_a.png", "a.png", "a-2.png", "A-3.PNG", "a-2-2.png", "b.png"]
    normals = np.load(io.BytesIO(call(f"{server}/v1/jobs/{job_id}/files/normal.npy")[2]))
    assert angular_error(normals, photos) < 1.0  # each photo used once, with its own light


def test_foreign_hosts_and_browser_origins_are_refused(server):
    port = server.rsplit(":", 1)[1]
    status, error = error_of(call(server + "/v1/health", headers={"Host": f"evil.example:{port}"}))
    assert status == 403 and error["code"] == "forbidden_host"  # DNS rebinding
    for origin in ("http://evil.example", "null"):
        status, error = error_of(call(server + "/v1/jobs/x", headers={"Origin": origin}))
        assert status == 403 and error["code"] == "forbidden_origin"
    assert call(server + "/v1/health", headers={"Host": f"localhost:{port}"})[0] == 200
    # the server's own pages (its /docs) and the origins given with --allow-origin are served
    assert call(server + "/v1/health", headers={"Origin": server})[0] == 200
    status, headers, _ = call(server + "/v1/health", headers={"Origin": ALLOWED_ORIGIN})
    assert status == 200 and headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    status, headers, _ = call(server + "/v1/jobs", "OPTIONS", token=None, headers={
        "Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization"})
    assert status == 200 and "POST" in headers["Access-Control-Allow-Methods"]


def test_a_black_set_is_bad_input_not_a_server_error(server, tmp_path):
    paths = []
    for k in range(3):
        paths.append(tmp_path / f"black{k}.png")
        write_linear_png(paths[-1], np.zeros((32, 32, 3), np.float32))
    status, error = error_of(call(server + "/v1/predict", "POST",
                                  *multipart(paths, {"mode": "multi"})))
    assert status == 400 and "dark everywhere" in error["message"]


# ---------------------------------------------------------------------------- bad input


def png_header_claiming(width, height) -> bytes:
    """A valid-looking PNG whose header claims width x height (a 'pixel bomb')."""
    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("case, expected", [
    ("no photos", "photos: required, but missing"),
    ("too many", "over the limit of 8"),
    ("not an image", "not a supported image"),
    ("pixel bomb", "MP limit"),
    ("mixed sizes", "mixed image sizes"),
    ("light count", "6 light directions given for 3 photos"),
    ("light file count", "6 light directions given for 3 photos"),
    ("unknown mode", "options.mode"),
    ("bad json", "options: not valid JSON"),
    ("unknown output", "unknown output(s) depth.png"),
    ("focal for multi", "--focal-35mm is for single-portrait mode"),
    ("unknown light side", "options.light_from: Input should be 'top', 'left'"),
    ("light side for a set", "--light-from is for one photo in material mode"),
    ("nan in options", "options: not valid JSON (NaN is not a JSON number"),
    ("infinite light", "options.lights.0.0: Input should be a finite number"),
    ("huge intensity", "intensities must be numbers from 1e-06 to 1e+06"),
    ("deep options", "options: the JSON is nested too deeply"),
    ("nan in lights.json", "lights.json: not valid JSON"),
    ("zero in lights.json", "lights.json: light 1 is a zero vector"),
    ("fake jpeg", "fake.jpg: the JPEG header is truncated or corrupt"),
    ("frame pass too big", "options.frame_px: Input should be less than or equal to 512"),
    ("frame pass for a set", "--frame-px is for single-portrait mode"),
])
def test_bad_input_is_refused_at_submit(server, photos, tmp_path, case, expected):
    paths, lights = photos["paths"], lights_options(photos)
    fields = None
    if case == "no photos":
        args = ([], lights)
    elif case == "too many":
        args = (paths * 3, None)
    elif case == "not an image":
        args = ([*paths[:3], ("notes.png", b"hello, not a picture")], None)
    elif case == "pixel bomb":
        args = ([*paths[:2], ("bomb.png", png_header_claiming(100_000, 100_000))], None)
    elif case == "mixed sizes":
        small = tmp_path / "small.png"
        write_srgb_png(small, np.full((20, 30, 3), 0.5, np.float32))
        args = ([*paths[:3], small], None)
    elif case == "light count":
        args = (paths[:3], lights)
    elif case == "light file count":
        body, content_type = multipart(
            paths[:3], None, ("l.txt", (photos["folder"] / "light_directions.txt").read_bytes())
        )
        fields = (body, content_type)
    elif case == "unknown mode":
        args = (paths, {"mode": "stereo"})
    elif case == "bad json":
        fields = multipart(paths, fields={"options": "{mode: multi"})
    elif case == "unknown output":
        args = (paths, {"outputs": ["depth.png"], **lights})
    elif case == "focal for multi":
        args = (paths, {"focal_35mm": 50, **lights})
    elif case == "unknown light side":
        args = (paths[:1], {"mode": "material", "light_from": "above"})
    elif case == "light side for a set":
        args = (paths, {"mode": "material", "light_from": "left", **lights})
    elif case == "nan in options":
        fields = multipart(paths, fields={"options": '{"lights": [[NaN, 0, 1]]}'})
    elif case == "infinite light":
        fields = multipart(paths, fields={"options": '{"lights": [[1e999, 0, 1]]}'})
    elif case == "huge intensity":
        args = (paths, {**lights, "intensities": [[1e39] * 3] * len(paths)})
    elif case == "deep options":
        fields = multipart(paths, fields={"options": "[" * 200_000 + "]" * 200_000})
    elif case in ("nan in lights.json", "zero in lights.json"):
        direction = "[NaN, 0, 1]" if case.startswith("nan") else "[0, 0, 0]"
        light = f'{{"direction": {direction}}}'
        fields = multipart(paths[:3], lights_file=(
            "lights.json", f'{{"lights": [{light}, {light}, {light}]}}'.encode()))
    elif case == "fake jpeg":
        args = ([*paths[:2], ("fake.jpg", b"\xff\xd8\xff" + b"garbage" * 10)], None)
    elif case == "frame pass too big":
        args = (paths[:1], {"mode": "single", "frame_px": 4096})
    elif case == "frame pass for a set":
        args = (paths, {"frame_px": 128, **lights})
    result = call(server + "/v1/jobs", "POST", *fields) if fields else submit(server, *args)
    status, error = error_of(result)
    assert status == 400 and error["code"] == "bad_input"
    assert expected in error["message"]
    assert " at 0x" not in error["message"]  # no object addresses (nor server paths)


def test_decoding_errors_end_the_job_with_the_message(server, photos):
    data = bytearray(photos["paths"][-1].read_bytes())
    # the header survives, the pixel data does not
    data[len(data) // 2:len(data) // 2 + 16] = b"\xff" * 16
    status, _, body = submit(
        server, [*photos["paths"][:-1], ("cut.png", bytes(data))], lights_options(photos)
    )
    assert status == 202, body
    final = wait_done(server, json.loads(body)["id"])
    assert final["state"] == "error" and "cut.png" in final["error"] and "corrupt" in final["error"]


def test_request_over_the_size_limit(server):
    # Content-Length over the limit: refused before any of the body is read.
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(
            f"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: "
            f"{(1 << 20) + 1}\r\n\r\n".encode()
        )
        answer = recv_response(s)
    assert answer.startswith("HTTP/1.1 413") and "too_large" in answer
    # No Content-Length (chunked): counted while streaming.
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(
            f"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
            "Content-Type: multipart/form-data; boundary=b\r\nTransfer-Encoding: "
            "chunked\r\n\r\n".encode()
        )
        head = b'--b\r\nContent-Disposition: form-data; name="photos"; filename="a.png"\r\n\r\n'
        try:
            for chunk in [head] + [b"y" * 65536] * 40:
                s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except OSError:
            pass  # the server may answer and close before we finish sending
        answer = recv_response(s)
    assert answer.startswith("HTTP/1.1 413") and "too_large" in answer


def recv_response(s) -> str:
    data = b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < 20:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace")


# ---------------------------------------------------------------------------- faults and load


def test_client_disconnecting_mid_upload_leaves_the_server_healthy(server, photos):
    body, content_type = multipart(photos["paths"], lights_options(photos))
    host, port = server.removeprefix("http://").split(":")
    for _ in range(3):
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(
                f"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            )
            s.sendall(body[: len(body) // 2])
    assert call(server + "/v1/health")[0] == 200
    status, _, job = submit(server, photos["paths"], lights_options(photos))
    assert status == 202 and wait_done(server, json.loads(job)["id"])["state"] == "done"


def test_cancel_during_inference(server, photos):
    job_id = json.loads(submit(server, photos["paths"], lights_options(photos))[2])["id"]
    deadline = time.monotonic() + 30
    while json.loads(call(f"{server}/v1/jobs/{job_id}")[2])["state"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    status, _, _ = call(f"{server}/v1/jobs/{job_id}", "DELETE")
    assert status == 200
    assert wait_done(server, job_id)["state"] == "cancelled"
    assert error_of(call(f"{server}/v1/jobs/{job_id}/result"))[0] == 409


def test_health_answers_while_a_job_runs(server, photos):
    job_id = json.loads(submit(server, photos["paths"], {"mode": "multi"})[2])["id"]
    worst = 0.0
    while json.loads(call(f"{server}/v1/jobs/{job_id}")[2])["state"] in ("queued", "running"):
        start = time.perf_counter()
        assert call(server + "/v1/health")[0] == 200
        worst = max(worst, time.perf_counter() - start)
    assert worst < 0.5


def test_worker_exception_is_reported_and_the_server_stays_healthy(server, photos):
    crash = (CRASH_NAME, photos["paths"][0].read_bytes())
    job_id = json.loads(submit(server, [crash, *photos["paths"][1:]], lights_options(photos))[2])[
        "id"
    ]
    final = wait_done(server, job_id)
    assert final["state"] == "error" and final["error"].startswith("internal error: RuntimeError")
    assert call(server + "/v1/health")[0] == 200
    job_id = json.loads(submit(server, photos["paths"], lights_options(photos))[2])["id"]
    assert wait_done(server, job_id)["state"] == "done"


def test_fifty_concurrent_requests_are_all_answered(server, photos):
    body, content_type = multipart(photos["paths"], lights_options(photos))

    def post(_):
        return call(server + "/v1/jobs", "POST", body, content_type)

    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(post, range(50)))
    statuses = [status for status, _, _ in results]
    assert set(statuses) <= {202, 503} and statuses.count(202) >= 1 and statuses.count(503) >= 1
    assert all(headers["Retry-After"] for status, headers, _ in results if status == 503)
    assert all(
        json.loads(body)["error"]["code"] == "queue_full"
        for status, _, body in results
        if status == 503
    )
    for status, _, body in results:  # leave the queue empty for the next tests
        if status == 202:
            call(f"{server}/v1/jobs/{json.loads(body)['id']}", "DELETE")
    health = json.loads(call(server + "/v1/health")[2])
    assert health["memory"]["peak_rss_mib"] < 2048


# ---------------------------------------------------------------------------- relight, CLI, expiry


def test_relight_a_finished_job(server, photos):
    job_id = json.loads(submit(server, photos["paths"], lights_options(photos))[2])["id"]
    assert wait_done(server, job_id)["state"] == "done"
    body, content_type = multipart(fields={"job_id": job_id, "hdri": "studio", "rotation": "30"})
    status, headers, image = call(server + "/v1/relight", "POST", body, content_type)
    assert status == 200 and headers["Content-Type"] == "image/png" and image.startswith(b"\x89PNG")
    body, content_type = multipart(fields={"job_id": job_id, "hdri": "no-such-hdri"})
    assert error_of(call(server + "/v1/relight", "POST", body, content_type))[0] == 400


def test_serve_refuses_a_public_address_without_a_token(cli):
    code, _, stderr = cli("serve", "--host", "0.0.0.0")
    assert code == 2 and "without a token" in stderr


@pytest.mark.parametrize("token", [" ", "x", "short-token", "has a space in it!"])
def test_serve_refuses_a_token_that_is_no_real_one(cli, token):
    code, _, stderr = cli("serve", "--token", token)
    assert code == 2 and "at least 16 visible characters" in stderr


def test_serve_on_a_busy_port_says_so_before_any_banner(tmp_path):
    import subprocess
    import sys

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = subprocess.run(
            [sys.executable, "-m", "photonormals", "serve", "--port",
             str(taken.getsockname()[1]), "--results-dir", str(tmp_path)],
            capture_output=True, text=True, timeout=120,
        )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "the port is in use" in result.stderr


def test_finished_jobs_expire(tmp_path):
    from photonormals.service.jobs import JobManager
    from photonormals.service.models import ModelCache

    manager = JobManager(tmp_path, "cpu", ModelCache(), keep_seconds=0.0)
    job = manager.new_job()
    manager.enqueue(job)
    manager.cancel(job)
    (job.folder).mkdir(exist_ok=True)
    time.sleep(0.01)
    manager.cleanup()
    assert manager.get(job.id) is None and not job.folder.exists()


# ---------------------------------------------------------------------------- bench


def test_bench_discards_two_portrait_warm_ups(tmp_path):
    from photonormals.service import bench

    class FirstTwoSlow:
        calls = 0

        def predict(self, *args, **kwargs):
            self.calls += 1
            time.sleep(0.2 if self.calls <= 2 else 0.0)

    client = FirstTwoSlow()
    assert bench._portrait(client, tmp_path, repeat=2)["latency_s"] < 0.1
    assert client.calls == 4


def test_bench_report_gives_a_verdict_per_target():
    from photonormals.service.bench import format_report

    row = {"method": "multi (shipped model)", "size": [612, 512], "images": 9, "latency_s": 2.5,
           "model_s": 1.0, "throughput_jobs_per_s": 0.4, "throughput_images_per_s": 3.6}
    report = format_report({
        "device": "cpu", "cpu_count": 2, "torch_threads": 2, "rows": [row],
        "portrait_512": {"latency_s": 0.4}, "server_memory": {"peak_rss_mib": 900},
        "server_gpu_memory": None,
        "comparison": {"input": [9, 612, 512], "shipped": {"model": "fused_fast", "seconds": 1.0},
                       "sdps": {"seconds": 4.0}, "speedup": 4.0},
    })
    assert "speed-up x4.00 (target >= x3: met)" in report
    assert "0.400 s (target < 0.5 s: met)" in report
    assert "2.50 s (target < 2 s: MISSED)" in report
