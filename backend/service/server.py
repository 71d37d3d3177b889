"""Serving the app on uvicorn with the limits that keep slow or flooding clients from tying it up.

uvicorn times out idle keep-alive connections, but not a client that sends its request's headers
a byte a second: 440 such connections were all held for 30 s. Here a request's headers must all
arrive within read_timeout seconds (the body's pace is BodyLimit's, in guards.py), and
connections beyond MAX_CONNECTIONS are closed as they come (uvicorn's limit_concurrency, which
counts connections too, answers 503 only once a request's headers are in). The socket is bound
before anything is printed, so a busy port is a one-line error, not a banner and then an exit.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from ..errors import UserError

MAX_CONNECTIONS = 128  # open at once, idle and slow ones included: well under a process's fds


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready socket on host:port, or a UserError saying why not."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    try:
        if os.name != "nt":  # on Windows it would let another process take the port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        reason = "the port is in use" if exc.errno == errno.EADDRINUSE else exc.strerror or exc
        raise UserError(f"cannot listen on {host}:{port}: {reason}") from None
    sock.set_inheritable(True)
    return sock


def serve(app, sock: socket.socket, read_timeout: float) -> None:
    """Run app on the bound socket until interrupted."""
    config = uvicorn.Config(
        app,
        http=guarded_protocol(read_timeout, MAX_CONNECTIONS),
        limit_concurrency=MAX_CONNECTIONS,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=5,
        log_level="warning",
    )
    # uvicorn re-raises the SIGINT it shut down on; a stop, as uvicorn.run treats it
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run(sockets=[sock])


def guarded_protocol(read_timeout: float, max_connections: int) -> type[H11Protocol]:
    class GuardedH11Protocol(H11Protocol):
        """uvicorn's HTTP/1.1 protocol with a deadline on each request's headers."""

        _deadline = None

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                transport.close()
                return
            self._start_deadline()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._start_deadline()  # for the next request on this connection

        def connection_lost(self, exc) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            super().connection_lost(exc)

        def _start_deadline(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            self._deadline = self.loop.call_later(read_timeout, self._check_headers_arrived)

        def _check_headers_arrived(self) -> None:
            # IDLE: the client has not finished a request's headers (an idle keep-alive
            # connection is closed sooner, by uvicorn's own timeout).
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.close()

    return GuardedH11Protocol
