"""photonormals.client against a real server, and against small fake servers for the faults a
real one should never produce (dropped connections, hostile archives)."""

from __future__ import annotations

import ast
import io
import sys
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from photonormals import client as client_module
from photonormals.client import (
    AuthError,
    BackendUnavailable,
    Client,
    JobCancelled,
    JobFailed,
    RequestError,
)
from test_service import (  # the photos fixture is used by name
    CRASH_NAME,
    free_port,
    photos,  # noqa: F401
    start_server,
    stop_server,
)

TOKEN = "client-token-0123456789"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process, url = start_server(tmp_path_factory.mktemp("client"), "--token", TOKEN,
                                env={"PHOTONORMALS_TEST_STAGE_DELAY": "0.05",
                                     "PHOTONORMALS_TEST_CRASH_NAME": CRASH_NAME})
    yield url
    stop_server(process)


@pytest.fixture
def client(server):
    return Client(server, token=TOKEN, timeout=30)


def lights(photos):  # noqa: F811
    return {"lights": photos["directions"].tolist()}


def test_client_imports_only_the_standard_library():
    tree = ast.parse(Path(client_module.__file__).read_text())
    modules = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    modules |= {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.level == 0
    }
    assert modules - {"__future__"} <= set(sys.stdlib_module_names)
    assert not any(isinstance(node, ast.ImportFrom) and node.level for node in ast.walk(tree))


def test_health(client):
    assert client.health()["api_version"] == "1"


def test_predict_writes_the_maps_and_nothing_else(client, photos, tmp_path):  # noqa: F811
    seen = []
    out = tmp_path / "out"
    files = client.predict(
        photos["paths"], out, options=lights(photos), on_progress=seen.append, poll=0.02
    )
    names = sorted(p.name for p in files)
    assert names == [
        "albedo.png",
        "lights.json",
        "mask.png",
        "normal.npy",
        "normal.png",
        "report.json",
    ]
    assert sorted(p.name for p in out.iterdir()) == names  # no staging folder left behind
    assert seen[-1]["state"] == "done" and all(0 <= s["progress"] <= 1 for s in seen)
    assert np.load(out / "normal.npy").shape == (48, 48, 3)


def test_lights_file_and_fetch_of_a_finished_job(client, photos, tmp_path):  # noqa: F811
    job_id = client.submit(
        photos["paths"], {"outputs": ["normal.png"]}, photos["folder"] / "light_directions.txt"
    )
    assert client.wait(job_id, poll=0.02)["state"] == "done"
    assert [p.name for p in client.fetch(job_id, tmp_path)] == ["normal.png"]


def test_errors_carry_status_and_code(server, client, photos):  # noqa: F811
    with pytest.raises(AuthError) as info:
        Client(server, token="wrong").status("x")
    assert info.value.status == 403
    with pytest.raises(AuthError) as info:
        Client(server).submit(photos["paths"])
    assert info.value.status == 401
    with pytest.raises(RequestError) as info:
        client.submit(photos["paths"][:1], {"mode": "single"})
    assert (info.value.status, info.value.code) == (501, "model_not_available")
    with pytest.raises(RequestError) as info:
        client.submit(photos["paths"][:3], lights(photos))
    assert info.value.status == 400 and "light directions" in str(info.value)
    with pytest.raises(RequestError) as info:
        client.status("no-such-job")
    assert info.value.code == "not_found"
    with pytest.raises(RequestError):
        client.submit([photos["folder"] / "missing.png"])


