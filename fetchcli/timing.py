"""Where a request's time went: name lookup, TCP connect, TLS handshake, time to first byte.

The request path (``request.py``) puts a ``PhaseClock`` in a context variable for each request
it sends; whatever opens the connection fills in the phases it went through, on either backend:
``aio.py`` from its resolver and connector, ``netbackend.py`` from httpcore's network backend.
A reused connection goes through none of them: its phases stay ``None``, as in curl.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any


class PhaseClock:
    """Milliseconds per phase of one request, filled in as the phases happen; ``pool_s``, the
    seconds it waited for a connection of the pool before it could be sent (``waited``);
    ``unsent``, that wait ended without a connection (``PoolTimeout``, or cancelled: the request
    never left the pool, so it was not sent and is no attempt); and, told
    the same way, what the transport knows of the connection the request went on (HTTP/1.1), for the
    resend of a request the server never read (``request._exchange``): ``reused``, the connection had
    carried an earlier request (a kept-alive one); ``answered``, then, a byte of the answer
    arrived (not told for a new connection).
    ``fresh`` goes the other way: set by the request path, it asks the transport for a new
    connection, not a kept-alive one. ``proxy_stage``: the request is opening a connection
    through a proxy and is still talking to the proxy (connecting to it, its TLS, the CONNECT or
    the SOCKS handshake), told by the httpx backend's network backend (``netbackend.py``)."""

    __slots__ = (
        "answered",
        "connect_ms",
        "dns_ms",
        "fresh",
        "pool_s",
        "proxy_stage",
        "reused",
        "tls_ms",
        "ttfb_ms",
        "unsent",
    )

    def __init__(self, *, fresh: bool = False) -> None:
        self.dns_ms: float | None = None
        self.connect_ms: float | None = None
        self.tls_ms: float | None = None
        self.ttfb_ms: float | None = None
        self.pool_s = 0.0
        self.fresh = fresh
        self.reused = False
        self.answered = False
        self.proxy_stage = False
        self.unsent = False

    def freeze(self) -> Timing:
        return Timing(self.dns_ms, self.connect_ms, self.tls_ms, self.ttfb_ms)


CURRENT: ContextVar[PhaseClock | None] = ContextVar("fetchcli_phase_clock", default=None)


def waited(started: float, got: bool = True) -> None:
    """A transport waited for a pooled connection since ``started`` (a ``time.perf_counter()``
    reading): add it to the current request's ``pool_s``; ``got`` False: the wait ended without
    one (the request is ``unsent``). Called on the slow path only (a request that found a
    connection at once reads no clock for this)."""
    clock = CURRENT.get()
    if clock is not None:
        clock.pool_s += time.perf_counter() - started
        if not got:
            clock.unsent = True


def since(started: float, until: float | None = None) -> float:
    """Milliseconds from ``started`` to ``until`` (``time.perf_counter()`` readings; ``until``
    defaults to now), to 0.1 ms."""
    return round(((time.perf_counter() if until is None else until) - started) * 1000, 1)


@dataclass(frozen=True, slots=True)
class Timing:
    """The record's ``timing``, for the last request of a URL (the final hop with ``-L``).
    ``dns_ms``: looking the name up (None for an IP address, a reused connection, or a name
    looked up in the last 10 s); ``connect_ms``: the TCP connection; ``tls_ms``: the TLS
    handshake; ``ttfb_ms``: from sending the request (connecting included) to its response's
    headers."""

    dns_ms: float | None
    connect_ms: float | None
    tls_ms: float | None
    ttfb_ms: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"dns_ms": self.dns_ms, "connect_ms": self.connect_ms, "tls_ms": self.tls_ms, "ttfb_ms": self.ttfb_ms}
