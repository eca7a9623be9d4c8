"""The default wire's connections (``aio.py``): ``BoundedConnector``, aiohttp's ``TCPConnector``
held to ``--max-connections`` and ``--max-keepalive`` (the least useful idle connection closed
first), routed by ``addressmap.py``, timing the TCP connect and the TLS handshake apart, and
telling a proxy's failures by step (``aiofailures.ProxyStepFailed``); each connection's protocol
(``_Handler``); and ``PooledLookups``, name lookups on the wire's own thread pool.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from typing import Any

import aiohttp
from aiohttp import client_exceptions as aex
from aiohttp.client_proto import ResponseHandler
from aiohttp.http_exceptions import HttpProcessingError

from fetchcli.errors import out_of_files
from fetchcli.transport.addressmap import AddressMap
from fetchcli.transport.aiofailures import NOT_THE_PROXYS, ProxyStepFailed
from fetchcli.transport.hints import CURRENT, DEMAND, PhaseClock, least_needed, since

_CONNECT_READ_TIMEOUT: ContextVar[float | None] = ContextVar("fetchcli_connect_read_timeout", default=None)


class _Handler(ResponseHandler):
    """aiohttp's protocol of one connection, which tells a request sent on it as a kept-alive
    connection (``waiting``: its ``PhaseClock``) that a byte of its answer arrived; and fails the
    body being read when the parser refuses what came (``set_exception``)."""

    __slots__ = ("waiting",)

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.waiting: PhaseClock | None = None

    def data_received(self, data: bytes) -> None:
        waiting = self.waiting
        if waiting is not None and data:
            waiting.answered = True
            self.waiting = None
        super().data_received(data)

    def set_response_params(self, *, read_timeout: float | None = None, **params: Any) -> None:
        """aiohttp reads a proxy's answer to the CONNECT with no read timeout (it sets none): a
        proxy that never answered held the URL until ``--max-time`` (the httpx backend: the read
        timeout). The request's read timeout is used then (``_CONNECT_READ_TIMEOUT``)."""
        connect_read_timeout = _CONNECT_READ_TIMEOUT.get() if read_timeout is None else None
        super().set_response_params(read_timeout=read_timeout or connect_read_timeout, **params)
        if connect_read_timeout:  # the CONNECT was sent before: its timer starts now
            self.start_timeout()

    def set_exception(self, exc: BaseException, *cause: BaseException) -> None:
        """aiohttp's ``data_received`` gives a parser error to the connection only: a body whose
        head came in an earlier read (a chunk size over 2^64 - 1, say) waited for ever, its read
        timeout dropped, until ``--max-time``. Its body now fails at once, as on the httpx
        backend (``ClientPayloadError``: ``RemoteProtocolError``)."""
        super().set_exception(exc, *cause)
        payload = getattr(self, "_payload", None)  # the body being read, if any
        if not isinstance(exc, HttpProcessingError) or payload is None:
            return
        if not payload.is_eof() and payload.exception() is None:
            payload.set_exception(aex.ClientPayloadError(f"Response payload is not completed: {exc.message}"))


