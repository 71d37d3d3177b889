"""The inference service behind `photonormals serve`: a FastAPI app (app.py) over a job queue
with one worker thread (jobs.py), upload checks (uploads.py), error bodies (errors.py), warm
models (models.py) and the wire schemas (schemas.py). The stdlib client is photonormals.client."""

from .app import Settings, create_app

__all__ = ["Settings", "create_app"]
