"""build_addon.py: manifest checks and the zip layout Blender's installer expects."""

import importlib.util
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

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


def test_zip_vendors_the_backend_client(tmp_path):
    names = zipfile.ZipFile(build_addon.build(tmp_path)).namelist()
    assert "vendor/client.py" in names and "vendor/__init__.py" in names
    assert zipfile.ZipFile(build_addon.build(tmp_path)).read("vendor/client.py") == \
        (ROOT / "backend" / "client.py").read_bytes()
    assert "batch.py" in names and "scene/material.py" in names and "backend/server.py" in names


def test_manifest_formats_are_checked():
    manifest = tomllib.loads((ROOT / "blender_addon" / "blender_manifest.toml").read_text())
    assert {"network", "files"} <= manifest["permissions"].keys()
    broken = dict(manifest, blender_version_min="4.1.0", license="MIT", permissions={"gps": "x"})
    problems = build_addon.check_manifest(broken)
    assert any("4.2.0" in p for p in problems)
    assert any("license" in p for p in problems)
    assert "unknown permission 'gps'" in problems


def test_installs_and_registers_round_trip_from_the_zip(tmp_path):
    """Blender's own extension installer, headless; then disable and enable again."""
    bpy = pytest.importorskip("bpy")
    import addon_utils

    target = build_addon.build(tmp_path / "dist")
    repos = bpy.context.preferences.extensions.repos
    repo = repos.new(
        name="pn_build_test", module="pn_build_test", custom_directory=str(tmp_path / "repo")
    )
    module = "bl_ext.pn_build_test.photonormals"
    try:
        result = bpy.ops.extensions.package_install_files(
            filepath=str(target), repo="pn_build_test", enable_on_install=True)
        assert result == {"FINISHED"}
        assert (tmp_path / "repo" / "photonormals" / "vendor" / "client.py").is_file()
        assert hasattr(bpy.types, "PHOTONORMALS_PT_main") and hasattr(
            bpy.types.Scene, "photonormals"
        )
        assert bpy.context.preferences.addons[module].preferences.backend_mode == "LOCAL"
        assert bpy.ops.photonormals.generate.poll()
        client = sys.modules[module].backend.client_loader.load_client()
        assert client.__name__ == f"{module}.vendor.client"  # the vendored copy, not the checkout's

        addon_utils.disable(module)
        assert not hasattr(bpy.types, "PHOTONORMALS_PT_main")
        assert not hasattr(bpy.types.Scene, "photonormals")
        addon_utils.enable(module)
        assert hasattr(bpy.types, "PHOTONORMALS_PT_main")
    finally:
        addon_utils.disable(module)
        repos.remove(repo)
