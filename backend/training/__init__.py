"""Training loops for the learned models: resumable, CPU-first, scaling up on a GPU."""
