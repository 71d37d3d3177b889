"""Put a folder of results in place at once: write it as a hidden sibling, then rename.

A run killed while writing leaves only the hidden sibling, never a folder of new maps beside old
ones (or a half-written map). Files in the folder that are not results (the user's own notes, a
height map) move into the new folder; the old results go. Nothing but renames happens between
the old folder leaving and the new one arriving, and recover() finishes or undoes a swap that a
kill cut short, so nothing already made is lost.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

_PARTIAL, _OLD = "partial", "old"


@contextmanager
def replacing(folder: Path, results: Collection[str]) -> Iterator[Path]:
    """Yield an empty staging folder; when the block ends normally, it becomes ``folder``,
    with every entry of the old folder whose name is not in ``results``. On an error the
    staging folder goes and ``folder`` is untouched."""
    folder = Path(folder)
    if folder.is_symlink():  # swap the folder it points to, not the link
        folder = folder.resolve()
    recover(folder, results)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = _sibling(folder, _PARTIAL)
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if not folder.exists():
        staging.rename(folder)
        return
    shutil.copymode(folder, staging)
    old = _sibling(folder, _OLD)
    folder.rename(old)
    staging.rename(folder)
    _move_kept(old, folder, results)


def recover(folder: Path, results: Collection[str]) -> None:
    """Clean up after a run that was killed: drop unfinished staging folders and stale temporary
    files, and finish (or, before the new folder arrived, undo) a swap cut short."""
    folder = Path(folder)
    if not folder.parent.is_dir():
        return
    for stale in folder.parent.glob(f".{folder.name}.{_PARTIAL}-*"):
        shutil.rmtree(stale, ignore_errors=True)
    for old in folder.parent.glob(f".{folder.name}.{_OLD}-*"):
        if folder.exists():
            _move_kept(old, folder, results)
        else:
            old.rename(folder)
    if folder.is_dir():
        for entry in folder.iterdir():
            if _is_temporary(entry.name, results):
                entry.unlink(missing_ok=True)


def _move_kept(old: Path, folder: Path, results: Collection[str]) -> None:
    for entry in old.iterdir():
        if entry.name not in results and not _is_temporary(entry.name, results):
            entry.rename(folder / entry.name)
    shutil.rmtree(old, ignore_errors=True)


def _is_temporary(name: str, results: Collection[str]) -> bool:
    """write_atomic's temporary for a result, left by a killed writer: .normal.npy.<random>.tmp"""
    return name.endswith(".tmp") and any(name.startswith(f".{result}.") for result in results)


def _sibling(folder: Path, kind: str) -> Path:
    return folder.parent / f".{folder.name}.{kind}-{secrets.token_hex(4)}"
