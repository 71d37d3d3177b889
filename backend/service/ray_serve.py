"""`photonormals serve --ray`: the service's FastAPI app (app.py), unchanged, as a Ray Serve
deployment: the same /v1 API, token, limits and errors, answered by N replicas behind Ray's HTTP
proxy (port 8000 by default) on any number of machines.

- Each replica builds the app itself (serve.ingress with a builder, so only the settings travel):
  its own models, loaded once on first use and kept, its own job queue and worker thread, and a
  scratch folder of its own. --max-queue counts per replica.
- Jobs are shared: a replica publishes its jobs to the cluster's job store, a detached actor
  (job_store.py), and answers for the others' from there (shared_jobs.py). A replica that dies
  mid-job stops renewing its lease and the store ends its jobs as errors; one that is stopped
  (scaled down, redeployed) first lets its accepted jobs finish for up to DRAIN_SECONDS.
- Scale: --replicas N alone is a fixed count; with --max-replicas M, Serve autoscales between N
  and M on requests in flight per replica (TARGET_ONGOING_REQUESTS). A queued job is not a
  request: POST /v1/jobs returns at once, so only uploads and waiting /v1/predict calls make
  it scale up.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
from dataclasses import dataclass, replace
from functools import partial

from ..ray_cluster import connect, forwarded_env, require_ray, worker_threads
from .app import Settings

APP_NAME = "photonormals"
DEPLOYMENT_NAME = "PhotoNormals"
DEFAULT_PORT = 8000  # Ray Serve's own default
LEASE_SECONDS = 30.0  # a job whose replica has not been heard of for this long has failed
LEASE_ENV = "PHOTONORMALS_TEST_LEASE_S"  # test-only: a shorter lease
DRAIN_SECONDS = 30.0
MAX_ONGOING_REQUESTS = 32  # per replica: status polls must not queue behind a few uploads
TARGET_ONGOING_REQUESTS = 2


@dataclass(frozen=True)
class Scale:
    replicas: int = 1
    max_replicas: int | None = None  # above replicas: autoscale up to it
    cpus: float = 1.0  # per replica; its torch and ONNX Runtime threads follow (worker_threads)
    gpus: float = 0.0  # per replica; fractions share a GPU

    @property
    def autoscaling(self) -> bool:
        return self.max_replicas is not None and self.max_replicas > self.replicas

    def describe(self) -> str:
        count = (f"{self.replicas}-{self.max_replicas} replicas (autoscaling)" if self.autoscaling
                 else f"{self.replicas} replica{'s' if self.replicas != 1 else ''}")
        return f"{count}, {self.cpus:g} CPU and {self.gpus:g} GPU each"


def deployment(settings: Settings, scale: Scale, env: dict[str, str] | None = None):
    """The Serve application: settings.device is resolved on each replica ("auto" finds the
    replica's GPU); env: variables the replicas get (this shell's PHOTONORMALS_* ones)."""
    from ray import serve

    settings = replace(settings, threads=worker_threads(settings.threads, scale.cpus))

    def build_app():  # runs on each replica
        return replica_app(settings)

    actor_options = {"num_cpus": scale.cpus, "num_gpus": scale.gpus}
    if env:
        actor_options["runtime_env"] = {"env_vars": dict(env)}
    options = {"name": DEPLOYMENT_NAME, "ray_actor_options": actor_options,
               "max_ongoing_requests": MAX_ONGOING_REQUESTS,
               "graceful_shutdown_timeout_s": DRAIN_SECONDS + 15}
    if scale.autoscaling:
        options["autoscaling_config"] = {
            "min_replicas": scale.replicas, "initial_replicas": scale.replicas,
            "max_replicas": scale.max_replicas,
            "target_ongoing_requests": TARGET_ONGOING_REQUESTS}
    else:
        options["num_replicas"] = scale.replicas
    return serve.deployment(serve.ingress(build_app)(), **options).bind()


def replica_app(settings: Settings):
    """One replica's app: the plain server's, with its jobs shared through the job store."""
    import ray

    from ..device import pick_device
    from .app import create_app
    from .job_store import open_store
    from .shared_jobs import SharedJobManager

    settings = replace(settings, device=str(pick_device(settings.device)))
    lease = float(os.environ.get(LEASE_ENV) or LEASE_SECONDS)
    store = open_store(settings.keep_minutes * 60, int(settings.max_results_mb * (1 << 20)), lease)
    owner = ray.get_runtime_context().get_actor_name() or f"{socket.gethostname()}:{os.getpid()}"
    return create_app(settings, partial(SharedJobManager, store, owner,
                                        heartbeat_seconds=lease / 4, drain_seconds=DRAIN_SECONDS))


def app_builder(args: dict):
    """serve.yaml's import_path, for `serve run` and `serve deploy`: args are the flags of
    `photonormals serve --ray` without their dashes (token, max_queue, replicas, ...)."""
    from ..cli.serve import ray_plan

    settings, scale = ray_plan(args)
    return deployment(settings, scale, forwarded_env())


def run(settings: Settings, scale: Scale, address: str | None, port: int) -> int:
    """Deploy on the cluster at address (None: a local Ray instance), serve until interrupted
    (Ctrl-C or SIGTERM), then take the deployment down again."""
    ray = require_ray()
    from ray import serve

    from .server import bind

    if address is None:
        bind(settings.host, port).close()  # a busy port: exit 2 now, not a proxy retrying
    started = connect(address)
    try:
        serve.start(http_options={"host": settings.host, "port": port})
        serve.run(deployment(settings, scale, forwarded_env()), name=APP_NAME, route_prefix="/")
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        print(f"photonormals serve: http://{host}:{port}/v1 on Ray ({scale.describe()})"
              f"{' (token required)' if settings.token else ''}", flush=True)
        _wait_for_stop()
    except KeyboardInterrupt:
        pass
    finally:
        _take_down(ray, serve, started)
    return 0


def _wait_for_stop() -> None:
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    forever = threading.Event()
    while not forever.wait(3600):
        pass


def _take_down(ray, serve, started: bool) -> None:
    from .job_store import NAME, NAMESPACE

    try:
        serve.delete(APP_NAME)  # the replicas drain: accepted jobs finish, up to DRAIN_SECONDS
        ray.kill(ray.get_actor(NAME, namespace=NAMESPACE))
    except Exception as exc:  # noqa: BLE001 - already gone (a cluster that went down)
        print(f"photonormals serve: while stopping: {exc}", flush=True)
    if started:
        serve.shutdown()
        ray.shutdown()
