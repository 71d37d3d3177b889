"""Where maps go: the output folder, unique names, and atomic copies out of the staging folder.

No bpy here: the caller passes the .blend path.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

SUBFOLDER = "photonormals"


def output_folder(configured: str, blend_path: str) -> tuple[Path, str]:
    """The folder to write into and a note for the panel when it is a temporary one."""
    if configured:
        return Path(configured).expanduser(), ""
    if blend_path:
        return Path(blend_path).parent / SUBFOLDER, ""
    folder = Path(tempfile.gettempdir()) / SUBFOLDER
    return (
        folder,
        f"Unsaved .blend file: maps go to the temporary folder {folder}; save the file to keep "
        f"them next to it",
    )


def safe_stem(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._") or "photo"


def unique_prefix(folder: Path, base: str, names: list[str]) -> str:
    """`base`, or `base_002`, `base_003`... so that no `<prefix>_<name>` exists yet in folder."""
    base = safe_stem(base)
    prefix, number = base, 1
    while any((folder / f"{prefix}_{name}").exists() for name in names):
        number += 1
        prefix = f"{base}_{number:03d}"
    return prefix


def copy_atomic(source: Path, target: Path) -> None:
    """Copy to a hidden temporary name in the target folder, then rename: all or nothing."""
    handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(handle)
    try:
        shutil.copyfile(source, temp)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def publish(files: list[Path], folder: Path, base: str) -> dict[str, Path]:
    """Copy every fetched map into folder under one fresh prefix; {map file name: new path}.

    Nothing already there is overwritten; if a copy fails, the ones already made are removed.
    """
    folder.mkdir(parents=True, exist_ok=True)
    names = [Path(f).name for f in files]
    prefix = unique_prefix(folder, base, names)
    written: dict[str, Path] = {}
    try:
        for source in files:
            target = folder / f"{prefix}_{Path(source).name}"
            copy_atomic(Path(source), target)
            written[Path(source).name] = target
    except BaseException:
        for path in written.values():
            path.unlink(missing_ok=True)
        raise
    return written


def unique_path(folder: Path, stem: str, suffix: str) -> Path:
    """folder/stem.suffix, or stem_002.suffix, ... whichever does not exist yet."""
    stem = safe_stem(stem)
    path, number = folder / f"{stem}{suffix}", 1
    while path.exists():
        number += 1
        path = folder / f"{stem}_{number:03d}{suffix}"
    return path
