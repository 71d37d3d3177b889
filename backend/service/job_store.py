"""The jobs of a Ray deployment, shared by its replicas: one named, detached Ray actor running
this class, so that a job's record and results outlive the replica that ran it.

A replica owns the jobs it accepted (their uploads are on its disk, its worker runs them) and
publishes every change here (shared_jobs.py); any replica answers a status, a download or a
relight from here. Owners renew a lease with a heartbeat: the unfinished jobs of an owner whose
lease lapses (its process crashed or was killed, or its node went) end as errors that say so, so
no job is reported running for ever. A finished record is final. Results expire as a server's
do (--keep-minutes, --max-results-mb), here held in this actor's memory.

Plain Python, no Ray import: ray.remote(JobStore) makes the actor (open_store), and the tests
also drive it directly with a fake clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .expiry import expired

NAME = "photonormals-jobs"
NAMESPACE = "photonormals"
# As schemas.FINISHED, not imported: schemas pulls in the pipeline and torch, which this
# actor's process does not need (a test checks the two agree).
FINISHED = ("done", "error", "cancelled")
LOST = "replica_lost"
STOPPED = "replica_stopped"
LOST_MESSAGE = ("the server replica running this job stopped answering (it crashed, was killed "
                "or lost its node); send the photos again")


class JobStore:
    def __init__(self, keep_seconds: float, max_bytes: int | None, lease_seconds: float,
                 clock: Callable[[], float] = time.monotonic):
        self.keep_seconds = keep_seconds
        self.max_bytes = max_bytes
        self.lease_seconds = lease_seconds
        self._clock = clock
        self._records: dict[str, dict] = {}
        self._blobs: dict[str, dict[str, bytes]] = {}
        self._seen: dict[str, float] = {}  # owner -> its last heartbeat or update
        self._cancels: dict[str, set[str]] = {}  # owner -> its jobs cancelled elsewhere

    # ------------------------------------------------------------------ owners

    def heartbeat(self, owner: str) -> list[str]:
        """Renew owner's lease; the ids of its jobs cancelled through another replica since its
        last heartbeat, for it to stop."""
        self._seen[owner] = self._clock()
        self._sweep()
        return sorted(self._cancels.pop(owner, ()))

    def put(self, record: dict, blobs: dict[str, bytes] | None = None) -> None:
        """A job's status as its owner has it (JobStatus's fields and "owner"), with its result
        files once done; ignored once the stored record is finished."""
        now = self._clock()
        self._seen[record["owner"]] = now
        old = self._records.get(record["id"])
        if old is None or old["state"] not in FINISHED:
            finished = record["state"] in FINISHED
            self._records[record["id"]] = {**record, "finished_at": now if finished else None}
            if blobs:
                self._blobs[record["id"]] = dict(blobs)
        self._sweep()

    def release(self, owner: str, message: str) -> None:
        """owner is stopping: its unfinished jobs end now with message, not at its lease's end."""
        for record in self._records.values():
            if record["owner"] == owner and record["state"] not in FINISHED:
                self._end(record, "error", message, STOPPED)
        self._seen.pop(owner, None)
        self._cancels.pop(owner, None)

    # ------------------------------------------------------------------ any replica

    def get(self, job_id: str) -> dict | None:
        self._sweep()
        record = self._records.get(job_id)
        return dict(record) if record is not None else None

    def blobs(self, job_id: str) -> dict[str, bytes] | None:
        """A done job's result files (name -> bytes), or None once they expired."""
        self._sweep()
        return self._blobs.get(job_id)

    def cancel(self, job_id: str) -> dict | None:
        """As JobManager.cancel: a queued job ends at once, a running one when its owner hears
        of it (its next heartbeat, then its next stage); the record as it now stands."""
        record = self._records.get(job_id)
        if record is not None and record["state"] not in FINISHED:
            self._cancels.setdefault(record["owner"], set()).add(job_id)
            if record["state"] == "queued":
                self._end(record, "cancelled")
        return self.get(job_id)

    # ------------------------------------------------------------------ upkeep

    def _end(self, record: dict, state: str, error: str | None = None,
             code: str | None = None) -> None:
        record.update(state=state, stage=state, error=error, error_code=code, files=[],
                      finished_at=self._clock())

    def _sweep(self) -> None:
        now = self._clock()
        for record in self._records.values():
            if record["state"] not in FINISHED \
                    and now - self._seen.get(record["owner"], now) > self.lease_seconds:
                self._end(record, "error", LOST_MESSAGE, LOST)
        finished = [(job_id, record["finished_at"], _size(self._blobs.get(job_id)))
                    for job_id, record in self._records.items() if record["state"] in FINISHED]
        for job_id in expired(finished, now, self.keep_seconds, self.max_bytes):
            del self._records[job_id]
            self._blobs.pop(job_id, None)


def _size(blobs: dict[str, bytes] | None) -> int:
    return sum(len(data) for data in (blobs or {}).values())


def open_store(keep_seconds: float, max_bytes: int | None, lease_seconds: float):
    """The cluster's store actor, made by the first replica to ask (its settings win).
    Detached: a store made by a replica would otherwise die with that replica."""
    import ray

    return ray.remote(JobStore).options(
        name=NAME, namespace=NAMESPACE, lifetime="detached", get_if_exists=True,
        num_cpus=0,  # it only keeps records: the replicas need the cores
    ).remote(keep_seconds, max_bytes, lease_seconds)
