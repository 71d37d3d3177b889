"""Headless batch: photos in, maps + .blend (material and HDRI world) + bakes out.

    blender --background --python blender_addon/batch.py -- --input DIR --out DIR [options]
    python blender_addon/batch.py --input DIR --out DIR [options]        (with the bpy module)

Input folder: every image file is one portrait; every sub-folder is one multi-light set, with an
optional light file inside (light_directions.txt [+ light_intensities.txt], or lights.json;
filenames.txt gives the photo order, DiLiGenT layout) and an optional mask.png; with --mode
material each file is one surface photo and each sub-folder one surface under several lamps,
made into a tiling material. Output: OUT/<item>/ with the maps, a .blend (texture paths
relative to it, bundled HDRIs packed) and the bakes, and OUT/summary.json. Prints the same JSON
summary; exits 1 when any item failed, 2 for bad arguments. Runs synchronously: timers do not
fire in background mode.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".exr", ".hdr"}
PARTS = ("backend.client_loader", "backend.connection", "backend.jobs", "backend.lightfiles",
         "backend.server", "scene.bake", "scene.camera", "scene.images", "scene.material",
         "scene.outputs", "scene.plane", "scene.results", "scene.world")
NOT_PHOTOS = ("mask", "normal", "_gt", "gt_", "albedo")  # DiLiGenT extras living next to the photos


def load_addon():
    """This add-on's package under a private name: works in a checkout and in an installed
    extension, and never shadows the `photonormals` backend package."""
    name = "_photonormals_addon"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HERE / "__init__.py",
                                                  submodule_search_locations=[str(HERE)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    for part in PARTS:
        importlib.import_module(f"{name}.{part}")
    return module


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="batch.py", description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--mode", choices=("auto", "single", "multi", "material"), default="auto")
    parser.add_argument("--seamless", action="store_true",
                        help="material mode: maps that tile without a seam")
    parser.add_argument("--light-from", choices=("top", "left", "right", "bottom", "auto"),
                        default="auto",
                        help="material mode: the side of each single photo its light comes from "
                             "(the photo is turned so it comes from the top for the model), or "
                             "auto: detected per photo; lamp-lit sets in sub-folders need none")
    parser.add_argument(
        "--hdri", default="studio", help="a bundled HDRI name (studio, forest, ...) or a file"
    )
    parser.add_argument("--hdri-rotation", type=float, default=0.0)
    parser.add_argument(
        "--bake", default="", help="comma list of combined, diffuse, albedo, normal"
    )
    parser.add_argument("--bake-size", type=int, default=1024)
    parser.add_argument("--bake-margin", type=int, default=16)
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--bake-format", choices=("auto", "png8", "png16", "exr"), default="auto",
                        help="auto: 16-bit PNG for normal bakes, 8-bit PNG for the others")
    parser.add_argument("--normal-convention", choices=("opengl", "directx"), default="opengl")
    parser.add_argument("--input-colorspace", choices=("auto", "srgb", "linear"), default="auto",
                        help="auto: 8-bit photos are sRGB, 16-bit/EXR/HDR linear; linear for "
                             "data sets whose 8-bit files hold linear values")
    parser.add_argument(
        "--backend", help="URL of a running backend; without it a local one is started"
    )
    parser.add_argument(
        "--allow-online", action="store_true",
        help="allow a --backend on another computer although Blender's online access is off "
             "(always off in the bpy module; in Blender, --online-mode does the same)",
    )
    parser.add_argument("--token", default=os.environ.get("PHOTONORMALS_TOKEN"))
    parser.add_argument(
        "--python", default="", help="Python with photonormals installed, for the local backend"
    )
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    args = parser.parse_args(argv)
    if args.light_from not in ("top", "auto") and args.mode != "material":
        parser.error("--light-from is for --mode material")
    # Absolute from here on: a relative folder in a .blend would be read against the .blend's
    # own folder, not the working directory, and every texture would go missing.
    args.input, args.out = args.input.absolute(), args.out.absolute()
    return args


class BadArguments(Exception):
    """Exit 2 with this message, as argparse does for its own checks."""


def _photos_in(folder: Path) -> list[Path]:
    listed = folder / "filenames.txt"
    if listed.is_file():
        return [folder / line.strip() for line in listed.read_text().splitlines() if line.strip()]
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
                  and not any(word in p.stem.lower() for word in NOT_PHOTOS))


def _lights_in(lightfiles, folder: Path, photos: list[Path], scratch: Path) -> Path | None:
    """The set's light file; directions + intensities are merged into one lights.json."""
    if (folder / "lights.json").is_file():
        return folder / "lights.json"
    directions = folder / "light_directions.txt"
    if not directions.is_file():
        return None
    intensities = folder / "light_intensities.txt"
    if not intensities.is_file():
        return directions
    (scratch / folder.name).mkdir(exist_ok=True)
    try:
        return lightfiles.merge(directions, intensities, [str(p) for p in photos],
                                scratch / folder.name)
    except lightfiles.LightFileError:
        return directions  # let the backend name the mismatch


def find_items(addon, folder: Path, scratch: Path) -> list[dict]:
    items = []
    for entry in sorted(folder.iterdir()):
        if entry.is_file() and entry.suffix.lower() in IMAGE_SUFFIXES:
            items.append({"name": entry.stem, "kind": "portrait", "photos": [entry],
                          "lights": None, "mask": None})
        elif entry.is_dir() and not entry.name.startswith("."):
            photos = _photos_in(entry)
            lights = _lights_in(addon.backend.lightfiles, entry, photos, scratch)
            mask = entry / "mask.png"
            items.append({"name": entry.name, "kind": "multi-light", "photos": photos,
                          "lights": lights, "mask": mask if mask.is_file() else None})
    return items


