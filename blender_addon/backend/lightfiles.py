"""Light files of a multi-light set, read and checked before anything is uploaded.

No bpy here. A DiLiGenT set has light_directions.txt (one `x y z` per photo, in order) and
optionally light_intensities.txt (one `r g b` per photo); the service takes one light file, so
the two are merged into a lights.json, which carries both.
"""

from __future__ import annotations

import json
from pathlib import Path


class LightFileError(ValueError):
    """A light file that cannot be used; the message is worded for the panel."""


def read_rows(path: Path, what: str) -> list[list[float]]:
    rows = []
    try:
        lines = Path(path).read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise LightFileError(f"Cannot read the {what} file {Path(path).name}: {exc}") from None
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            values = [float(v) for v in line.replace(",", " ").split()]
        except ValueError:
            values = []
        if len(values) != 3:
            raise LightFileError(f"{Path(path).name}, line {number}: expected three numbers for "
                                 f"a {what}, got {line.strip()[:40]!r}")
        rows.append(values)
    return rows


def count_lights(path: Path) -> int:
    """How many lights a light_directions.txt or lights.json holds."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        try:
            return len(json.loads(path.read_text())["lights"])
        except (OSError, ValueError, KeyError, TypeError):
            raise LightFileError(f"{path.name} is not a lights.json ({{\"lights\": [...]}})") \
                from None
    return len(read_rows(path, "light direction"))


def check_counts(photos: list[str], light_file: str | None, intensities_file: str | None) -> None:
    """Raise LightFileError when a file's count does not match the photos."""
    for path, what in ((light_file, "lights"), (intensities_file, "intensities")):
        if not path:
            continue
        count = (count_lights(Path(path)) if what == "lights"
                 else len(read_rows(Path(path), "light intensity")))
        if count != len(photos):
            raise LightFileError(f"{Path(path).name} has {count} {what} for {len(photos)} photos: "
                                 f"give one per photo, in the photos' order")


def merge(directions: Path, intensities: Path, photos: list[str], folder: Path) -> Path:
    """directions + intensities -> folder/lights.json (the service's one light file)."""
    d = read_rows(directions, "light direction")
    e = read_rows(intensities, "light intensity")
    if len(d) != len(photos) or len(e) != len(photos):
        raise LightFileError(f"{len(d)} light directions and {len(e)} intensities for "
                             f"{len(photos)} photos: give one of each per photo")
    if any(value <= 0 for row in e for value in row):
        raise LightFileError(f"{Path(intensities).name}: light intensities must be positive")
    merged = Path(folder) / "lights.json"
    merged.write_text(json.dumps({"lights": [
        {"file": Path(p).name, "direction": dd, "intensity": ee}
        for p, dd, ee in zip(photos, d, e, strict=True)]}))
    return merged
