"""Build the installable Blender extension zip into dist/, as `blender --command extension build`.

    python build_addon.py            # -> dist/photonormals-<version>.zip

The add-on folder is staged with the backend's stdlib client copied in (vendor/client.py, the one
source of truth stays backend/client.py), then zipped. When the `bpy` module is installed, its
own extension tool (blender_ext.py, what `blender --command extension build|validate` runs) builds
the zip and validates it, so the build fails exactly where Blender's installer and the extensions
platform would refuse the package. Without bpy the same zip is written here with Blender's
default build rules (no __pycache__/, dot-files, top-level *.zip or *.blend1-9 backups; deflate
level 9; files at the archive root) and check_manifest() applies the manifest rules we rely on.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
SOURCE = ROOT / "blender_addon"
# The backend's stdlib client is the one source of truth; the zip carries a copy of it.
CLIENT = ROOT / "backend" / "client.py"
VENDORED_CLIENT = "vendor/client.py"
VENDOR_INIT = '"""Copied in by build_addon.py; do not edit."""\n'
# The fields Blender's extension installer refuses a package without.
REQUIRED = ("schema_version", "id", "version", "name", "tagline", "maintainer", "type",
            "blender_version_min", "license")
PERMISSIONS = {"files", "network", "clipboard", "camera", "microphone"}
SEMVER = re.compile(r"^\d+\.\d+\.\d+$")
# Blender's limit for the tagline and each permission's reason ("terse description").
TERSE_MAX = 64


def terse_problem(text: str) -> str | None:
    """Blender's rule for a tagline or permission reason: at most 64 characters, ending in a
    letter, digit or closing bracket (no trailing punctuation)."""
    text = str(text)
    if not text.strip():
        return "must not be empty"
    if len(text) > TERSE_MAX:
        return f"must be at most {TERSE_MAX} characters, found {len(text)}"
    if not (text[-1].isalnum() or text[-1] in ")]}"):
        return "must not end with punctuation"
    return None


def check_manifest(manifest: dict) -> list[str]:
    problems = [f"missing field {key!r}" for key in REQUIRED if key not in manifest]
    if manifest.get("type") not in (None, "add-on", "theme"):
        problems.append("type must be 'add-on' or 'theme'")
    if not str(manifest.get("id", "x")).isidentifier():
        problems.append("id must be a valid Python identifier")
    if "tagline" in manifest and (problem := terse_problem(manifest["tagline"])):
        problems.append(f"tagline {problem}")
    for key in ("version", "blender_version_min", "schema_version"):
        if key in manifest and not SEMVER.match(str(manifest[key])):
            problems.append(f"{key} must look like 1.2.3")
    if SEMVER.match(str(manifest.get("blender_version_min", ""))) and \
            tuple(map(int, manifest["blender_version_min"].split("."))) < (4, 2, 0):
        problems.append("blender_version_min must be 4.2.0 or later (extensions start there)")
    licenses = manifest.get("license", [])
    if (
        not isinstance(licenses, list)
        or not licenses
        or not all(str(x).startswith("SPDX:") for x in licenses)
    ):
        problems.append("license must be a non-empty list of 'SPDX:...' entries")
    for name in set(manifest.get("permissions", {})) - PERMISSIONS:
        problems.append(f"unknown permission {name!r}")
    for name, reason in manifest.get("permissions", {}).items():
        if problem := terse_problem(reason or ""):
            problems.append(f"permission {name!r}: the reason {problem}")
    return problems


def blender_ext_script() -> Path | None:
    """blender_ext.py of the installed bpy module (found without importing bpy), or None."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.origin:
        return None
    found = sorted(Path(spec.origin).parent.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    return found[-1] if found else None


def _excluded(relative: Path) -> bool:
    """Blender's default `paths_exclude_pattern`: __pycache__/, .*, /*.zip, *.blend[1-9]."""
    name = relative.name
    return (
        "__pycache__" in relative.parts
        or any(part.startswith(".") for part in relative.parts)
        or (len(relative.parts) == 1 and name.endswith(".zip"))
        or re.search(r"\.blend[1-9]$", name) is not None
    )


def stage(folder: Path) -> Path:
    """The extension's source tree as it is packaged: the add-on plus the vendored client."""
    target = folder / "photonormals"
    shutil.copytree(SOURCE, target, ignore=lambda d, names: [
        n for n in names if _excluded(Path(os.path.relpath(Path(d) / n, SOURCE)))
        or (Path(d) == SOURCE and n == "vendor")  # a stale local copy never ships
    ])
    (target / "vendor").mkdir()
    (target / "vendor" / "__init__.py").write_text(VENDOR_INIT)
    shutil.copyfile(CLIENT, target / VENDORED_CLIENT)
    return target


def zip_like_blender(source: Path, target: Path) -> None:
    """Blender's `extension build` without Blender: manifest first, then every other file."""
    files = sorted(p for p in source.rglob("*") if p.is_file() and not p.is_symlink()
                   and not _excluded(p.relative_to(source)))
    files.sort(key=lambda p: p.name != "blender_manifest.toml" or p.parent != source)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in files:
            archive.write(path, path.relative_to(source).as_posix())


def _run_blender_ext(script: Path, *args: str) -> None:
    process = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True,
                             check=False)
    if process.returncode != 0:
        raise SystemExit(f"Blender's extension tool refused the package ({' '.join(args[:1])}):\n"
                         f"{(process.stdout + process.stderr).strip()}")


def build(out_dir: Path = ROOT / "dist", use_blender: bool | None = None) -> Path:
    """Write out_dir/<id>-<version>.zip. use_blender: None = Blender's tool when bpy is
    installed, True = require it, False = never use it."""
    manifest = tomllib.loads((SOURCE / "blender_manifest.toml").read_text())
    problems = check_manifest(manifest)
    if problems:
        raise SystemExit("blender_manifest.toml: " + "; ".join(problems))
    if not CLIENT.is_file():
        raise SystemExit(f"{CLIENT} is missing: the extension needs the backend client")
    script = blender_ext_script() if use_blender is not False else None
    if use_blender and script is None:
        raise SystemExit("Blender's extension tool not found: install the bpy module")
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{manifest['id']}-{manifest['version']}.zip"
    temp = target.with_name(f".{target.name}.tmp.zip")
    with tempfile.TemporaryDirectory(prefix="photonormals-build-") as scratch:
        source = stage(Path(scratch))
        try:
            if script is not None:
                _run_blender_ext(script, "build", "--source-dir", str(source),
                                 "--output-filepath", str(temp))
                _run_blender_ext(script, "validate", str(temp))
            else:
                zip_like_blender(source, temp)
            temp.replace(target)  # an interrupted build never leaves a broken zip behind
        finally:
            temp.unlink(missing_ok=True)
    return target


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "dist"))
