"""The inference service behind `photonormals serve`: a FastAPI app (app.py) over a job queue
with one worker thread (jobs.py), upload checks (uploads.py), the checks made before a body is
read (guards.py), error bodies (errors.py), warm models (models.py), the wire schemas
(schemas.py), the results folder (storage.py) and uvicorn with its limits (server.py). On a Ray
cluster the same app runs as a Ray Serve deployment (ray_serve.py), its jobs shared between
replicas (shared_jobs.py, job_store.py). The stdlib client is photonormals.client."""

__all__ = ["Settings", "create_app"]


def __getattr__(name: str):
    # Imported on first use: the app pulls in torch and the whole pipeline, which the Ray job
    # store's process (job_store.py, a module of this package) must not pay for.
    if name in __all__:
        from . import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
