"""Training loops for the learned models, one per task: resumable, CPU-first, faster on a GPU."""

from pathlib import Path

# Checkpoints and logs live outside the work tree, so they outlive it.
RUNS_DIR = Path.home() / ".cache" / "photonormals" / "runs"
