"""Run `photonormals serve` as a child process on a free loopback port (the benchmark and the
tests talk to a real server, not to the ASGI app in-process)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(folder: Path, *extra: str, env: dict | None = None, timeout: float = 120.0,
                 results_dir: bool = True):
    """(process, base url) once /v1/health answers. Results go to folder/results (results_dir
    False: the server's own temporary folder) and the server's output to folder/server.log: a
    file, not a pipe, which a long-running server could fill and block on."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = folder / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "photonormals", "serve", "--port", str(port),
             *(["--results-dir", str(folder / "results")] if results_dir else []), *extra],
            env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited: {log_path.read_text(errors='replace').strip()}")
        try:
            urllib.request.urlopen(url + "/v1/health", timeout=1).read()
            return process, url
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"the server did not answer within {timeout:.0f} s")


def stop_server(process: subprocess.Popen, timeout: float = 15.0) -> None:
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
