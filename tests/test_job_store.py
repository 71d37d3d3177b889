"""The Ray deployment's job store as plain Python (no Ray needed), on a fake clock: leases,
final records, cancels relayed to the owner, expiry."""

from __future__ import annotations

import pytest
from photonormals.service import job_store
from photonormals.service.job_store import LOST, STOPPED, JobStore

LEASE = 10.0


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(clock):
    return JobStore(keep_seconds=100.0, max_bytes=1000, lease_seconds=LEASE, clock=clock)


def record(job_id, state="running", owner="a", **extra):
    return {"id": job_id, "state": state, "stage": state, "progress": 0.5, "error": None,
            "error_code": None, "files": [], "owner": owner, **extra}


def test_the_store_agrees_with_the_wire_schema_on_finished_states():
    from photonormals.service.schemas import FINISHED

    assert job_store.FINISHED == FINISHED


def test_a_job_whose_owner_stops_renewing_its_lease_ends_as_an_error(store, clock):
    store.put(record("j1"))
    store.put(record("j2", owner="b"))
    for _ in range(3):  # a beats, b is silent
        clock.now += LEASE * 0.6
        store.heartbeat("a")
    assert store.get("j1")["state"] == "running"
    lost = store.get("j2")
    assert lost["state"] == "error" and lost["error_code"] == LOST
    assert "stopped answering" in lost["error"]
    store.put(record("j2", state="done", owner="b"), {"result.zip": b"late"})
    assert store.get("j2")["state"] == "error"  # a finished record is final
    assert store.blobs("j2") is None


def test_results_are_kept_with_the_record(store):
    store.put(record("j1", state="done", files=["normal.png"]),
              {"result.zip": b"zip", "photo.png": b"png"})
    assert store.get("j1")["files"] == ["normal.png"]
    assert store.blobs("j1") == {"result.zip": b"zip", "photo.png": b"png"}
    assert store.get("unknown") is None and store.blobs("unknown") is None


def test_cancels_reach_the_owner_once(store):
    store.put(record("queued", state="queued"))
    store.put(record("running"))
    assert store.cancel("queued")["state"] == "cancelled"  # at once, as JobManager.cancel
    assert store.cancel("running")["state"] == "running"  # when the owner stops it
    assert store.heartbeat("a") == ["queued", "running"]
    assert store.heartbeat("a") == []
    assert store.cancel("unknown") is None


def test_an_owner_that_stops_ends_its_unfinished_jobs_with_a_reason(store):
    store.put(record("j1", state="queued"))
    store.put(record("j2", state="done"), {"result.zip": b"x"})
    store.release("a", "the replica was stopped")
    assert store.get("j1")["error_code"] == STOPPED
    assert store.get("j1")["error"] == "the replica was stopped"
    assert store.get("j2")["state"] == "done"


def test_finished_results_expire_by_age_and_by_size(store, clock):
    store.put(record("old", state="done"), {"result.zip": b"x" * 600})
    clock.now += 1
    store.put(record("new", state="done"), {"result.zip": b"x" * 600})
    assert store.get("old") is None and store.get("new") is not None  # over max_bytes
    clock.now += 101
    assert store.get("new") is None  # over keep_seconds
