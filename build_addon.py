"""Build the installable Blender extension zip into dist/ after checking its manifest.

    python build_addon.py            # -> dist/photonormals-<version>.zip
"""

from __future__ import annotations

import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
SOURCE = ROOT / "blender_addon"
# The fields Blender's extension installer refuses a package without.
REQUIRED = ("schema_version", "id", "version", "name", "tagline", "maintainer", "type",
            "blender_version_min", "license")
SKIP_PARTS = {"__pycache__", ".pytest_cache"}


def check_manifest(manifest: dict) -> list[str]:
    problems = [f"missing field {key!r}" for key in REQUIRED if key not in manifest]
    if manifest.get("type") not in (None, "add-on", "theme"):
        problems.append("type must be 'add-on' or 'theme'")
    if not str(manifest.get("id", "x")).isidentifier():
        problems.append("id must be a valid Python identifier")
    if str(manifest.get("tagline", "")).endswith(".") or len(str(manifest.get("tagline", ""))) > 64:
        problems.append("tagline must be at most 64 characters and not end with a period")
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
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(SOURCE.rglob("*")):
            if path.is_file() and not SKIP_PARTS & set(path.parts) and path.suffix != ".pyc":
                archive.write(path, path.relative_to(SOURCE).as_posix())
    return target


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "dist"))