def material_options(args, item: dict) -> dict:
    """The material options of one item's request: none outside material mode, and a light
    side only for a single photo (a lamp-lit set's photometric stereo reads its lamps)."""
    if args.mode != "material":
        return {}
    single = len(item["photos"]) == 1
    return {"seamless": args.seamless, **({"light_from": args.light_from} if single else {})}


def run_item(addon, item: dict, args, connect) -> dict:
    import bpy

    from_scene = addon.scene
    result = {
        "name": item["name"],
        "kind": item["kind"],
        "ok": False,
        "error": "",
        "hint": "",
        "outputs": [],
    }
    if not item["photos"]:
        result["error"] = "no photos in the folder"
        return result
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    scene = bpy.context.scene
    request = addon.backend.jobs.JobRequest(
        [str(p) for p in item["photos"]],
        {"mode": args.mode, "normal_convention": args.normal_convention,
         "input_colorspace": args.input_colorspace, **material_options(args, item)},
        str(item["lights"]) if item["lights"] else None,
        str(item["mask"]) if item["mask"] else None)
    runner = addon.backend.jobs.JobRunner(connect, request)
    snap = runner.run()
    if snap.error:
        result["error"], result["hint"] = snap.error, snap.hint
        return result
    folder = args.out / item["name"]
    try:
        imported = from_scene.results.import_maps(scene, snap.files, folder, item["name"],
                                                  directx=args.normal_convention == "directx",
                                                  keep=None,  # a pipeline may want them all
                                                  tiling=1.0 if args.mode == "material" else None)
        outputs = list(imported.files.values())
        from_scene.camera.frame_plane(scene, imported.obj)
        from_scene.world.set_hdri_world(scene, args.hdri, args.hdri_rotation)
        for kind in [k.strip() for k in args.bake.split(",") if k.strip()]:
            fmt = from_scene.bake.default_format(kind) if args.bake_format == "auto" \
                else args.bake_format.upper()
            target = from_scene.outputs.unique_path(folder, f"{item['name']}_bake_{kind}",
                                                    from_scene.bake.suffix(fmt))
            outputs.append(from_scene.bake.bake(imported.obj, kind, target, args.bake_size,
                                                args.bake_margin, args.samples, fmt))
        blend = from_scene.outputs.unique_path(folder, item["name"], ".blend")
        for image in bpy.data.images:  # relative to the .blend: the folder can move
            from_scene.images.point_relative(image, str(blend))
        bpy.ops.wm.save_as_mainfile(filepath=str(blend), relative_remap=False)
        outputs.append(blend)
        result["notes"] = imported.notes
    except Exception as exc:  # noqa: BLE001 - one bad item must not stop the batch
        result["error"], result["hint"] = addon.backend.jobs.describe_error(exc)
        return result
    finally:
        runner.discard()
    result["ok"], result["outputs"] = True, [str(p) for p in outputs]
    return result


def make_connect(addon, args):
    client_module = addon.backend.client_loader.load_client()
    if args.backend:
        import bpy

        problem = addon.backend.connection.check_url(args.backend,
                                                     bpy.app.online_access or args.allow_online)
        if problem:
            if problem == addon.backend.connection.OFFLINE_REASON:
                problem = (f"{args.backend} is not on this computer and online access is off: "
                           "pass --allow-online to use it (in Blender, --online-mode also works)")
            raise BadArguments(problem)
        return (lambda: client_module.Client(args.backend, token=args.token)), None
    python = args.python
    if not python and importlib.util.find_spec("photonormals") is not None:
        python = sys.executable  # running with the bpy module inside the photonormals environment
    server = addon.backend.server.LocalServer(python, args.device)
    url = server.start()
    return (lambda: client_module.Client(url, token=server.token)), server


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if not args.input.is_dir():
        print(f"batch.py: error: input folder {args.input} not found", file=sys.stderr)
        return 2
    addon = load_addon()
    import bpy

    server = None
    with tempfile.TemporaryDirectory(prefix="photonormals-batch-") as scratch:
        items = find_items(addon, args.input, Path(scratch))
        try:
            connect, server = make_connect(addon, args)
        except BadArguments as exc:
            print(f"batch.py: error: {exc}", file=sys.stderr)
            return 2
        except addon.backend.server.ServerError as exc:
            connect, problem = None, str(exc)
        args.out.mkdir(parents=True, exist_ok=True)
        try:
            if connect is None:
                results = [{"name": item["name"], "kind": item["kind"], "ok": False,
                            "error": problem, "hint": "pass --python or --backend",
                            "outputs": []} for item in items]
            else:
                results = [run_item(addon, item, args, connect) for item in items]
        finally:
            if server is not None:
                server.stop()
    failed = [r["name"] for r in results if not r["ok"]]
    summary = {"ok": not failed and bool(results), "items": results, "failed": failed,
               "blender": bpy.app.version_string}
    text = json.dumps(summary, indent=2)
    temp = args.out / ".summary.json.tmp"
    temp.write_text(text + "\n")
    os.replace(temp, args.out / "summary.json")
    print(text)
    return 0 if summary["ok"] else 1


def script_argv() -> list[str]:
    """Blender passes its own arguments too: ours come after `--`."""
    return sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]


if __name__ == "__main__":
    code = main(script_argv())
    sys.stdout.flush()
    sys.exit(code)
