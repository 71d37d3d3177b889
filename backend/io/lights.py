"""Light files: DiLiGenT text files (one "x y z" or "r g b" per line) and our own lights.json."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..errors import UserError
from .images import require_file, write_atomic
from .strict_json import parse_json

# Intensities are relative; far outside this range float32 sums and ratios overflow or vanish.
INTENSITY_RANGE = (1e-6, 1e6)


def read_light_directions(path: str | os.PathLike) -> np.ndarray:
    """(K, 3) unit directions in the camera frame from a DiLiGenT text file or a lights.json."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        directions, _ = read_lights_json(path)
        return directions
    return _unit_directions(_read_rows(path, "light direction"), path.name)


def read_light_intensities(path: str | os.PathLike) -> np.ndarray:
    """(K, 3) RGB intensities; a lights.json is accepted too."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        _, intensities = read_lights_json(path)
        return intensities
    return _checked_intensities(_read_rows(path, "light intensity"), path.name)


def read_lights_json(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path.name}: cannot read it ({exc})") from None
    try:
        lights = parse_json(text, path.name)["lights"]
        directions = np.array([light["direction"] for light in lights], dtype=np.float64)
        intensities = np.array(
            [light.get("intensity", [1.0, 1.0, 1.0]) for light in lights], dtype=np.float64
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UserError(f"{path.name}: not a valid lights.json ({exc})") from None
    if directions.ndim != 2 or directions.shape[1] != 3 or intensities.shape != directions.shape:
        raise UserError(f"{path.name}: each light needs a 3-vector direction and RGB intensity")
    for what, values in (("direction", directions), ("intensity", intensities)):
        bad = ~np.isfinite(values).all(axis=1)
        if bad.any():
            raise UserError(f"{path.name}: light {int(np.argmax(bad)) + 1}'s {what} is not "
                            "three finite numbers")
    return _unit_directions(directions, path.name), _checked_intensities(intensities, path.name)


def _unit_directions(rows: np.ndarray, name: str) -> np.ndarray:
    """Finite float64 rows as float32 unit vectors; scaled first, so that 1e300 is a direction
    too rather than an overflow."""
    scale = np.abs(rows).max(axis=1)
    if (scale == 0).any():
        raise UserError(
            f"{name}: light {int(np.argmin(scale)) + 1} is a zero vector, not a direction"
        )
    unit = rows / scale[:, None]
    return (unit / np.linalg.norm(unit, axis=1, keepdims=True)).astype(np.float32)


def _checked_intensities(rows: np.ndarray, name: str) -> np.ndarray:
    low, high = INTENSITY_RANGE
    bad = ~((rows >= low) & (rows <= high)).all(axis=1)
    if bad.any():
        raise UserError(f"{name}: light {int(np.argmax(bad)) + 1}: intensities must be "
                        f"numbers from {low:g} to {high:g}")
    return rows.astype(np.float32)


def write_lights_json(
    path: str | os.PathLike,
    files: list[str],
    directions: np.ndarray,
    intensities: np.ndarray,
    source: str,
) -> None:
    """source says where the lights came from: "given" (calibrated) or "estimated" (a model)."""
    payload = {
        "frame": "camera: x right, y up, z toward the camera",
        "source": source,
        "lights": [
            {
                "file": name,
                "direction": [round(float(v), 6) for v in d],
                "intensity": [round(float(v), 6) for v in e],
            }
            for name, d, e in zip(files, directions, intensities, strict=True)
        ],
    }
    # allow_nan=False: never write NaN or Infinity, which JSON readers refuse
    write_atomic(path, (json.dumps(payload, indent=2, allow_nan=False) + "\n").encode())


def _read_rows(path: Path, what: str) -> np.ndarray:
    require_file(path)
    rows = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            values = [float(v) for v in line.replace(",", " ").split()]
        except ValueError:
            raise UserError(
                f"{path.name}: line {number} is not three numbers: {line[:60]!r}"
            ) from None
        if len(values) != 3 or not np.isfinite(values).all():
            raise UserError(f"{path.name}: line {number} needs three finite numbers ({what})")
        rows.append(values)
    if not rows:
        raise UserError(f"{path.name}: no {what}s in the file")
    return np.array(rows, dtype=np.float64)
