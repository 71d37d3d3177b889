"""Exit with the parent process: for a server that a desktop application started for itself.

The Blender add-on starts `photonormals serve` with PHOTONORMALS_EXIT_WITH_STDIN=1 and a pipe as
its stdin that it never writes to. When Blender exits, or crashes, the operating system closes
that pipe; the server reads end-of-file and shuts down as on Ctrl+C (its temporary results
folder removed), and deletes its log file (PHOTONORMALS_SERVE_LOG) when the add-on named one,
since nobody is left to read it. No orphan server keeps its memory (a loaded model: ~0.5 GB).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

EXIT_WITH_STDIN_ENV = "PHOTONORMALS_EXIT_WITH_STDIN"
LOG_ENV = "PHOTONORMALS_SERVE_LOG"


class ParentWatch:
    def __init__(self) -> None:
        self.parent_gone = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._wait, name="photonormals-parent-watch", daemon=True).start()

    def _wait(self) -> None:
        try:
            while sys.stdin.buffer.read(1 << 16):
                pass
        except (OSError, ValueError, AttributeError):
            pass
        self.parent_gone.set()
        # SIGINT is what uvicorn takes for a graceful shutdown on every platform.
        os.kill(os.getpid(), signal.SIGINT)

    def cleanup(self) -> None:
        """After the server stopped: remove the log when the parent that would read it is gone."""
        log = os.environ.get(LOG_ENV)
        if self.parent_gone.is_set() and log:
            Path(log).unlink(missing_ok=True)


def watch_parent() -> ParentWatch | None:
    """Start watching stdin when the environment asks for it; None otherwise."""
    if os.environ.get(EXIT_WITH_STDIN_ENV) != "1" or sys.stdin is None:
        return None
    watch = ParentWatch()
    watch.start()
    return watch
