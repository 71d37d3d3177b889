"""Find the backend's stdlib HTTP client without keeping a second copy of it in the source tree.

The built extension carries a vendored copy (build_addon.py writes vendor/client.py into the
zip). A source checkout falls back to the installed `photonormals.client`, then to the file
itself at ../backend/client.py next to this add-on folder.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

_ADDON_ROOT = Path(__file__).resolve().parents[1]
_PACKAGE = __package__.rsplit(".", 1)[0]


def load_client():
    """The client module (Client and the PhotoNormalsError family)."""
    try:
        return importlib.import_module(f"{_PACKAGE}.vendor.client")
    except ImportError:
        pass
    try:
        return importlib.import_module("photonormals.client")
    except ImportError:
        pass
    source = _ADDON_ROOT.parent / "backend" / "client.py"
    if not source.is_file():
        raise ImportError(
            "PhotoNormals client not found: install the built extension zip (python build_addon.py)"
        )
    name = f"{_PACKAGE}._source_client"
    spec = importlib.util.spec_from_file_location(name, source)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
