"""`photonormals batch`: predict over a folder of photo sets, one output folder per set.

The input folder is laid out as for the add-on's headless batch (blender_addon/batch.py): each
image file in it is a set of one photo (a portrait, or a surface with --mode material), each
sub-folder a set of several (a multi-light set: its photos in filenames.txt's order, else by
name; its light_directions.txt [+ light_intensities.txt] or lights.json; its mask.png). A set's
maps go to OUT/<set>/ exactly as `photonormals predict --out OUT/<set>` writes them, and
OUT/summary.json lists every set. Resumable: a set whose folder already holds a finished result
(predict writes a folder at once, report.json with it) is skipped; --overwrite redoes them all.

The sets run one after another in this process (each model loaded once), or as Ray tasks on a
cluster (ray_batch.py); either way this process writes every output folder.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from .errors import UserError
from .io import images as image_io
from .io.result_folder import recover
from .predict import (
    OUTPUT_FILES,
    Prediction,
    PredictOptions,
    check_output_dir,
    predict,
    save_prediction,
)

NOT_PHOTOS = ("mask", "normal", "_gt", "gt_", "albedo")  # DiLiGenT extras beside the photos
SUMMARY = "summary.json"


@dataclass(frozen=True)
class PhotoSet:
    name: str  # its output folder's name
    photos: tuple[Path, ...]
    lights: Path | None = None
    intensities: Path | None = None
    mask: Path | None = None

    def files(self) -> list[Path]:
        return [*self.photos, *(p for p in (self.lights, self.intensities, self.mask) if p)]

    def moved(self, folder: Path) -> PhotoSet:
        """The same set with its files in folder, under the same names."""
        def at(path):
            return None if path is None else folder / path.name

        return PhotoSet(self.name, tuple(folder / p.name for p in self.photos),
                        at(self.lights), at(self.intensities), at(self.mask))


@dataclass(frozen=True)
class Failure:
    message: str
    exit_code: int = 2  # 2 bad input, 3 model not available, 1 internal error


# Runs sets with options; yields (set, its Prediction or Failure) as each finishes.
Mapper = Callable[[list[PhotoSet], PredictOptions], Iterable[tuple[PhotoSet, object]]]


def find_sets(folder: Path, skip: Path | None = None) -> list[PhotoSet]:
    """The photo sets in folder (skip: the output folder, when it lies inside)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder")
    sets, names = [], {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or (skip is not None and entry.resolve() == skip.resolve()):
            continue
        if entry.is_file() and entry.suffix.lower() in image_io.IMAGE_SUFFIXES:
            found = PhotoSet(entry.stem, (entry,))
        elif entry.is_dir():
            found = _folder_set(entry)
        else:
            continue
        if found.name in names:
            raise UserError(f"{names[found.name]} and {entry.name} would both write "
                            f"{found.name}/: rename one")
        names[found.name] = entry.name
        sets.append(found)
    if not sets:
        raise UserError(f"{folder}: no photos and no photo-set folders in it")
    return sets


def _folder_set(folder: Path) -> PhotoSet:
    listed = folder / "filenames.txt"
    if listed.is_file():
        photos = [folder / line.strip() for line in listed.read_text().splitlines()
                  if line.strip()]
    else:
        photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in image_io.IMAGE_SUFFIXES
                        and not any(word in p.stem.lower() for word in NOT_PHOTOS))
    lights = intensities = None
    if (folder / "lights.json").is_file():
        lights = intensities = folder / "lights.json"
    elif (folder / "light_directions.txt").is_file():
        lights = folder / "light_directions.txt"
        if (folder / "light_intensities.txt").is_file():
            intensities = folder / "light_intensities.txt"
    mask = folder / "mask.png"
    return PhotoSet(folder.name, tuple(photos), lights, intensities,
                    mask if mask.is_file() else None)


def is_done(out_dir: Path) -> bool:
    """Whether a set's folder holds a finished result (a swap a kill cut short is finished or
    undone first, as predict does)."""
    recover(out_dir, OUTPUT_FILES)
    return (out_dir / "report.json").is_file()


def attempt(photo_set: PhotoSet, options: PredictOptions, load_model=None) -> Prediction | Failure:
    """predict() on one set; its bad input or a bug becomes a Failure, so the batch goes on."""
    if not photo_set.photos:
        return Failure("no photos in the folder")
    options = replace(options, lights=photo_set.lights, intensities=photo_set.intensities,
                      mask=photo_set.mask)
    try:
        return predict(list(photo_set.photos), options, load_model=load_model)
    except UserError as exc:
        return Failure(str(exc), exc.exit_code)
    except MemoryError:
        return Failure("out of memory: try smaller or fewer photos", 1)
    except Exception as exc:  # noqa: BLE001 - a bug: say so on this set, run the others
        return Failure(f"internal error: {type(exc).__name__}: {exc}", 1)


def predict_here(sets: list[PhotoSet], options: PredictOptions) -> Iterator[tuple]:
    """The Mapper without Ray: one set after another, in this process."""
    from .service.models import ModelCache  # warm models, as the server keeps them

    models = ModelCache("fp32", options.runtime, options.threads)
    for photo_set in sets:
        yield photo_set, attempt(photo_set, options, models.get)


def run(sets: list[PhotoSet], out: Path, options: PredictOptions, overwrite: bool,
        mapper: Mapper = predict_here, say=print) -> int:
    """Run the sets not done yet, write their folders and OUT/summary.json; the exit code:
    0 every set done, 2 some set failed on its input, 1 some set hit an internal error."""
    out.mkdir(parents=True, exist_ok=True)
    items, todo = {}, []
    for photo_set in sets:
        folder = out / photo_set.name
        if not overwrite and is_done(folder):
            items[photo_set.name] = _item(photo_set, skipped=True)
            say(f"{photo_set.name}: already done, skipped")
            continue
        try:
            check_output_dir(folder, overwrite)
        except UserError as exc:
            items[photo_set.name] = _item(photo_set, error=str(exc))
            say(f"{photo_set.name}: error: {exc}")
            continue
        todo.append(photo_set)
    start = time.perf_counter()
    codes = set()
    for photo_set, outcome in mapper(todo, options):
        if isinstance(outcome, Failure):
            items[photo_set.name] = _item(photo_set, error=outcome.message)
            codes.add(outcome.exit_code)
            say(f"{photo_set.name}: error: {outcome.message}")
            continue
        written = save_prediction(outcome, out / photo_set.name,
                                  [p.name for p in photo_set.photos], overwrite)
        items[photo_set.name] = _item(photo_set, outputs=[p.name for p in written])
        say(f"{photo_set.name}: {outcome.report['method']}, wrote {len(written)} files")
    ordered = [items[s.name] for s in sets]
    failed = [item["name"] for item in ordered if not item["ok"]]
    summary = {"ok": not failed, "items": ordered, "failed": failed,
               "seconds": round(time.perf_counter() - start, 2)}
    image_io.write_atomic(out / SUMMARY, (json.dumps(summary, indent=2) + "\n").encode())
    done = sum(item["ok"] and not item["skipped"] for item in ordered)
    skipped = sum(item["skipped"] for item in ordered)
    say(f"batch: {done} done, {skipped} already done, {len(failed)} failed; "
        f"summary in {out / SUMMARY}")
    if not failed:
        return 0
    return 1 if 1 in codes else 2


def _item(photo_set: PhotoSet, skipped: bool = False, error: str | None = None,
          outputs: list[str] | None = None) -> dict:
    return {"name": photo_set.name, "ok": error is None, "skipped": skipped, "error": error,
            "photos": [p.name for p in photo_set.photos], "outputs": outputs or []}
