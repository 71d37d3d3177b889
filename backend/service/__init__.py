"""The inference service behind `photonormals serve`: a FastAPI app (app.py) over a job queue
with one worker thread (jobs.py), upload checks (uploads.py), the checks made before a body is
read (guards.py), error bodies (errors.py), warm models (models.py), the wire schemas
(schemas.py), the results folder (storage.py) and uvicorn with its limits (server.py). The
stdlib client is photonormals.client."""

from .app import Settings, create_app

__all__ = ["Settings", "create_app"]