def test_job_failed_and_cancelled(client, photos, tmp_path):  # noqa: F811
    crash = tmp_path / CRASH_NAME
    crash.write_bytes(photos["paths"][0].read_bytes())
    job_id = client.submit([crash, *photos["paths"][1:]], lights(photos))
    with pytest.raises(JobFailed, match="internal error"):
        client.wait(job_id, poll=0.02)

    job_id = client.submit(photos["paths"], lights(photos))
    with pytest.raises(JobCancelled):
        client.wait(job_id, poll=0.02, should_cancel=lambda: True)
    deadline = time.monotonic() + 30  # a running job stops at its next stage
    while client.status(job_id)["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert client.status(job_id)["state"] == "cancelled"
    with pytest.raises(RequestError) as info:
        client.fetch(job_id, tmp_path / "never")
    assert info.value.status == 409
    assert not list((tmp_path / "never").iterdir())


def test_nothing_listening_is_backend_unavailable():
    with pytest.raises(BackendUnavailable):
        Client(f"http://127.0.0.1:{free_port()}", timeout=2).health()


def test_relight(client, photos, tmp_path):  # noqa: F811
    job_id = client.submit(photos["paths"], lights(photos))
    client.wait(job_id, poll=0.02)
    out = client.relight(
        job_id, tmp_path / "relit.png", hdri="studio", rotation=45, background="transparent"
    )
    assert out.read_bytes().startswith(b"\x89PNG")
    assert [p.name for p in tmp_path.iterdir()] == ["relit.png"]


# ---------------------------------------------------------------------------- fake servers


@pytest.fixture
def fake_server():
    """A server whose GET answers are set per test: (status, headers, body, cut_after)."""
    answers = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            status, body, cut = answers[self.path]
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[:cut])
            self.wfile.flush()
            if cut < len(body):
                self.close_connection = True

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", answers
    httpd.shutdown()
    httpd.server_close()


def zip_of(entries: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_dropped_connection_leaves_no_files(fake_server, tmp_path):
    url, answers = fake_server
    archive = zip_of({"normal.png": b"x" * 100_000, "mask.png": b"y" * 1000})
    answers["/v1/jobs/j/result"] = (200, archive, len(archive) // 2)
    with pytest.raises(BackendUnavailable):
        Client(url, timeout=5).fetch("j", tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("name", ["../evil.txt", "/tmp/evil.txt", "sub/normal.png", "..\\evil.txt",
                                  ".bashrc", "notes.txt", "NORMAL.PNG"])
def test_hostile_archive_names_are_refused(fake_server, tmp_path, name):
    url, answers = fake_server
    answers["/v1/jobs/j/result"] = (200, zip_of({"normal.png": b"ok", name: b"evil"}), 1 << 30)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("the user's own")
    with pytest.raises(RequestError, match="unexpected file"):
        Client(url).fetch("j", tmp_path / "out")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["notes.txt"]
    assert (tmp_path / "out" / "notes.txt").read_text() == "the user's own"
    assert not (tmp_path / "evil.txt").exists()


def test_a_repeated_name_or_a_zip_bomb_is_refused(fake_server, tmp_path):
    url, answers = fake_server
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf, pytest.warns(UserWarning, match="Duplicate name"):
        for _ in range(3):
            zf.writestr("normal.png", b"x")
    answers["/v1/jobs/j/result"] = (200, buf.getvalue(), 1 << 30)
    with pytest.raises(RequestError, match="unexpected file 'normal.png'"):
        Client(url).fetch("j", tmp_path / "out")
    bomb = io.BytesIO()  # 64 MB of zeros deflate to about 64 KB
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("normal.npy", bytes(64 << 20))
    answers["/v1/jobs/j/result"] = (200, bomb.getvalue(), 1 << 30)
    with pytest.raises(RequestError, match="limit"):
        Client(url, max_result_bytes=16 << 20).fetch("j", tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_the_client_knows_every_map_predict_writes():
    from photonormals.predict import OUTPUT_FILES

    assert set(OUTPUT_FILES) <= client_module.MAP_FILES


def test_server_error_without_json_body(fake_server):
    url, answers = fake_server
    answers["/v1/health"] = (502, b"<html>bad gateway</html>", 1 << 30)
    with pytest.raises(RequestError) as info:
        Client(url).health()
    assert info.value.status == 502 and info.value.code is None
