"""Render the images of docs/blender.md headless with the bpy module (no Blender UI needed).

    python docs/blender/render_docs.py

1. relit.png: the bundled relief example (examples/relief) solved by `photonormals predict`,
   wired by the add-on onto its photo plane, rendered with Cycles under three of Blender's
   studio HDRIs - the same scene the add-on's Relight Preview shows.
2. panel.png: bpy in background mode has no window, so a true screenshot of the sidebar is
   impossible; instead the add-on's own panel draw() code runs against a recording layout and
   the recorded widgets are drawn as a listing (idle, running and error states).
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
HDRIS = (("studio", 0.0), ("forest", 120.0), ("sunset", 200.0))


def load_addon():
    spec = importlib.util.spec_from_file_location("_pn_batch", ROOT / "blender_addon" / "batch.py")
    batch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(batch)
    return batch.load_addon()


def solve_relief(tmp: Path) -> list[Path]:
    from photonormals.cli.main import main

    relief = ROOT / "examples" / "relief"
    photos = [str(relief / name) for name in (relief / "filenames.txt").read_text().split()]
    out = tmp / "relief"
    assert main(["predict", "--lights", str(relief / "light_directions.txt"), "--intensities",
                 str(relief / "light_intensities.txt"), "--mask", str(relief / "mask.png"),
                 "--out", str(out), *photos]) == 0
    return sorted(out.iterdir())


def render_relit(addon, files: list[Path], tmp: Path) -> Path:
    import bpy

    tiles = []
    for hdri, rotation in HDRIS:
        bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
        scene = bpy.context.scene
        done = addon.scene.results.import_maps(scene, files, tmp / "maps", "relief")
        addon.scene.camera.frame_plane(scene, done.obj, pixels=256)
        addon.scene.world.set_hdri_world(scene, hdri, rotation_deg=rotation)
        scene.render.engine = "CYCLES"
        scene.cycles.device, scene.cycles.samples = "CPU", 24
        scene.render.filepath = str(tmp / f"relit_{hdri}.png")
        bpy.ops.render.render(write_still=True)
        tiles.append(
            (
                f"{hdri} HDRI, rotation {rotation:.0f} deg",
                Image.open(scene.render.filepath).convert("RGB"),
            )
        )
    width, height = tiles[0][1].size
    sheet = Image.new("RGB", (width * len(tiles), height + 24), "white")
    draw = ImageDraw.Draw(sheet)
    for k, (caption, tile) in enumerate(tiles):
        sheet.paste(tile, (k * width, 24))
        draw.text((k * width + 6, 5), caption, fill="black", font=ImageFont.load_default())
    target = HERE / "relit.png"
    sheet.save(target, optimize=True)
    return target


class Recorder:
    """Stands in for bpy.types.UILayout: remembers what draw() asked for, as text lines."""

    def __init__(self, lines: list[str], depth: int = 0):
        self.lines, self.depth, self.active, self.enabled = lines, depth, True, True

    def _add(self, text):
        self.lines.append("    " * self.depth + text)

    def row(self, **_):
        return Recorder(self.lines, self.depth)

    column = row

    def box(self):
        self._add("+-- box")
        return Recorder(self.lines, self.depth + 1)

    def label(self, text="", icon="NONE", **_):
        self._add(f"[{icon.lower()}] {text}" if icon != "NONE" else text)

    def prop(self, data, name, text=None, **_):
        value = getattr(data, name)
        label = text if text is not None else data.bl_rna.properties[name].name
        self._add(
            f"{label}: {value:.2f}" if isinstance(value, float) else f"{label}: {value or '-'}"
        )

    def operator(self, idname, text=None, icon="NONE", **_):
        self._add(f"< {text or idname.split('.')[-1].replace('_', ' ').title()} >")
        return type("Props", (), {})()

    def template_list(self, *args, **_):
        data, prop = args[2], args[3]
        items = getattr(data, prop)
        self._add(f"| {len(items)} photo(s): " + ", ".join(Path(i.filepath).name for i in items[:4])
                  + (" ..." if len(items) > 4 else ""))

    def progress(self, factor=0.0, text="", **_):
        filled = int(factor * 20)
        self._add(f"[{'#' * filled}{'.' * (20 - filled)}] {text} {factor:.0%}")

    def separator(self, **_):
        self._add("")


def panel_listing(addon) -> list[str]:
    import bpy

    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    addon.props.register()
    scene = bpy.context.scene
    relief = ROOT / "examples" / "relief"
    for name in (relief / "filenames.txt").read_text().split():
        scene.photonormals.photos.add().filepath = str(relief / name)
    scene.photonormals.mode = "multi"
    scene.photonormals.light_file = str(relief / "light_directions.txt")
    state = addon.state.STATE
    context = type("Ctx", (), {"scene": scene, "preferences": bpy.context.preferences})()
    states = [
        ("idle", {"backend": "ready (v0.1.0)", "device": "cuda", "running": False}),
        ("running", {"running": True, "stage": "solving", "progress": 0.6}),
        (
            "error",
            {
                "running": False,
                "stage": "",
                "last_error": "model not available: no shipped weights for single mode in weights",
                "last_hint": "The backend's weights folder has no model for this mode: reinstall "
                "photonormals, or use a multi-light set with a light file (3+ photos), which "
                "needs none",
            },
        ),
    ]
    lines = []
    for title, values in states:
        for key, value in values.items():
            setattr(state, key, value)
        lines.append(f"===== PhotoNormals tab ({title}) =====")
        for panel in addon.panel.CLASSES[1:]:
            if title != "idle" and panel.bl_label != "Photo Set" and panel.bl_label != "Status":
                continue
            lines.append(f"v {panel.bl_label}")
            fake = type("P", (), {"layout": Recorder(lines, 1)})()
            panel.draw(fake, context)
        lines.append("")
    addon.props.unregister()
    return lines


def render_listing(lines: list[str]) -> Path:
    font = ImageFont.load_default()
    height = 14 * len(lines) + 16
    image = Image.new("RGB", (760, height), (40, 40, 40))
    draw = ImageDraw.Draw(image)
    for k, line in enumerate(lines):
        color = (255, 200, 120) if line.startswith("=====") else (230, 230, 230)
        draw.text((10, 8 + 14 * k), line, fill=color, font=font)
    target = HERE / "panel.png"
    image.save(target, optimize=True)
    return target


if __name__ == "__main__":
    addon = load_addon()
    with tempfile.TemporaryDirectory() as scratch:
        files = solve_relief(Path(scratch))
        print(render_relit(addon, files, Path(scratch)))
    lines = panel_listing(addon)
    print("\n".join(lines))
    print(render_listing(lines), file=sys.stderr)
