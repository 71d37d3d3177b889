"""Build the installable Blender extension zip into dist/ after checking its manifest.

    python build_addon.py            # -> dist/photonormals-<version>.zip
"""

from __future__ import annotations

import re
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
SOURCE = ROOT / "blender_addon"
# The backend's stdlib client is the one source of truth; the zip carries a copy of it.
CLIENT = ROOT / "backend" / "client.py"
VENDORED_CLIENT = "vendor/client.py"
# The fields Blender's extension installer refuses a package without.
REQUIRED = ("schema_version", "id", "version", "name", "tagline", "maintainer", "type",
            "blender_version_min", "license")
PERMISSIONS = {"files", "network", "clipboard", "camera", "microphone"}
SEMVER = re.compile(r"^\d+\.\d+\.\d+$")
SKIP_PARTS = {"__pycache__", ".pytest_cache", "vendor"}


def check_manifest(manifest: dict) -> list[str]:
    problems = [f"missing field {key!r}" for key in REQUIRED if key not in manifest]
    if manifest.get("type") not in (None, "add-on", "theme"):
        problems.append("type must be 'add-on' or 'theme'")
    if not str(manifest.get("id", "x")).isidentifier():
        problems.append("id must be a valid Python identifier")
    if str(manifest.get("tagline", "")).endswith(".") or len(str(manifest.get("tagline", ""))) > 64:
        problems.append("tagline must be at most 64 characters and not end with a period")
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
        if not reason or str(reason).endswith("."):
            problems.append(f"permission {name!r} needs a reason without a trailing period")
    return problems


def build(out_dir: Path = ROOT / "dist") -> Path:
    manifest = tomllib.loads((SOURCE / "blender_manifest.toml").read_text())
    problems = check_manifest(manifest)
    if problems:
        raise SystemExit("blender_manifest.toml: " + "; ".join(problems))
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{manifest['id']}-{manifest['version']}.zip"
    if not CLIENT.is_file():
        raise SystemExit(f"{CLIENT} is missing: the extension needs the backend client")
    temp = target.with_name(f".{target.name}.tmp")
    with zipfile.ZipFile(temp, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(SOURCE.rglob("*")):
            relative = path.relative_to(SOURCE)
            if path.is_file() and not SKIP_PARTS & set(relative.parts) and path.suffix != ".pyc":
                archive.write(path, relative.as_posix())
        archive.writestr("vendor/__init__.py", '"""Copied in by build_addon.py; do not edit."""\n')
        archive.write(CLIENT, VENDORED_CLIENT)
    temp.replace(target)  # an interrupted build never leaves a broken zip behind
    return target


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "dist"))