class BoundedConnector(aiohttp.TCPConnector):
    """``TCPConnector`` whose open connections (in use + idle) never exceed ``limit``, and whose
    idle connections never exceed ``max_idle``. Relies on aiohttp's ``_conns``/``_acquired``,
    which have been stable through aiohttp 3.x; tests/test_backends.py counts real connections."""

    def __init__(self, *, max_idle: int, address_map: AddressMap | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._max_idle = max_idle
        self._address_map = address_map if address_map else None
        self.idle_walks = 0  # walks over the idle connections (counted: a guard test bounds them)
        factory: Callable[[], ResponseHandler] = functools.partial(_Handler, loop=self._loop)
        self._factory = factory  # type: ignore[assignment]  # see aio.require_private_api

    async def _get(self, key: Any, traces: Any) -> Any:
        """A kept-alive connection for the request, or None to open one: tells the request (its
        ``PhaseClock``) that it reuses one; opens one whenever the request asks for a ``fresh``
        connection (a resend, ``request._exchange``)."""
        clock = CURRENT.get()
        if clock is not None and clock.fresh:
            return None
        connection = await super()._get(key, traces)
        if connection is not None and clock is not None:
            clock.reused = True
            protocol = connection.protocol
            if isinstance(protocol, _Handler):
                protocol.waiting = clock
        return connection

    async def _resolve_host(self, host: str, port: int, traces: Any = None) -> Any:
        """``--connect-to``, ``--resolve``, ``-4``/``-6`` and ``--all-ips``'s pin (``addressmap.py``):
        where the connection goes. The TLS server name stays the URL's host (aiohttp takes it
        from the request, not from here). A failure here is aiohttp's DNS error."""
        mapped = self._address_map
        if mapped is None:
            return await super()._resolve_host(host, port, traces)
        target, port, fixed = mapped.route(host, port)
        if fixed is None:
            if not mapped.family:
                return await super()._resolve_host(target, port, traces)
            try:
                found = await super()._resolve_host(target, port, traces)
            except OSError as exc:
                raise mapped.lookup_failed(exc) from exc
            kept = mapped.of_family(target, [str(info["host"]) for info in found])  # -4, -6
            return [info for info in found if info["host"] in kept]
        fixed = tuple(mapped.of_family(host, fixed))
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            for address in fixed
        ]

    def _idle_total(self) -> int:
        self.idle_walks += 1
        return sum(len(conns) for conns in self._conns.values())

    def _close_least_useful_idle(self) -> bool:
        """Close the idle connection least likely to be used again: with the engine's look-ahead
        (``DEMAND``), ``hints.least_needed`` of the idle hosts in the order they fell idle;
        without it, the longest idle."""
        demand = DEMAND.get()
        if demand is not None:  # hosts in the order they last fell idle
            chosen = least_needed(((key, key.host) for key, conns in self._conns.items() if conns), demand)
        else:
            chosen = min(
                (key for key, conns in self._conns.items() if conns), key=lambda k: self._conns[k][0][1], default=None
            )
        if chosen is None:
            return False
        conns = self._conns[chosen]
        proto, _ = conns.popleft()
        if not conns:
            del self._conns[chosen]
        proto.close()
        return True

    async def _wrap_create_connection(self, *args: Any, **kwargs: Any) -> Any:
        """Times the TCP connect and the TLS handshake apart: aiohttp connects the socket, then
        hands it to ``loop.create_connection``, which calls the protocol factory (its first
        argument) before the handshake."""
        clock = CURRENT.get()
        if clock is None or not args:
            return await super()._wrap_create_connection(*args, **kwargs)
        started = time.perf_counter()
        connected: list[float] = []
        factory = args[0]

        def timed_factory() -> Any:
            connected.append(time.perf_counter())
            return factory()

        try:
            result = await super()._wrap_create_connection(timed_factory, *args[1:], **kwargs)
        finally:  # connected, even when the handshake then fails (as on the httpx backend)
            if connected:
                clock.connect_ms = since(started, connected[0])
        if connected and kwargs.get("ssl"):
            clock.tls_ms = since(connected[0])
        return result

    async def _create_connection(self, req: Any, traces: Any, timeout: Any) -> Any:
        # The new connection's placeholder is already in _acquired.
        closed = False
        while len(self._acquired) + self._idle_total() > self.limit and self._close_least_useful_idle():
            closed = True
        if closed:
            await asyncio.sleep(0)  # let the transport really close its socket before we open one
        if req.proxy is None:
            return await super()._create_connection(req, traces, timeout)
        token = _CONNECT_READ_TIMEOUT.set(timeout.sock_read)
        try:
            return await super()._create_connection(req, traces, timeout)
        except aex.SocketTimeoutError as exc:  # the read timeout: only the CONNECT's answer is read here
            raise ProxyStepFailed("silent") from exc
        except NOT_THE_PROXYS:
            raise
        except aex.ClientHttpProxyError as exc:
            raise ProxyStepFailed("refused", exc.status, exc.message) from exc
        except (aex.ClientError, OSError) as exc:
            if out_of_files(exc):
                raise
            # Connecting to the proxy (or looking its name up), else its answer to the CONNECT.
            raise ProxyStepFailed("connect" if isinstance(exc, aex.ClientConnectorError) else "unanswered") from exc
        finally:
            _CONNECT_READ_TIMEOUT.reset(token)

    def _release(self, key: Any, protocol: Any, *, should_close: bool = False) -> None:
        super()._release(key, protocol, should_close=should_close)
        # Open connections never exceed the limit, so idle ones can only exceed a smaller
        # max_idle: only then is the count (a walk over the hosts) needed on this hot path.
        if self._max_idle < self.limit:
            while self._idle_total() > self._max_idle and self._close_least_useful_idle():
                pass


class PooledLookups:
    """What aiohttp's ``ThreadedResolver`` needs of a loop, run on our own thread pool: the
    event loop's default pool (or uvloop's, 4 threads) would queue lookups of many distinct
    hosts behind each other."""

    def __init__(self, executor: ThreadPoolExecutor) -> None:
        self._executor = executor

    async def getaddrinfo(
        self, host: str, port: int, *, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> Any:
        lookup = functools.partial(socket.getaddrinfo, host, port, family, type, proto, flags)
        started = time.perf_counter()
        found = await asyncio.get_running_loop().run_in_executor(self._executor, lookup)
        clock = CURRENT.get()  # the request that asked first (aiohttp shares a lookup in progress)
        if clock is not None:
            clock.dns_ms = since(started)
        return found

    async def getnameinfo(self, sockaddr: Any, flags: int = 0) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, socket.getnameinfo, sockaddr, flags)
