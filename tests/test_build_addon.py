"""build_addon.py: manifest checks and the zip layout Blender's installer expects."""

import importlib.util
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("build_addon", ROOT / "build_addon.py")
build_addon = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build_addon)


def test_zip_has_manifest_and_package_at_its_root(tmp_path):
    target = build_addon.build(tmp_path)
    names = zipfile.ZipFile(target).namelist()
    assert "blender_manifest.toml" in names and "__init__.py" in names
    assert not any("__pycache__" in n for n in names)
    manifest = tomllib.loads(zipfile.ZipFile(target).read("blender_manifest.toml").decode())
    assert target.name == f"photonormals-{manifest['version']}.zip"


def test_manifest_problems_are_named():
    manifest = tomllib.loads((ROOT / "blender_addon" / "blender_manifest.toml").read_text())
    assert build_addon.check_manifest(manifest) == []
    broken = {k: v for k, v in manifest.items() if k != "maintainer"}
    broken["tagline"] = "Ends with a period."
    problems = build_addon.check_manifest(broken)
    assert "missing field 'maintainer'" in problems
    assert any("tagline" in p for p in problems)
