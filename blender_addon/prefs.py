"""Add-on preferences: which backend, where maps go, which normal-map convention."""

from __future__ import annotations

import bpy
from bpy.props import EnumProperty, StringProperty

ADDON_ID = __package__


class PHOTONORMALS_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_ID

    backend_mode: EnumProperty(
        name="Backend",
        items=[("LOCAL", "Local", "Start `photonormals serve` on this computer on a free port"),
               ("REMOTE", "Remote", "Use a running backend, e.g. a GPU server")],
        default="LOCAL",
    )
    python_executable: StringProperty(
        name="Python",
        description="Python (or venv folder) where photonormals is installed; empty: the "
                    "`photonormals` command on PATH",
        subtype="FILE_PATH",
    )
    device: EnumProperty(
        name="Device",
        items=[("auto", "Auto", "CUDA when available, else CPU"), ("cpu", "CPU", ""),
               ("cuda", "CUDA", "")],
        default="auto",
    )
    remote_url: StringProperty(name="URL", default="http://127.0.0.1:8765")
    token: StringProperty(name="Token", subtype="PASSWORD")
    output_dir: StringProperty(
        name="Output Folder",
        description="Where maps and bakes are written; empty: a `photonormals` folder next to the "
                    ".blend (save the file first)",
        subtype="DIR_PATH",
    )
    normal_convention: EnumProperty(
        name="Normal Maps",
        items=[("opengl", "OpenGL", "Green up (Blender, Unity)"),
               ("directx", "DirectX", "Green down (Unreal, 3ds Max); the material flips it back")],
        default="opengl",
    )

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "backend_mode", expand=True)
        if self.backend_mode == "LOCAL":
            layout.prop(self, "python_executable")
            layout.prop(self, "device")
        else:
            layout.prop(self, "remote_url")
            layout.prop(self, "token")
            if not bpy.app.online_access:
                layout.label(text="Online access is off: only a localhost URL works", icon="ERROR")
        layout.prop(self, "output_dir")
        layout.prop(self, "normal_convention", expand=True)


class Defaults:
    """The preference values when the add-on runs without being enabled (headless scripts)."""

    backend_mode, python_executable, device = "LOCAL", "", "auto"
    remote_url, token, output_dir, normal_convention = "http://127.0.0.1:8765", "", "", "opengl"


def get(context=None):
    addon = (context or bpy.context).preferences.addons.get(ADDON_ID)
    return addon.preferences if addon is not None else Defaults()
