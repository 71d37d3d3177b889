"""`photonormals batch --ray`: the batch's photo sets as Ray tasks across a cluster.

Each task gets its set's files as bytes and hands back the Prediction, so the nodes need no
shared disk: this process reads the inputs and writes every output folder (batch.run), and
skipping finished sets works as without Ray. Models load once per Ray worker process, which Ray
reuses from task to task. A task whose worker dies (killed, out of memory, its node gone) is run
again by Ray, up to MAX_RETRIES times, and then its set is reported failed; a set's bad input is
reported at once, not retried. At most IN_FLIGHT_PER_SLOT tasks per slot the cluster has are
submitted at a time, so the photos waiting in Ray's object store stay few.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from .batch import Failure, PhotoSet, attempt
from .predict import PredictOptions
from .ray_cluster import connect, forwarded_env, require_ray, worker_threads

MAX_RETRIES = 2
IN_FLIGHT_PER_SLOT = 2
_models = None  # this worker's ModelCache, kept between the tasks it runs


def predict_files(photo_set: PhotoSet, files: dict[str, bytes], options: PredictOptions):
    """A task: the set's files written to a scratch folder under their own names, then
    predict (batch.attempt) with this worker's warm models."""
    global _models
    from .service.models import ModelCache

    if _models is None:
        _models = ModelCache("fp32", options.runtime, options.threads)
    with tempfile.TemporaryDirectory(prefix="photonormals-batch-") as scratch:
        for name, data in files.items():
            (Path(scratch) / name).write_bytes(data)
        return attempt(photo_set.moved(Path(scratch)), options, _models.get)


def mapper(address: str | None, cpus: float = 1.0, gpus: float = 0.0):
    """batch.run's Mapper on the cluster at address (None: a local Ray instance)."""

    def predict_on_ray(sets: list[PhotoSet], options: PredictOptions) -> Iterator[tuple]:
        ray = require_ray()
        options = replace(options, threads=worker_threads(options.threads, cpus))
        started = connect(address)
        try:
            env = forwarded_env()
            task = ray.remote(predict_files).options(
                num_cpus=cpus, num_gpus=gpus, max_retries=MAX_RETRIES,
                **({"runtime_env": {"env_vars": env}} if env else {}))
            slots = ray.cluster_resources().get("GPU" if gpus else "CPU", 1) / (gpus or cpus or 1)
            window = max(1, int(IN_FLIGHT_PER_SLOT * slots))
            waiting, running = list(reversed(sets)), {}
            while waiting or running:
                while waiting and len(running) < window:
                    photo_set = waiting.pop()
                    try:
                        files = {path.name: path.read_bytes() for path in photo_set.files()}
                    except OSError as exc:
                        yield photo_set, Failure(f"{exc.filename}: cannot read it "
                                                 f"({exc.strerror})")
                        continue
                    running[task.remote(photo_set, files, options)] = photo_set
                if not running:
                    continue
                (ready,), _ = ray.wait(list(running), num_returns=1)
                yield running.pop(ready), _outcome(ray, ready)
        finally:
            if started:
                ray.shutdown()

    return predict_on_ray


def _outcome(ray, ref):
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:  # a bug in the task that attempt() let through
        return Failure(f"internal error: {exc.cause!r}", 1)
    except ray.exceptions.RayError as exc:  # its worker or node died, MAX_RETRIES times
        return Failure(f"the Ray worker running this set died ({type(exc).__name__}), "
                       f"{MAX_RETRIES + 1} times; run the batch again to retry it", 1)
