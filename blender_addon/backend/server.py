"""The local backend: `photonormals serve` started on a free loopback port, stopped on exit.

Started from a worker thread (it can take seconds for torch to import) and stopped from
unregister() or at interpreter exit. If Blender crashes (no exit handler runs), the server still
goes: its stdin is a pipe this process holds open, and `photonormals serve` started with
PHOTONORMALS_EXIT_WITH_STDIN=1 shuts down when that pipe closes and deletes its log.
"""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from .client_loader import load_client

START_TIMEOUT_S = 120.0
# Read by `photonormals serve`. The environment, not argv: a token_urlsafe() token can start
# with "-", which argparse takes for an option, and argv is visible to every user in `ps`.
TOKEN_ENV = "PHOTONORMALS_TOKEN"
# Read by `photonormals serve` (photonormals.service.parent): exit when our end of stdin closes.
EXIT_WITH_STDIN_ENV, LOG_ENV = "PHOTONORMALS_EXIT_WITH_STDIN", "PHOTONORMALS_SERVE_LOG"


class ServerError(Exception):
    """The local backend could not be started; the message says what to fix."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve_command(python: str, port: int, device: str) -> list[str]:
    """`python -m photonormals serve ...` with a configured interpreter, else `photonormals`."""
    args = ["serve", "--host", "127.0.0.1", "--port", str(port), "--device", device]
    if python:
        executable = Path(python).expanduser()
        if executable.is_dir():  # a venv folder: use its interpreter
            for candidate in ("bin/python", "bin/python3", "Scripts/python.exe"):
                if (executable / candidate).is_file():
                    executable = executable / candidate
                    break
        if not executable.is_file():
            raise ServerError(
                f"Python executable not found: {python} (set it in the add-on preferences)"
            )
        if executable.stem.startswith("photonormals"):
            return [str(executable), *args]
        return [str(executable), "-m", "photonormals", *args]
    script = shutil.which("photonormals")
    if script is None:
        raise ServerError(
            "No `photonormals` command on PATH: set the Python executable of the environment where "
            "photonormals is installed in the add-on preferences"
        )
    return [script, *args]


class LocalServer:
    """One `photonormals serve` child process; start() is idempotent while it is alive."""

    def __init__(self, python: str = "", device: str = "auto", log_dir: str | None = None):
        self.python, self.device, self.log_dir = python, device, log_dir
        self.process: subprocess.Popen | None = None
        self.url = ""
        self.token = ""
        self.log_path: Path | None = None
        self._lock = threading.Lock()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = START_TIMEOUT_S) -> str:
        """Start (or reuse) the server and return its URL once /v1/health answers."""
        with self._lock:
            if not self.alive():
                self._spawn()
            process, url, token = self.process, self.url, self.token
        # Outside the lock: stop() stays callable (from unregister) while torch imports.
        self._wait_ready(process, url, token, timeout)
        return url

    def _spawn(self) -> None:
        port, token = free_port(), secrets.token_urlsafe(16)
        command = serve_command(self.python, port, self.device)
        log_dir = Path(self.log_dir or tempfile.gettempdir())
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"photonormals-serve-{port}.log"
        with open(self.log_path, "wb") as log:
            try:
                self.process = subprocess.Popen(
                    command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.PIPE,
                    env={**os.environ, TOKEN_ENV: token, EXIT_WITH_STDIN_ENV: "1",
                         LOG_ENV: str(self.log_path)},
                )
            except OSError as exc:
                raise ServerError(f"Could not start {command[0]}: {exc.strerror or exc}") from exc
        self.url, self.token = f"http://127.0.0.1:{port}", token

    def _wait_ready(self, process, url: str, token: str, timeout: float) -> None:
        client = load_client().Client(url, token=token, timeout=2.0)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ServerError(
                    f"The local backend exited at start-up ({self._log_tail(process)})"
                )
            try:
                client.health()
                return
            except Exception:  # noqa: BLE001 - not up yet, whatever the reason: try again
                time.sleep(0.2)
        self.stop()
        raise ServerError(f"The local backend did not answer within {timeout:.0f} s")

    def _log_tail(self, process) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return lines[-1] if lines else f"exit code {process.returncode}"

    def stop(self) -> None:
        with self._lock:
            process, self.process = self.process, None
        if process is not None and process.stdin is not None:
            process.stdin.close()  # the server's own signal to shut down gracefully
        if process is not None and process.poll() is None:
            try:
                process.wait(timeout=3)
            except subprocess.TimeoutExpired:  # an older backend without the stdin watch
                process.terminate()
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        if self.log_path is not None:  # a start-up failure already quoted the log in its message
            self.log_path.unlink(missing_ok=True)


_SERVERS: list[LocalServer] = []


def shared_server(python: str, device: str) -> LocalServer:
    """The add-on's one local server; a new one when the settings changed."""
    for server in _SERVERS:
        if server.python == python and server.device == device:
            return server
    stop_all()
    server = LocalServer(python, device)
    _SERVERS.append(server)
    return server


def stop_all() -> None:
    while _SERVERS:
        _SERVERS.pop().stop()


atexit.register(stop_all)
