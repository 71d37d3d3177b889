"""Ray, for `serve --ray` and `batch --ray`: imported only here and only when asked for, so the
package works without the optional extra."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

from .errors import UserError

INSTALL_HINT = "pip install 'photonormals[ray]'"
ENV_PREFIX = "PHOTONORMALS_"
# Carried by the settings instead: a runtime_env is shown on the Ray dashboard.
NOT_FORWARDED = frozenset({"PHOTONORMALS_TOKEN"})
PROXY_READY_ENV = "RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S"


def require_ray():
    """The ray module, or a UserError (exit 2) saying how to install it."""
    try:
        import ray
        from ray import serve  # noqa: F401 - the [serve] part of the extra
    except ImportError:
        raise UserError(f"--ray needs Ray Serve, which is not installed: {INSTALL_HINT}") from None
    return ray


def check_flags(args, ray_only: tuple[str, ...], resources: tuple[str, ...]) -> None:
    """UserErrors for the command line's Ray flags (argparse names): one of ``ray_only`` given
    without --ray, or a negative ``resources`` amount (CPUs, GPUs)."""
    given = [name for name in ray_only if getattr(args, name) is not None]
    if given and not args.ray:
        raise UserError(f"--{given[0].replace('_', '-')} is a --ray option: add --ray")
    for name in resources:
        if getattr(args, name) is not None and not getattr(args, name) >= 0:
            raise UserError(f"--{name.replace('_', '-')} must be 0 or more")


def connect(address: str | None) -> bool:
    """Join the cluster at address ("auto": the one this machine runs), or start a local Ray
    instance on this machine's cores when address is None. True when this call started Ray
    (its caller then shuts it down)."""
    ray = require_ray()
    if ray.is_initialized():
        return False
    if address not in (None, "auto", "local"):
        check_reachable(address)
    if address is None:
        # Serve restarts a proxy not up within 5 s, and serve.run then fails: a busy 2-core
        # machine takes longer to start one. The actors Ray starts here inherit this.
        os.environ.setdefault(PROXY_READY_ENV, "60")
    try:
        ray.init(address=address, include_dashboard=False, logging_level="warning",
                 log_to_driver=False)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        raise UserError(f"cannot reach {where}: {exc}") from None
    return True


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """A UserError at once when nothing listens at host:port (ray.init would retry for
    minutes)."""
    parts = urlsplit(address if "://" in address else f"//{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if not host or port is None:
        raise UserError(f"--address {address!r}: give HOST:PORT of the cluster's head (its GCS, "
                        "6379 by default), ray://HOST:PORT, or auto")
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise UserError(f"cannot reach the Ray cluster at {address}: "
                        f"{exc.strerror or exc}") from None


def worker_threads(threads: int | None, cpus: float) -> int | None:
    """ONNX Runtime threads for a replica or task: --threads, else $PHOTONORMALS_THREADS (None:
    it reaches the workers), else the cores Ray reserves for each, not the default 2, with
    which two 1-core replicas would ask for four threads of two cores."""
    if threads is not None or "PHOTONORMALS_THREADS" in os.environ:
        return threads
    return max(1, int(cpus))


def forwarded_env() -> dict[str, str]:
    """This shell's PHOTONORMALS_* settings (weights folder, runtime, threads), for the
    replicas and tasks the cluster starts elsewhere."""
    return {key: value for key, value in os.environ.items()
            if key.startswith(ENV_PREFIX) and key not in NOT_FORWARDED}
