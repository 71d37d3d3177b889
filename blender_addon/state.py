"""What the panel shows that is not saved in the .blend: backend status, the running job, errors."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RuntimeState:
    backend: str = "not checked"
    device: str = ""
    stage: str = ""
    progress: float = 0.0
    running: bool = False
    last_error: str = ""
    last_hint: str = ""
    notes: list[str] = field(default_factory=list)
    runner: object = None
    pending: dict = field(default_factory=dict)  # what to do with the result (name, target...)
    file_generation: int = 0  # bumped by every File > New / Open (load_post)
    baking: bool = False  # Blender's bake job runs for the Bake button

    def fail(self, message: str, hint: str = "") -> None:
        self.last_error, self.last_hint, self.running = message, hint, False


STATE = RuntimeState()
