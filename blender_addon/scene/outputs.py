"""Where maps go: the output folder, unique names, and atomic copies out of the staging folder.

No bpy here: the caller passes the .blend path. Files are created with the user's umask (shared
disks, render farms), never tempfile's private 0600.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from pathlib import Path

SUBFOLDER = "photonormals"
NEEDS_FOLDER = ("Save the .blend file first (the maps are written next to it), or set an Output "
                "Folder in the add-on preferences")
NEEDS_FOLDER_HINT = "File > Save, then Generate again"


def output_folder(configured: str, blend_path: str) -> Path | None:
    """The absolute folder to write into, or None while the file is unsaved and no folder is set
    (maps in a temporary folder would be lost, and the file could not find them again)."""
    if configured and not configured.startswith("//"):
        return Path(configured).expanduser().absolute()
    if not blend_path:
        return None
    base = Path(blend_path).parent
    if configured:  # "//maps/": relative to the .blend, as Blender writes it
        return (base / configured[2:]).absolute()
    return base / SUBFOLDER


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


def new_temp_file(target: Path, suffix: str = ".tmp") -> Path:
    """An empty hidden file beside target, created with the user's umask (not 0600)."""
    while True:
        temp = target.parent / f".{target.stem}.{secrets.token_hex(4)}{suffix}"
        try:
            with open(temp, "xb"):
                return temp
        except FileExistsError:
            continue


def copy_atomic(source: Path, target: Path) -> None:
    """Copy to a hidden temporary name in the target folder, then rename: all or nothing."""
    temp = new_temp_file(target)
    try:
        shutil.copyfile(source, temp)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
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


def relative_to_blend(path: Path, blend_path: str) -> str:
    """Blender's '//'-relative form of path for a .blend at blend_path; the absolute path when
    there is none (another drive on Windows)."""
    try:
        relative = os.path.relpath(Path(path).absolute(), Path(blend_path).absolute().parent)
    except ValueError:
        return str(path)
    return "//" + relative.replace(os.sep, "/")
