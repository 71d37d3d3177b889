"""Where shipped weights live and which one each mode uses. Nothing is ever downloaded."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import ModelNotAvailable

# An installed copy finds the repository's weights/ beside the package source; a deployment
# can point PHOTONORMALS_WEIGHTS at any folder holding the same files.
DEFAULT_DIR = Path(__file__).resolve().parents[2] / "weights"
INDEX = "index.json"  # {"multi": "fused.safetensors", "single": ...}: the best model per mode


def weights_dir() -> Path:
    return Path(os.environ.get("PHOTONORMALS_WEIGHTS", DEFAULT_DIR))


def weights_for(mode: str) -> Path:
    folder = weights_dir()
    index = folder / INDEX
    names = json.loads(index.read_text()) if index.is_file() else {}
    if mode not in names or not (folder / names[mode]).is_file():
        raise ModelNotAvailable(f"model not available: no shipped weights for {mode} mode in {folder}")
    return folder / names[mode]
