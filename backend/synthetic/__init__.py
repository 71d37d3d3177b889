"""Synthetic training data: procedural geometry buffers (and, later, materials and rendering)."""
