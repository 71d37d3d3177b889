"""`photonormals serve --ray` on a local Ray instance that the tests start (2 CPUs, conftest's
ray_instance): the real command, in a subprocess, joins it and deploys two replicas behind Ray's
HTTP proxy.

One deployment for the module (Ray and Serve take tens of seconds to start on 2 cores). A
test-only stage delay makes every job take a few seconds, long enough to kill its replica while
it runs, and a test-only lease of a few seconds lets the job store notice that quickly.
"""

from __future__ import annotations

import io
import json
import time
import urllib.error
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor

import pytest
from photonormals.service import launch
from photonormals.service.launch import stop_server
from test_service import (  # the photos fixture is used by name
    TOKEN,
    call,
    lights_options,
    make_weights,
    multipart,
    photos,  # noqa: F401
    submit,
)

ray = pytest.importorskip("ray")
pytest.importorskip("ray.serve")

from photonormals.service.job_store import NAME, NAMESPACE  # noqa: E402

LEASE_S = 3
FINISHED = ("done", "error", "cancelled")


@pytest.fixture(scope="module")
def cluster(ray_instance, tmp_path_factory):
    """(proxy url, the job store's handle): the deployment the command line makes on the tests'
    Ray instance, joining it by address."""
    tmp = tmp_path_factory.mktemp("ray")
    process, url = launch.start_server(
        tmp, "--ray", "--address", ray.get_runtime_context().gcs_address, "--replicas", "2",
        "--token", TOKEN, "--max-queue", "3", results_dir=False, timeout=240,
        env={"PHOTONORMALS_WEIGHTS": str(make_weights(tmp / "weights")),
             "PHOTONORMALS_TEST_STAGE_DELAY": "0.2", "PHOTONORMALS_TEST_LEASE_S": str(LEASE_S)})
    try:
        yield url, ray.get_actor(NAME, namespace=NAMESPACE)
    finally:
        stop_server(process, timeout=90)  # it takes its deployment down, not Serve itself
        from ray import serve

        serve.shutdown()  # the controller and proxy: nothing left running for later tests


def record(store, job_id: str) -> dict | None:
    return ray.get(store.get.remote(job_id))


def replica(owner: str):
    return ray.get_actor(owner, namespace="serve")


def fetch(url: str) -> tuple[int, bytes]:
    """(status, body); (0, b"") when no answer comes."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


def poll(url: str, job_id: str, until, timeout: float = 60.0) -> dict:
    """The job's status once until(status) holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = fetch(f"{url}/v1/jobs/{job_id}")
        if status == 200 and until(json.loads(body)):
            return json.loads(body)
        time.sleep(0.1)
    raise AssertionError(f"job {job_id}: still {status} {body[:200]!r} after {timeout:.0f} s")


def kill(owner: str, timeout: float = 180.0) -> None:
    """Kill a replica as a crash would (no graceful shutdown), then wait until Serve has
    replaced it, so that the next test again finds two replicas."""
    from ray import serve

    ray.kill(replica(owner), no_restart=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            replica(owner)  # its name goes with it
        except ValueError:
            app = serve.status().applications.get("photonormals")
            states = app.deployments["PhotoNormals"].replica_states if app else {}
            if states.get("RUNNING", 0) == 2 and sum(states.values()) == 2:
                return
        time.sleep(0.5)
    raise AssertionError(f"Serve did not replace the killed replica in {timeout:.0f} s")


def test_health_and_auth_through_ray(cluster):
    url, _ = cluster
    status, _, body = call(url + "/v1/health", token=None)
    health = json.loads(body)
    assert status == 200 and health["status"] == "ok" and health["device"] == "cpu"
    assert health["limits"]["max_queue"] == 3  # the command line's flags reach the replicas
    assert call(url + "/v1/jobs/x", token=None)[0] == 401
    assert call(url + "/v1/jobs/x")[0] == 404


def test_a_job_through_the_deployment(cluster, photos):  # noqa: F811
    url, _ = cluster
    status, _, body = submit(url, photos["paths"], lights_options(photos))
    assert status == 202
    job_id = json.loads(body)["id"]
    final = poll(url, job_id, lambda s: s["state"] in FINISHED)
    assert final["state"] == "done" and "normal.png" in final["files"]
    status, _, archive = call(f"{url}/v1/jobs/{job_id}/result")
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        assert sorted(zf.namelist()) == final["files"]


def test_two_replicas_both_serve_and_share_results(cluster, photos):  # noqa: F811
    url, store = cluster
    body, content_type = multipart(photos["paths"], lights_options(photos))
    with ThreadPoolExecutor(4) as pool:  # waiting calls: Serve sends each to the idler replica
        answers = list(pool.map(lambda _: call(url + "/v1/predict", "POST", body, content_type),
                                range(4)))
    assert [status for status, _, _ in answers] == [200] * 4
    jobs = [headers["X-PhotoNormals-Job"] for _, headers, _ in answers]
    owners = {record(store, job_id)["owner"] for job_id in jobs}
    assert len(owners) == 2, owners

    # Each replica's results, downloaded through the proxy: whichever replica answers has them.
    for job_id, (_, _, archive) in zip(jobs, answers, strict=True):
        for _ in range(3):
            assert call(f"{url}/v1/jobs/{job_id}/result")[2] == archive


def test_a_running_job_is_cancelled_whichever_replica_gets_the_cancel(cluster, photos):  # noqa: F811
    url, store = cluster
    status, _, body = submit(url, photos["paths"], lights_options(photos))
    job_id = json.loads(body)["id"]
    poll(url, job_id, lambda s: s["state"] != "queued")
    status, _, body = call(f"{url}/v1/jobs/{job_id}", "DELETE")
    assert status == 200
    assert poll(url, job_id, lambda s: s["state"] in FINISHED)["state"] == "cancelled"
    deadline = time.monotonic() + 30  # the owner's word may still be on its way to the store
    while (state := record(store, job_id)["state"]) not in FINISHED:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert state == "cancelled"


def test_results_outlive_the_replica_that_made_them(cluster, photos):  # noqa: F811
    url, store = cluster
    status, _, body = submit(url, photos["paths"], lights_options(photos))
    job_id = json.loads(body)["id"]
    poll(url, job_id, lambda s: s["state"] == "done")
    archive = call(f"{url}/v1/jobs/{job_id}/result")[2]
    kill(record(store, job_id)["owner"])
    status, body = fetch(f"{url}/v1/jobs/{job_id}/result")
    assert status == 200 and body == archive
    status, headers, image = call(url + "/v1/relight", "POST",
                                  *multipart(fields={"job_id": job_id, "background": "keep"}))
    assert status == 200 and image.startswith(b"\x89PNG")  # the photo came along too


def test_a_replica_killed_mid_job_fails_its_job_cleanly(cluster, photos):  # noqa: F811
    url, store = cluster
    status, _, body = submit(url, photos["paths"], lights_options(photos))
    job_id = json.loads(body)["id"]
    deadline = time.monotonic() + 60
    while (job := record(store, job_id) or {"state": "queued"})["state"] != "running":
        assert job["state"] == "queued" and time.monotonic() < deadline, job
        time.sleep(0.05)
    kill(job["owner"])
    final = poll(url, job_id, lambda s: s["state"] in FINISHED, timeout=LEASE_S + 30)
    assert final["state"] == "error" and "stopped answering" in final["error"], final
