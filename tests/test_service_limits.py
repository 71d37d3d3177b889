"""The service's limits against careless and hostile clients, over real HTTP on 127.0.0.1
(issue 32): memory per job, HDRI size, relights in the queue, slow clients, queue-full before the
upload, crash leftovers and the results disk cap. Every loop is bounded.

One server with tight limits serves most tests: jobs of at most 10,000 pixels, HDRIs of at most
10,000, one waiting job, a 1 s read timeout, and a stage delay that keeps a job running a while.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import OpenEXR
import pytest
from test_service import (  # the photos fixture is used by name
    TOKEN,
    call,
    error_of,
    lights_options,
    multipart,
    photos,  # noqa: F401
    recv_response,
    start_server,
    stop_server,
    submit,
    wait_done,
)

READ_TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process, url = start_server(
        tmp_path_factory.mktemp("limits"), "--token", TOKEN, "--max-queue", "1",
        "--max-job-mp", "0.01", "--max-hdri-mp", "0.01", "--max-upload-mb", "2",
        "--read-timeout", str(READ_TIMEOUT_S),
        env={"PHOTONORMALS_TEST_STAGE_DELAY": "0.1"},
    )
    yield url
    stop_server(process)


def address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


def done_job(server, photos, count=4):  # noqa: F811
    """A finished calibrated job on the first count photos (4 x 48x48 fits the pixel budget)."""
    options = {"lights": photos["directions"][:count].tolist()}
    status, _, body = submit(server, photos["paths"][:count], options)
    assert status == 202, body
    job_id = json.loads(body)["id"]
    assert wait_done(server, job_id)["state"] == "done"
    return job_id


def test_health_states_the_limits(server):
    limits = json.loads(call(server + "/v1/health")[2])["limits"]
    assert limits["max_job_mp"] == 0.01 and limits["max_hdri_mp"] == 0.01
    assert limits["max_photos"] == 128 and limits["max_queue"] == 1
    assert limits["read_timeout_s"] == READ_TIMEOUT_S and limits["max_results_mib"] > 0


def test_a_job_over_the_pixel_budget_is_refused_before_decoding(server, photos):  # noqa: F811
    # 6 x 48x48 = 13,824 pixels, over the 10,000 this server decodes per job
    status, error = error_of(submit(server, photos["paths"], lights_options(photos)))
    assert status == 413 and error["code"] == "too_large"
    assert "6 photos of 48x48" in error["message"] and "at most 40x40" in error["message"]
    done_job(server, photos)  # 4 of them fit


def _multi_part_exr(path: Path, hidden: tuple[int, int]) -> None:
    """A tiny 16x8 first part, and a big part behind it that a decoder reads too."""
    window = (np.zeros(2, np.int32), np.array([hidden[0] - 1, hidden[1] - 1], np.int32))
    parts = [
        OpenEXR.Part({"type": OpenEXR.scanlineimage, "displayWindow": window,
                      "compression": OpenEXR.ZIP_COMPRESSION},
                     {"RGB": np.ones((h, w, 3), np.float32)}, name=f"part{k}")
        for k, (w, h) in enumerate([(16, 8), hidden])
    ]
    with OpenEXR.File(parts) as exr:
        exr.write(str(path))


def relight_call(server, job_id, hdri_file=None, **fields):
    files = {"hdri_file": hdri_file} if hdri_file is not None else {}
    body, content_type = multipart(fields={"job_id": job_id, **fields}, files=files)
    return call(server + "/v1/relight", "POST", body, content_type)


def test_hdri_uploads_are_bounded_every_part_counted(server, photos, tmp_path):  # noqa: F811
    job_id = done_job(server, photos)
    _multi_part_exr(tmp_path / "parts.exr", (200, 100))  # 60,000 hidden samples
    status, error = error_of(relight_call(
        server, job_id, ("parts.exr", (tmp_path / "parts.exr").read_bytes()), background="hdri"
    ))
    assert status == 400 and "2 part(s)" in error["message"]
    big = envmap_bytes(200, 100)  # 20,000 pixels, over the 10,000 limit
    status, error = error_of(relight_call(server, job_id, ("big.exr", big)))
    assert status == 400 and "big.exr: 200x100" in error["message"]
    status, headers, image = relight_call(server, job_id, ("small.exr", envmap_bytes(64, 32)))
    assert status == 200 and image.startswith(b"\x89PNG")


def envmap_bytes(width: int, height: int) -> bytes:
    from photonormals.relight.relight import _exr_bytes

    return _exr_bytes(np.full((height, width, 3), 0.5, np.float32))


def wait_running(server: str, job_id: str) -> None:
    deadline = time.monotonic() + 30
    while json.loads(call(f"{server}/v1/jobs/{job_id}")[2])["state"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_relights_wait_in_the_job_queue(server, photos):  # noqa: F811
    job_id = done_job(server, photos)
    running = json.loads(submit(server, photos["paths"][:4], {"lights": photos["directions"][
        :4].tolist()})[2])["id"]
    wait_running(server, running)
    waiting = json.loads(submit(server, photos["paths"][:4], {"lights": photos["directions"][
        :4].tolist()})[2])["id"]
    try:  # one job waits: the queue (--max-queue 1) is full, for relights too
        status, error = error_of(relight_call(server, job_id, hdri="studio"))
        assert status == 503 and error["code"] == "queue_full"
    finally:
        call(f"{server}/v1/jobs/{waiting}", "DELETE")
        wait_done(server, running)
    status, _, image = relight_call(server, job_id, hdri="studio")
    assert status == 200 and image.startswith(b"\x89PNG")


def test_a_full_queue_answers_before_the_upload_is_sent(server, photos):  # noqa: F811
    options = {"lights": photos["directions"][:4].tolist()}
    running = json.loads(submit(server, photos["paths"][:4], options)[2])["id"]
    wait_running(server, running)  # else, on a busy machine, the second job finds it queued
    waiting = json.loads(submit(server, photos["paths"][:4], options)[2])["id"]
    try:
        with socket.create_connection(address(server), timeout=5) as s:
            s.sendall(  # the headers of a 1.5 MB upload, and none of its body
                f"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
                "Content-Type: multipart/form-data; boundary=b\r\n"
                f"Content-Length: {3 << 19}\r\n\r\n".encode()
            )
            answer = recv_response(s)
        assert answer.startswith("HTTP/1.1 503") and "queue_full" in answer
        assert "retry-after: 5" in answer.lower()
    finally:
        call(f"{server}/v1/jobs/{waiting}", "DELETE")
        call(f"{server}/v1/jobs/{running}", "DELETE")


# ---------------------------------------------------------------------------- slow clients


def closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1024) == b""
    except (BlockingIOError, TimeoutError):
        return False
    except OSError:
        return True


def test_slow_headers_are_cut_off_and_the_server_keeps_answering(server):
    sockets = [socket.create_connection(address(server), timeout=5) for _ in range(100)]
    try:
        for sock in sockets:
            sock.sendall(b"GET /v1/hea")  # and then a byte now and then: never the full headers
            sock.setblocking(False)
        start, open_ = time.monotonic(), list(sockets)
        while open_ and time.monotonic() - start < READ_TIMEOUT_S + 5:
            assert call(server + "/v1/health", token=None)[0] == 200  # served meanwhile
            for sock in list(open_):
                if closed_by_server(sock):
                    open_.remove(sock)
                else:
                    try:
                        sock.send(b"l")
                    except OSError:
                        open_.remove(sock)
            time.sleep(0.2)
        assert not open_, f"{len(open_)} slow connections still open"
    finally:
        for sock in sockets:
            sock.close()


def test_connections_beyond_the_cap_are_closed_at_once(server):
    from photonormals.service.server import MAX_CONNECTIONS

    sockets = []
    try:
        for _ in range(MAX_CONNECTIONS + 40):
            sockets.append(socket.create_connection(address(server), timeout=5))
        time.sleep(0.3)  # well within the read timeout
        for sock in sockets:
            sock.setblocking(False)
        closed = sum(closed_by_server(sock) for sock in sockets)
        assert closed >= 30
    finally:
        for sock in sockets:
            sock.close()
    assert call(server + "/v1/health", token=None)[0] == 200


def test_a_body_that_trickles_in_gets_408(server, photos):  # noqa: F811
    body, content_type = multipart(photos["paths"][:4], {"lights": photos["directions"][
        :4].tolist()})
    with socket.create_connection(address(server), timeout=READ_TIMEOUT_S + 10) as s:
        s.sendall(
            f"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        )
        start = time.monotonic()
        s.setblocking(False)
        answer = b""
        for byte in body:  # one byte every 20 ms: 50 B/s; read before each send
            with contextlib.suppress(BlockingIOError):
                answer += s.recv(65536)
            if answer or time.monotonic() - start > READ_TIMEOUT_S + 8:
                break
            try:
                s.send(bytes([byte]))
            except OSError:
                break
            time.sleep(0.02)
    assert answer.startswith(b"HTTP/1.1 408") and b'"timeout"' in answer


# ---------------------------------------------------------------------------- crash leftovers


def test_crash_leftovers_are_cleaned_at_start_up(tmp_path, photos):  # noqa: F811
    results, temp = tmp_path / "results", tmp_path / "tmp"
    temp.mkdir()
    env = {"TMPDIR": str(temp)}
    # A killed server leaves its job folders in --results-dir...
    process, url = start_server(tmp_path / "a", "--results-dir", str(results), env=env)
    job_id = json.loads(submit(url, photos["paths"], lights_options(photos), token=None)[2])["id"]
    wait_done(url, job_id, token=None)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert (results / job_id).is_dir()
    # ... and, without --results-dir, its temporary photonormals-serve-* folder.
    process, url = start_server(tmp_path / "b", env=env, results_dir=False)
    killed = next(temp.glob("photonormals-serve-*"))
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    log = temp / "photonormals-serve-8765.log"  # the Blender add-on's server log: not ours
    log.write_text("a log")
    unlocked = temp / "photonormals-serve-earlier"  # a server without locks, maybe still running
    (unlocked / ("0" * 32)).mkdir(parents=True)
    os.utime(unlocked, (time.time() - 3600, time.time() - 3600))

    process, url = start_server(tmp_path / "c", "--results-dir", str(results), env=env)
    try:
        assert not (results / job_id).exists()
        refused = subprocess.run(  # one results folder, one server
            [sys.executable, "-m", "photonormals", "serve", "--port", "0", "--results-dir",
             str(results)], capture_output=True, text=True, timeout=120,
            env={**os.environ, **env},
        )
        assert refused.returncode == 2 and "another running photonormals server" in refused.stderr
        other, _ = start_server(tmp_path / "d", env=env, results_dir=False)
        try:
            assert not killed.exists() and log.exists() and unlocked.exists()
            assert len(serve_folders(temp)) == 2  # the running one's, and the unlocked one
        finally:
            stop_server(other)
        assert serve_folders(temp) == [unlocked]  # the running one's removed at shutdown
    finally:
        stop_server(process)


def serve_folders(temp: Path) -> list[Path]:
    return [path for path in temp.glob("photonormals-serve-*") if path.is_dir()]


def test_kept_results_have_a_disk_cap(tmp_path, photos):  # noqa: F811
    process, url = start_server(tmp_path, "--max-results-mb", "0.05")  # about one job's results
    try:
        first = json.loads(submit(url, photos["paths"], lights_options(photos), token=None)[2])
        wait_done(url, first["id"], token=None)
        second = json.loads(submit(url, photos["paths"], lights_options(photos), token=None)[2])
        wait_done(url, second["id"], token=None)
        deadline = time.monotonic() + 10  # the worker cleans up within a second
        while call(f"{url}/v1/jobs/{first['id']}", token=None)[0] != 404:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert call(f"{url}/v1/jobs/{second['id']}/result", token=None)[0] == 200
    finally:
        stop_server(process)
