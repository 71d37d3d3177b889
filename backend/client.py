"""A small client for the PhotoNormals inference service (`photonormals serve`).

Standard library only and importing nothing from photonormals, so the Blender add-on can vendor
this one file. Every failure is one of the exceptions below, never a raw urllib error:

    client = Client("http://127.0.0.1:8765", token=None)
    files = client.predict(["a.png", "b.png", "c.png"], "out/", options={"mode": "multi"})
"""

from __future__ import annotations

import http.client
import json
import os
import pathlib
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zipfile

API = "/v1"
# The only files a result may hold (predict's maps, and the service's height map): a hostile or
# broken server cannot make fetch() write .bashrc or replace another file in the output folder.
MAP_FILES = frozenset({
    "normal.npy", "normal.png", "albedo.png", "mask.png", "shading.png", "lights.json",
    "report.json", "height.png", "height.npy", "height.exr", "height.json", "roughness.png",
})
# Bounds what one download may write (a 64 MP job's maps are about 2 GB); a zip bomb stops here.
MAX_RESULT_BYTES = 4 << 30


class PhotoNormalsError(Exception):
    """Base of every client error; status is the HTTP status, code the server's error code."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


class BackendUnavailable(PhotoNormalsError):
    """Cannot connect, the connection dropped, or the server did not answer in time."""


class AuthError(PhotoNormalsError):
    """401/403: missing or wrong token."""


class RequestError(PhotoNormalsError):
    """Any other 4xx/5xx, with the server's message."""


class JobFailed(PhotoNormalsError):
    """The job ended in state "error"; the message is the job's error."""


class JobCancelled(PhotoNormalsError):
    """The job was cancelled (by this client or another)."""


class Client:
    def __init__(
        self, url: str = "http://127.0.0.1:8765", token: str | None = None, timeout: float = 30.0,
        max_result_bytes: int = MAX_RESULT_BYTES,
    ):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.max_result_bytes = max_result_bytes

    # ------------------------------------------------------------------ endpoints

    def health(self) -> dict:
        return self._json("GET", "/health")

    def submit(self, photos, options: dict | None = None, lights_file=None, mask_file=None) -> str:
        """Upload a photo set (and optionally its light file and mask) and queue a job; returns
        its id at once."""
        body, content_type = _multipart(photos, options, lights_file, mask_file)
        return self._json("POST", "/jobs", body, content_type)["id"]

    def status(self, job_id: str) -> dict:
        """{"id", "state", "stage", "progress", "error"}; state is queued, running, done, error
        or cancelled."""
        return self._json("GET", f"/jobs/{_quote(job_id)}")

    def wait(self, job_id: str, poll: float = 0.25, timeout: float | None = None,
             on_progress=None, should_cancel=None) -> dict:
        """Poll until the job is done. on_progress(status) sees every poll; should_cancel()
        returning True cancels the job and raises JobCancelled. Raises JobFailed / JobCancelled,
        or BackendUnavailable when timeout seconds pass."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self.status(job_id)
            if on_progress is not None:
                on_progress(status)
            state = status.get("state")
            if state == "done":
                return status
            if state == "error":
                raise JobFailed(status.get("error") or "the job failed", code="job_failed")
            if state == "cancelled":
                raise JobCancelled("the job was cancelled", code="cancelled")
            if should_cancel is not None and should_cancel():
                self.cancel(job_id)
                raise JobCancelled("the job was cancelled", code="cancelled")
            if deadline is not None and time.monotonic() > deadline:
                raise BackendUnavailable(
                    f"job {job_id} did not finish within {timeout:g} s", code="timeout"
                )
            time.sleep(poll)

    def fetch(self, job_id: str, out_dir) -> list[pathlib.Path]:
        """Download a finished job's maps into out_dir (created if needed); returns the paths.

        The zip goes to a temporary folder inside out_dir first and the files are moved in only
        when all of it arrived and extracted, so a dropped connection leaves nothing half-written.
        Only the map names in MAP_FILES are accepted, and at most max_result_bytes in all.
        """
        out_dir = pathlib.Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        staging = pathlib.Path(tempfile.mkdtemp(prefix=".photonormals-", dir=out_dir))
        try:
            archive = staging / "result.zip"
            self._download(f"/jobs/{_quote(job_id)}/result", archive)
            names = _extract_safely(archive, staging / "files", self.max_result_bytes)
            written = []
            for name in names:
                target = out_dir / name
                os.replace(staging / "files" / name, target)
                written.append(target)
            return written
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def cancel(self, job_id: str) -> None:
        self._json("DELETE", f"/jobs/{_quote(job_id)}")

    def predict(self, photos, out_dir, options: dict | None = None, lights_file=None,
                mask_file=None, **wait_kwargs) -> list[pathlib.Path]:
        """submit + wait + fetch: the maps written to out_dir."""
        job_id = self.submit(photos, options, lights_file, mask_file)
        self.wait(job_id, **wait_kwargs)
        return self.fetch(job_id, out_dir)

    def relight(
        self,
        job_id: str,
        out_file,
        hdri: str = "studio",
        rotation: float = 0.0,
        exposure: float = 0.0,
        shader: str = "diffuse",
        background: str = "keep",
    ) -> pathlib.Path:
        """Render a finished job's maps under an HDRI. hdri is a Blender bundled HDRI name or a
        path to an .exr/.hdr file (uploaded). out_file's extension picks PNG (sRGB) or EXR."""
        out_file = pathlib.Path(out_file)
        fmt = "exr" if out_file.suffix.lower() == ".exr" else "png"
        fields = {
            "job_id": job_id,
            "rotation": str(float(rotation)),
            "exposure": str(float(exposure)),
            "shader": shader,
            "background": background,
            "format": fmt,
        }
        files = []
        if os.path.isfile(str(hdri)) and pathlib.Path(hdri).suffix.lower() in (".exr", ".hdr"):
            files.append(("hdri_file", pathlib.Path(hdri)))
        else:
            fields["hdri"] = str(hdri)
        body, content_type = _encode_multipart(fields, files)
        out_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{out_file.name}.", suffix=".tmp", dir=out_file.parent)
        os.close(fd)
        try:
            self._download("/relight", pathlib.Path(tmp), "POST", body, content_type)
            os.replace(tmp, out_file)
        finally:
            pathlib.Path(tmp).unlink(missing_ok=True)
        return out_file

    # ------------------------------------------------------------------ transport

    def _json(
        self, method: str, path: str, body: bytes | None = None, content_type: str | None = None
    ) -> dict:
        with self._open(method, path, body, content_type) as response:
            try:
                payload = _read(response)
                return json.loads(payload.decode("utf-8")) if payload else {}
            except ValueError as exc:
                raise RequestError(
                    f"the server sent invalid JSON ({exc})", response.status
                ) from None

    def _download(self, path: str, target: pathlib.Path, method: str = "GET",
                  body: bytes | None = None, content_type: str | None = None) -> None:
        with self._open(method, path, body, content_type) as response:
            expected = response.headers.get("Content-Length")
            if expected is not None and expected.isdigit() \
                    and int(expected) > self.max_result_bytes:
                raise RequestError(f"the server sends {int(expected) >> 20} MiB, over this "
                                   f"client's limit of {self.max_result_bytes >> 20} MiB")
            size = 0
            with open(target, "wb") as f:
                while True:
                    chunk = _read(response, 1 << 20)
                    if not chunk:
                        break
                    f.write(chunk)
                    size += len(chunk)
                    if size > self.max_result_bytes:
                        raise RequestError(f"the server sent more than this client's limit of "
                                           f"{self.max_result_bytes >> 20} MiB")
            if expected is not None and size != int(expected):
                raise BackendUnavailable(f"the connection dropped after {size} of {expected} bytes")

    def _open(self, method, path, body=None, content_type=None):
        request = urllib.request.Request(self.url + API + path, data=body, method=method)
        if content_type:
            request.add_header("Content-Type", content_type)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            return urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            raise _http_error(exc) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            raise BackendUnavailable(
                f"cannot reach the PhotoNormals service at {self.url}: {reason}"
            ) from None


