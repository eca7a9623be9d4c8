"""The contract between the engine and the transports: what each side tells the other beside a
request and its response. Both sides import this module; it imports neither (only the kernel's
record types), so the transports never reach into the engine.

Context variables, set by the engine for the task of one URL and read by whichever transport
sends its request (the aiohttp transport, ``aio.py``; the sharded httpx pool, ``pool.py``, and
its network backend, ``netbackend.py``):

- ``CURRENT``, a ``PhaseClock``: where a request's time went (name lookup, TCP connect, TLS
  handshake, time to first byte, the wait for a pooled connection). The request path
  (``engine/request.py``) puts one in for each request it sends; whatever opens the connection fills
  in the phases it went through, on either backend. A reused connection goes through none of
  them: its phases stay ``None``, as in curl.
- ``DEMAND``: the sequence number of the next URL waiting for a host (the engine's look-ahead,
  ``engine/admission.py``), which a full pool weighs with ``least_needed`` when it must close an
  idle connection.
- ``ON_TLS``: told the protocol the server chose (ALPN) as soon as a TLS handshake of the current
  request is done (set by ``pool.py``, called by ``netbackend.py``).

Response extensions (``httpx.Response.extensions``) an httpx transport of fetchcli's adds (the
wire behind ``build_client``'s client, ``httpxwire.WireTransport``), read by ``httpxwire.HttpxWire``:
``PEER_EXTENSION`` and ``SSL_EXTENSION``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from typing import TypeVar

from fetchcli.frozen import quick_builder
from fetchcli.models import Timing

T = TypeVar("T")


_new_timing = quick_builder(Timing)  # one per URL: at a plain dataclass's cost (frozen.py)


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
        return _new_timing(self.dns_ms, self.connect_ms, self.tls_ms, self.ttfb_ms)


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


# --- what a full pool closes (DEMAND) ----------------------------------------------------------

# Idle connections a full pool weighs when it must close one: the longest idle this many (so
# the work per new connection does not grow with the pool).
EVICTION_CANDIDATES = 16
# The sequence number of the next waiting URL of a host (lower case, IPv6 without brackets, as
# httpx and aiohttp key their connections), or None when none of its URLs waits.
DEMAND: ContextVar[Callable[[str], int | None] | None] = ContextVar("fetchcli_demand", default=None)


def least_needed(idle: Iterable[tuple[T, str]], demand: Callable[[str], int | None]) -> T | None:
    """The idle connection a full pool closes, of ``idle`` given longest idle first as
    ``(connection, host)``: the first whose host has no URL waiting, else the one whose host's
    next URL comes last, weighing at most ``EVICTION_CANDIDATES``. The one rule of both pools."""
    chosen, latest = None, -1
    for weighed, (connection, host) in enumerate(idle, 1):
        next_use = demand(host)
        if next_use is None:
            return connection
        if next_use > latest:
            chosen, latest = connection, next_use
        if weighed == EVICTION_CANDIDATES:
            break
    return chosen


# --- the protocol a TLS handshake chose (ALPN) ---------------------------------------------------

# Told the protocol the server chose (ALPN: "h2", "http/1.1" or None) as soon as the TLS handshake
# of the current request is done (by netbackend.py): a connection is known HTTP/2 before its answer.
ON_TLS: ContextVar[Callable[[str | None], None] | None] = ContextVar("fetchcli_on_tls", default=None)


# --- response extensions -------------------------------------------------------------------------

PEER_EXTENSION = "fetchcli.peer"  # (ip, port) of the connection, set by the aiohttp transport
SSL_EXTENSION = "fetchcli.ssl_object"  # the connection's ssl.SSLObject, set by the aiohttp transport
