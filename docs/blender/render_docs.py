"""Render the images of docs/blender.md headless with the bpy module (no Blender UI needed).

    python docs/blender/render_docs.py [relit] [panel]                 # bpy 5.0.1: both
    .venv-bpy-lts/bin/python docs/blender/render_docs.py relit         # bpy 4.2.0 (.ci/run's venv)

1. relit_<blender version>.png: the bundled relief example (examples/relief, with its light
   intensities and mask) solved by `photonormals predict`, wired by the add-on's own code onto
   its photo plane, framed by its Frame Camera and rendered with Cycles (CPU, 16 samples,
   160 x 160) under each of Blender's eight bundled HDRIs - the scene the Relight Preview shows.
2. panel.png: bpy in background mode has no window, so a true screenshot of the sidebar is
   impossible; instead the add-on's own panel draw() code runs against a recording layout and
   the recorded widgets are drawn as a listing (unsaved file, idle, running and error states).
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ROTATION = {"forest": 120.0, "sunset": 200.0, "sunrise": 90.0}  # light from the side
TILE, SAMPLES = 160, 16


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
    for hdri in addon.scene.world.studio_hdris():
        bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
        scene = bpy.context.scene
        done = addon.scene.results.import_maps(scene, files, tmp / "maps", "relief")
        addon.scene.camera.frame_plane(scene, done.obj, pixels=TILE)
        rotation = ROTATION.get(hdri, 0.0)
        addon.scene.world.set_hdri_world(scene, hdri, rotation_deg=rotation)
        scene.render.engine = "CYCLES"
        scene.cycles.device, scene.cycles.samples = "CPU", SAMPLES
        scene.render.filepath = str(tmp / f"relit_{hdri}.png")
        bpy.ops.render.render(write_still=True)
        caption = f"{hdri}" + (f", {rotation:.0f} deg" if rotation else "")
        tiles.append((caption, Image.open(scene.render.filepath).convert("RGB")))
    columns, caption_h = 4, 16
    rows = (len(tiles) + columns - 1) // columns
    sheet = Image.new("RGB", (TILE * columns, (TILE + caption_h) * rows + caption_h), "white")
    draw = ImageDraw.Draw(sheet)
    version = bpy.app.version_string
    draw.text((4, 2), f"bpy {version}, Cycles CPU, {SAMPLES} samples", fill="black",
              font=ImageFont.load_default())
    for k, (caption, tile) in enumerate(tiles):
        x, y = (k % columns) * TILE, caption_h + (k // columns) * (TILE + caption_h)
        draw.text((x + 4, y + 2), caption, fill="black", font=ImageFont.load_default())
        sheet.paste(tile, (x, y + caption_h))
    major, minor = bpy.app.version[:2]
    target = HERE / f"relit_{major}.{minor}.png"
    sheet.save(target, optimize=True)
    return target


LABELS: dict[str, str] = {}  # operator id -> its button label, filled from the add-on


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
        shown = f"{value:.2f}" if isinstance(value, float) else f"{value or '-'}"
        if isinstance(value, bool):
            shown = "[x]" if value else "[ ]"
        if isinstance(value, str) and ("/" in value or "\\" in value):
            shown = Path(value).name  # a file path: its name is enough
        self._add(f"{label}: {shown}" if label else f"[{shown}]")

    def operator(self, idname, text=None, icon="NONE", **_):
        label = LABELS.get(idname) or idname.split(".")[-1].replace("_", " ").title()
        self._add(f"< {text or label} >")
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


def panel_listing(addon, files: list[Path], scratch: Path) -> list[str]:
    import bpy

    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    addon.props.register()
    LABELS.update({op.bl_idname: op.bl_label for op in addon.operators.CLASSES})
    scene = bpy.context.scene
    relief = ROOT / "examples" / "relief"
    settings = scene.photonormals
    for name in (relief / "filenames.txt").read_text().split():
        settings.photos.add().filepath = str(relief / name)
    settings.mode = "multi"
    settings.light_file = str(relief / "light_directions.txt")
    settings.intensities_file = str(relief / "light_intensities.txt")
    settings.mask_file = str(relief / "mask.png")
    state = addon.state.STATE
    lines: list[str] = []

    def record(title: str, panels=("Photo Set", "Status", "Relight & Bake")) -> None:
        lines.append(f"===== PhotoNormals tab ({title}) =====")
        for panel in addon.panel.CLASSES[1:]:
            if panel.bl_label in panels:
                lines.append(f"v {panel.bl_label}")
                fake = type("P", (), {"layout": Recorder(lines, 1)})()
                panel.draw(fake, bpy.context)
        lines.append("")

    record("unsaved file", ("Photo Set",))
    project = scratch / "shots"
    project.mkdir()
    bpy.ops.wm.save_as_mainfile(filepath=str(project / "relief.blend"))
    done = addon.scene.results.import_maps(scene, files, project / "photonormals", "relief",
                                           placement=addon.controller.placement(scene))
    settings.last_object, settings.last_material = done.obj, done.material
    state.backend, state.device = "connected", "cuda"
    state.stage = f"done: {len(done.files)} files in {project / 'photonormals'}"
    record("after Generate Normals")
    state.running, state.stage, state.progress = True, "solving", 0.6
    record("running", ("Photo Set",))
    state.running, state.stage = False, "failed"
    settings.photos.remove(len(settings.photos) - 1)
    state.last_error, state.last_hint = addon.controller._check_request(
        settings, [bpy.path.abspath(p.filepath) for p in settings.photos])
    record("error", ("Status",))
    addon.props.unregister()
    return [line.replace(str(scratch), "~") for line in lines]


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
    wanted = set(sys.argv[1:]) or {"relit", "panel"}
    addon = load_addon()
    with tempfile.TemporaryDirectory() as scratch:
        files = solve_relief(Path(scratch))
        if "relit" in wanted:
            print(render_relit(addon, files, Path(scratch)))
        if "panel" in wanted:
            lines = panel_listing(addon, files, Path(scratch))
            print("\n".join(lines))
            print(render_listing(lines))
