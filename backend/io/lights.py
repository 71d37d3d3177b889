"""Light files: DiLiGenT text files (one "x y z" or "r g b" per line) and our own lights.json."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..errors import UserError
from .images import write_atomic


def read_light_directions(path: str | os.PathLike) -> np.ndarray:
    """(K, 3) unit directions in the camera frame from a DiLiGenT text file or a lights.json."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        directions, _ = read_lights_json(path)
        return directions
    directions = _read_rows(path, "light direction")
    norms = np.linalg.norm(directions, axis=1)
    if (norms < 1e-6).any():
        raise UserError(
            f"{path.name}: line {int(np.argmin(norms)) + 1} is a zero vector, not a direction"
        )
    return (directions / norms[:, None]).astype(np.float32)


def read_light_intensities(path: str | os.PathLike) -> np.ndarray:
    """(K, 3) RGB intensities; a lights.json is accepted too."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        _, intensities = read_lights_json(path)
        return intensities
    intensities = _read_rows(path, "light intensity")
    if (intensities <= 0).any():
        raise UserError(f"{path.name}: light intensities must be positive")
    return intensities


def read_lights_json(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        lights = json.loads(path.read_text())["lights"]
        directions = np.array([light["direction"] for light in lights], dtype=np.float32)
        intensities = np.array(
            [light.get("intensity", [1.0, 1.0, 1.0]) for light in lights], dtype=np.float32
        )
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{path.name}: not a valid lights.json ({exc})") from None
    if directions.ndim != 2 or directions.shape[1] != 3 or intensities.shape != directions.shape:
        raise UserError(f"{path.name}: each light needs a 3-vector direction and RGB intensity")
    return directions / np.linalg.norm(directions, axis=1, keepdims=True), intensities


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
    write_atomic(path, (json.dumps(payload, indent=2) + "\n").encode())


def _read_rows(path: Path, what: str) -> np.ndarray:
    if not path.is_file():
        raise UserError(f"{path}: no such file")
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
    return np.array(rows, dtype=np.float32)
