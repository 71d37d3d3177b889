"""The results folder: one server's at a time, and never left to grow by a server that crashed.

A server holds a lock on its results folder while it runs. At start-up it removes the job folders
a killed server left there (uploads, partial outputs, .result.zip.tmp): their jobs are gone with
that server. Without --results-dir the folder is a fresh temporary photonormals-serve-* folder,
removed at shutdown; start-up also removes those of servers that are no longer running (their
lock is free). A folder without a lock is left alone: its server may be starting, or be of an
earlier version that took no lock and still be running.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from filelock import FileLock, Timeout

from ..errors import UserError

TEMP_PREFIX = "photonormals-serve-"
LOCK_NAME = ".photonormals-serve.lock"
JOB_FOLDER = re.compile(r"[0-9a-f]{32}")  # JobManager.new_job's uuid4().hex


class ResultsFolder:
    def __init__(self, path: Path | None):
        self.requested = Path(path) if path is not None else None
        self.path: Path | None = None
        self._lock: FileLock | None = None

    def open(self) -> Path:
        """Claim the folder (made if needed) and empty it of a crashed server's job folders."""
        if self.requested is None:
            remove_stale_temp_folders()
            path = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX))
        else:
            path = self.requested
            path.mkdir(parents=True, exist_ok=True)
        self._lock = claim(path)
        for entry in path.iterdir():
            if entry.is_dir() and JOB_FOLDER.fullmatch(entry.name):
                shutil.rmtree(entry, ignore_errors=True)
        self.path = path
        return path

    def close(self) -> None:
        if self._lock is not None:
            self._lock.release()
        if self.requested is None and self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)


def claim(path: Path) -> FileLock:
    """The folder's lock, held until released (or the process ends, however it ends)."""
    lock = FileLock(path / LOCK_NAME)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise UserError(
            f"{path} is the results folder of another running photonormals server; "
            "give this one its own --results-dir"
        ) from None
    return lock


def check_free(path: Path) -> None:
    """UserError if another server holds path (cheap to ask before starting a server)."""
    if path.is_dir():
        claim(path).release()


def remove_stale_temp_folders() -> None:
    for folder in Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*"):
        if not folder.is_dir() or folder.is_symlink():
            continue  # e.g. the Blender add-on's photonormals-serve-PORT.log files
        if not (folder / LOCK_NAME).is_file():
            # No lock: a server starting this very moment, or one of a version without locks,
            # which may still be running (another user's, on a shared machine): not ours to judge.
            continue
        try:
            claim(folder).release()
        except UserError:
            continue  # its server is running
        shutil.rmtree(folder, ignore_errors=True)
