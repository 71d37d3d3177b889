"""A job manager for one replica of a Ray deployment: it runs the jobs it accepted as
JobManager does (its own queue, worker thread and folders) and shares them through the cluster's
JobStore (job_store.py), so any replica can answer for any job.

- Its jobs' changes go to the store as they happen: a new job before its 202 is sent, a done
  job with its result.zip and first photo before it is marked done here, so that whichever
  replica a client asks next knows as much as this one.
- A job it does not hold is read from the store: a status as the store has it; a done job's
  files are fetched once into this replica's folder, so downloads and relights then run as for
  its own jobs.
- A heartbeat thread renews its lease and hears of its jobs cancelled through other replicas.
- Stopping (scaled down, redeployed, shut down), it lets its accepted jobs finish for up to
  drain_seconds, then tells the store to end the rest as errors.
"""

from __future__ import annotations

import logging
import threading
import time
import zipfile
from pathlib import Path

from .jobs import Job, JobManager, _folder_size
from .schemas import FINISHED

log = logging.getLogger("photonormals.service")


class SharedJobManager(JobManager):
    def __init__(self, store, owner: str, *args, heartbeat_seconds: float = 5.0,
                 drain_seconds: float = 30.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.store = store  # the JobStore actor's handle
        self.owner = owner  # this replica's name in the store
        self.heartbeat_seconds = heartbeat_seconds
        self.drain_seconds = drain_seconds
        self._beating = threading.Event()
        self._beat_thread: threading.Thread | None = None
        self._fetch_lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        # Not awaited (start runs on the replica's event loop): calls from one process reach
        # the actor in order, so the store knows this owner before its first job.
        self.store.heartbeat.remote(self.owner)
        super().start()
        self._beat_thread = threading.Thread(target=self._heartbeat, daemon=True,
                                             name="photonormals-heartbeat")
        self._beat_thread.start()

    def stop(self) -> None:
        import ray

        deadline = time.monotonic() + self.drain_seconds
        while self._unfinished() and time.monotonic() < deadline:
            time.sleep(0.2)
        self._beating.set()
        # Before the worker stops: the jobs it cancels on the way out are errors that say why,
        # not "cancelled" as if a client had asked. Waited for: the process ends soon after.
        try:
            ray.get(self.store.release.remote(
                self.owner, "the server replica holding this job was stopped (scaled down or "
                "redeployed) before it finished; send the photos again"), timeout=10)
        except Exception:  # noqa: BLE001 - the cluster may be going down: nothing left to tell
            log.warning("could not tell the job store that %s stopped", self.owner)
        super().stop()

    def _unfinished(self) -> bool:
        return any(job.state not in FINISHED for job in list(self._jobs.values()))

    def _heartbeat(self) -> None:
        import ray

        while not self._beating.wait(self.heartbeat_seconds):
            try:
                cancelled = ray.get(self.store.heartbeat.remote(self.owner),
                                    timeout=4 * self.heartbeat_seconds)
            except Exception as exc:  # noqa: BLE001 - keep beating: the store may come back
                log.warning("job store heartbeat failed: %s", exc)
                continue
            for job_id in cancelled:
                job = self._jobs.get(job_id)
                if job is not None:
                    JobManager.cancel(self, job)

    # ------------------------------------------------------------------ publishing

    def _changed(self, job: Job) -> None:
        import ray

        if job.state == "done":  # published by _completed, with its results
            return
        put = self.store.put.remote(self._record(job))
        if job.state == "queued":  # on a request's thread: in the store before the 202 goes
            ray.get(put)
        # The rest is not waited for: a cancel may run on the event loop, and progress
        # messages follow one another in order.

    def _completed(self, job: Job) -> None:
        import ray

        blobs = {"result.zip": job.archive.read_bytes()}
        if job.photo is not None:
            blobs[job.photo.name] = job.photo.read_bytes()
        try:  # the worker's thread: in the store before this replica says done
            ray.get(self.store.put.remote({**self._record(job), "state": "done",
                                           "stage": "done", "progress": 1.0}, blobs))
        except Exception:  # noqa: BLE001 - this replica still has the results
            log.exception("could not publish job %s to the job store", job.id)

    def _record(self, job: Job) -> dict:
        return {**job.status(), "error_code": job.error_code, "owner": self.owner}

    # ------------------------------------------------------------------ any replica's jobs

    def get(self, job_id: str) -> Job | None:
        import ray

        job = super().get(job_id)
        if job is not None:
            return job
        record = ray.get(self.store.get.remote(job_id))
        if record is None:
            return None
        if record["state"] == "done":
            return self._fetch(record)
        return _view(record, self.root / job_id)

    def cancel(self, job: Job) -> None:
        import ray

        if super().get(job.id) is job:
            return super().cancel(job)
        record = ray.get(self.store.cancel.remote(job.id))
        if record is not None:
            _update(job, record)

    def _fetch(self, record: dict) -> Job | None:
        """A done job of another replica, its files copied into this replica's folder."""
        import ray

        with self._fetch_lock:  # one copy, however many requests ask at once
            job = super().get(record["id"])
            if job is not None:
                return job
            blobs = ray.get(self.store.blobs.remote(record["id"]))
            if blobs is None:  # expired since the record was read
                return None
            job = _view(record, self.root / record["id"])
            job.folder.mkdir(parents=True, exist_ok=True)
            for name, data in blobs.items():
                (job.folder / Path(name).name).write_bytes(data)
            with zipfile.ZipFile(job.archive) as archive:
                archive.extractall(job.output)
            job.finished_at, job.size = time.monotonic(), _folder_size(job.folder)
            with self._lock:
                self._jobs[job.id] = job  # expires here as this replica's own results do
            return job


def _view(record: dict, folder: Path) -> Job:
    job = Job(record["id"], folder)
    _update(job, record)
    return job


def _update(job: Job, record: dict) -> None:
    job.state, job.stage, job.progress = record["state"], record["stage"], record["progress"]
    job.error, job.error_code, job.files = record["error"], record.get("error_code"), \
        list(record["files"])
    if job.state in FINISHED:
        job.finished.set()
