"""What every benchmark report shares: the machine it ran on, and hand-written sections (failure
cases, model-card notes) that a re-run keeps between their markers."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import cv2
import torch
from photonormals.models.registry import Task, list_models, model_spec
from photonormals.models.weights import weights_dir

NOTES_START, NOTES_END = "<!-- notes:start -->", "<!-- notes:end -->"


def machine() -> dict:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    # "AMD EPYC" names machines 5x apart for this network: the vector units say which one it was.
    model = f"{model} ({torch.backends.cpu.get_cpu_capability()})"
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
        "python": platform.python_version(),
        "torch": torch.__version__,
        "opencv": cv2.__version__,
    }


def shipped_files(task: Task) -> list[Path]:
    """The weight file of each model of ``task`` that the registry ships, in its order; relative
    to the working folder where they lie under it, as a report quotes them."""
    specs = (model_spec(name) for name in list_models(task))
    files = [weights_dir() / spec.weights for spec in specs if spec.weights]
    here = Path.cwd()
    return [p.relative_to(here) if p.is_relative_to(here) else p for p in files]


def kept_section(path: Path, start: str, end: str, default: str | None = None) -> str | None:
    """The text between the ``start`` and ``end`` markers in ``path`` (markers included); where
    the file or the markers are missing, ``default`` between new markers, or None without one."""
    text = path.read_text() if path.is_file() else ""
    if start in text and end in text:
        return text[text.index(start) : text.index(end) + len(end)]
    return None if default is None else f"{start}\n{default}\n{end}"


def card_notes(card: Path) -> list[str]:
    """A model card's notes, as lines for its next version: what the weights' metadata cannot
    tell (an engine change partway through training, say), written by a person between the
    markers. None yet: no lines."""
    notes = kept_section(card, NOTES_START, NOTES_END)
    return [notes, ""] if notes else []
