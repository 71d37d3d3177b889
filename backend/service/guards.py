"""Checks that run before a request's body is read (ASGI middleware), outermost first:

- BrowserCheck: a loopback server answers only requests addressed to a loopback name (a DNS
  rebinding page sends its own host name), and no server answers a browser page of another
  origin (which could post jobs blindly) unless --allow-origin names it.
- TokenCheck: the token, so an unauthorised client cannot make the server parse an upload.
- QueueGate: an upload that the full queue would refuse is refused before it is read.
- BodyLimit: the body's size (its Content-Length at once, then counted) and the pace it comes at.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
from urllib.parse import urlsplit

from .errors import ServiceError, error_response

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
MIN_BODY_RATE = 64 << 10  # bytes/s an upload must average once the read timeout has passed


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _refuse(error: ServiceError, close: bool = False):
    """An ASGI app answering with the error; close: the body was not read, so the connection
    cannot carry another request."""
    response = error_response(error)
    if close:
        response.headers["Connection"] = "close"
    return response


class BrowserCheck:
    def __init__(self, app, loopback_only: bool, allow_origins: frozenset[str] = frozenset()):
        self.app = app
        self.loopback_only = loopback_only
        self.allow_origins = allow_origins

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            problem = self.problem(dict(scope["headers"]))
            if problem is not None:
                return await _refuse(problem, close=True)(scope, receive, send)
        await self.app(scope, receive, send)

    def problem(self, headers: dict) -> ServiceError | None:
        host = headers.get(b"host", b"").decode("latin-1")
        if self.loopback_only and host and _hostname(host) not in LOOPBACK_NAMES:
            return ServiceError(403, "forbidden_host", "this server answers only requests to "
                                f"localhost or 127.0.0.1, not to {_hostname(host)!r}")
        origin = headers.get(b"origin")
        if origin is None:  # not a browser page's request (curl, the Blender add-on)
            return None
        origin = origin.decode("latin-1").rstrip("/")
        if origin in self.allow_origins or (host and origin == f"http://{host}"):
            return None  # an allowed page, or the server's own (its /docs)
        return ServiceError(403, "forbidden_origin", f"requests from web pages of {origin} are "
                            "refused; start the server with --allow-origin to allow one")


def _hostname(host_header: str) -> str:
    """The name in a Host header, without port or IPv6 brackets, lower case."""
    return (urlsplit(f"//{host_header}").hostname or "").lower()


class TokenCheck:
    def __init__(self, app, token: str | None, open_paths: frozenset[str], prefix: str):
        self.app = app
        self.token = token
        self.open_paths = open_paths
        self.prefix = prefix

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and self.token and scope["path"].startswith(self.prefix) \
                and scope["path"] not in self.open_paths:
            problem = token_problem(dict(scope["headers"]), self.token)
            if problem is not None:
                return await _refuse(problem)(scope, receive, send)
        await self.app(scope, receive, send)


def token_problem(headers: dict, token: str) -> ServiceError | None:
    given = headers.get(b"x-photonormals-token")
    authorization = headers.get(b"authorization", b"")
    if given is None and authorization[:7].lower() == b"bearer ":
        given = authorization[7:].strip()
    if not given:
        return ServiceError(
            401,
            "unauthorized",
            "this server needs a token: Authorization: Bearer TOKEN",
            {"WWW-Authenticate": "Bearer"},
        )
    if not hmac.compare_digest(given, token.encode()):
        return ServiceError(403, "forbidden", "wrong token")
    return None


def queue_full(message: str, retry_after_s: int) -> ServiceError:
    return ServiceError(
        503, "queue_full", f"{message}; retry later", {"Retry-After": str(retry_after_s)}
    )


class QueueGate:
    """Refuse a new job or relight while the queue is full, before its upload is read: five
    200 MB uploads used to fill the temp disk before each got its 503."""

    def __init__(self, app, manager, paths: frozenset[str], retry_after_s: int):
        self.app = app
        self.manager = manager
        self.paths = paths
        self.retry_after_s = retry_after_s

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in self.paths \
                and self.manager.is_full():
            error = queue_full(f"the queue is full ({self.manager.max_queue} waiting)",
                               self.retry_after_s)
            return await _refuse(error, close=True)(scope, receive, send)
        await self.app(scope, receive, send)


def too_large(limit: int) -> ServiceError:
    return ServiceError(413, "too_large", f"the upload is over the {limit / (1 << 20):g} MiB limit")


class BodyLimit:
    """Refuse a body over the limit from its Content-Length at once, and count the bytes as they
    stream in (chunked uploads, or a Content-Length that lies). A body must also keep coming:
    after read_timeout seconds it must have averaged MIN_BODY_RATE, else 408 (a client sending
    a byte a second would otherwise hold its connection for ever)."""

    def __init__(self, app, max_bytes: int, read_timeout: float):
        self.app = app
        self.max_bytes = max_bytes
        self.read_timeout = read_timeout

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await _refuse(too_large(self.max_bytes), close=True)(scope, receive, send)
        loop = asyncio.get_running_loop()
        start, received, complete = loop.time(), 0, False

        def behind() -> bool:  # under MIN_BODY_RATE on average since the read timeout
            return loop.time() > start + self.read_timeout + received / MIN_BODY_RATE

        async def counted():
            nonlocal received, complete
            if complete:  # after the body: the app listening for a disconnect, untimed
                return await receive()
            allowed = start + self.read_timeout + received / MIN_BODY_RATE - loop.time()
            try:  # a second's grace: data already buffered must not time out
                message = await asyncio.wait_for(receive(), max(allowed, 0.0) + 1.0)
            except TimeoutError:
                raise too_slow() from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                if received > self.max_bytes:
                    raise too_large(self.max_bytes)
                if not complete and behind():
                    raise too_slow()
            return message

        await self.app(scope, counted, send)


def too_slow() -> ServiceError:
    return ServiceError(408, "timeout", f"the upload came too slowly (under "
                        f"{MIN_BODY_RATE >> 10} KiB/s)", {"Connection": "close"})