def _read(response, size: int = -1) -> bytes:
    try:
        return response.read(size)
    except (OSError, http.client.HTTPException) as exc:  # includes socket.timeout, IncompleteRead
        raise BackendUnavailable(f"the connection to the service dropped: {exc}") from None


def _http_error(exc: urllib.error.HTTPError) -> PhotoNormalsError:
    code, message = None, exc.reason
    try:
        error = json.loads(exc.read().decode("utf-8"))["error"]
        code, message = error.get("code"), error.get("message", message)
    except (ValueError, KeyError, TypeError, OSError, http.client.HTTPException):
        pass
    finally:
        exc.close()
    kind = AuthError if exc.code in (401, 403) else RequestError
    if exc.code == 503 and code in (None, "busy", "queue_full"):
        message = f"{message} (retry after {exc.headers.get('Retry-After', '?')} s)"
    return kind(str(message), exc.code, code)


def _quote(part: str) -> str:
    return urllib.parse.quote(str(part), safe="")


def _multipart(photos, options, lights_file, mask_file=None) -> tuple[bytes, str]:
    if isinstance(photos, (str, os.PathLike)):
        photos = [photos]
    files = [("photos", pathlib.Path(p)) for p in photos]
    if lights_file is not None:
        files.append(("lights_file", pathlib.Path(lights_file)))
    if mask_file is not None:
        files.append(("mask_file", pathlib.Path(mask_file)))
    return _encode_multipart({"options": json.dumps(options or {})}, files)


def _encode_multipart(fields: dict, files: list) -> tuple[bytes, str]:
    """multipart/form-data body: fields are str values, files are (field, path) pairs."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + str(value).encode("utf-8") + b"\r\n"
        )
    for name, path in files:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise RequestError(f"{path}: cannot read ({exc.strerror or exc})") from None
        filename = path.name.replace('"', "_").replace("\r", "_").replace("\n", "_")
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode()
            + data
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _extract_safely(archive: pathlib.Path, folder: pathlib.Path, max_bytes: int) -> list[str]:
    """Extract the expected map files (MAP_FILES, each once), at most max_bytes in all."""
    folder.mkdir()
    names, left = [], max_bytes
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                name = info.filename
                if name not in MAP_FILES or name in names:
                    raise RequestError(f"the result archive holds an unexpected file {name!r}")
                if info.file_size > left:
                    raise RequestError(f"the result archive expands past this client's limit "
                                       f"of {max_bytes >> 20} MiB")
                with zf.open(info) as src, open(folder / name, "xb") as dst:
                    left -= _copy_at_most(src, dst, left)
                names.append(name)
    except zipfile.BadZipFile as exc:
        raise BackendUnavailable(f"the result archive is incomplete or corrupt ({exc})") from None
    return names


def _copy_at_most(src, dst, limit: int) -> int:
    """Copy, and refuse to go past limit bytes whatever the archive's header claimed."""
    copied = 0
    while chunk := src.read(1 << 20):
        copied += len(chunk)
        if copied > limit:
            raise RequestError("the result archive expands past this client's limit")
        dst.write(chunk)
    return copied


__all__ = [
    "AuthError",
    "BackendUnavailable",
    "Client",
    "JobCancelled",
    "JobFailed",
    "PhotoNormalsError",
    "RequestError",
]
