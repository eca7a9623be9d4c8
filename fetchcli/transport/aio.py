"""The default wire (``contract.py``): requests sent with aiohttp, whose HTTP parser is written
in C, called directly: no httpx object per request (``httpxwire.WireTransport`` puts an httpx
face on it for ``build_client``'s clients).

Why: fetchcli's CPU per request was nearly all httpcore and h11 (pure Python), then httpx's
objects around aiohttp (see docs/performance.md).

What is mapped, and how:
- ``--max-connections``: a hard bound on open connections. aiohttp's own ``limit`` counts only
  connections in use, and keeps idle ones beyond it; ``BoundedConnector`` closes the least
  useful idle connection (``admission.py``) before opening one that would exceed the bound.
- ``--max-keepalive``: at most that many idle connections; one more is closed on release.
- ``--keepalive-expiry``: aiohttp's ``keepalive_timeout``.
- ``--pool-timeout``: waiting for one of the ``max_connections`` request slots (HTTP/1.1 runs
  one request per connection, so a slot is a connection); ``PoolTimeout`` when it runs out.
- ``--connect-timeout``: ``sock_connect`` (TCP and TLS); ``--read-timeout``: ``sock_read``, each
  wait for data. ``--write-timeout``: aiohttp has none; fetchcli sends no request body, so a
  write is a few hundred bytes of headers that never waits for the socket; ``--max-time`` still
  bounds everything.
- aiohttp's exceptions become fetchcli's own (``errors.TransportFailure``: ``ConnectFailed``,
  ``ConnectTimedOut``, ``ReadTimedOut``, ``ProtocolBroken``, ``ReadFailed``...), each raised from
  aiohttp's, so records do not depend on the backend.
- Not mapped: HTTP/2 and SOCKS proxies. ``client.py`` uses the sharded httpx pool for those.
"""

from __future__ import annotations

import asyncio
import functools
import re
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from typing import Any

import aiohttp
from aiohttp import client_exceptions as aex
from aiohttp.client_proto import ResponseHandler
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.resolver import ThreadedResolver
from yarl import URL

from fetchcli.errors import (
    ConnectFailed,
    ConnectTimedOut,
    PoolTimedOut,
    ProtocolBroken,
    ProxyFailed,
    ReadFailed,
    ReadTimedOut,
    TransportFailure,
    out_of_files,
    proxy_refused,
    proxy_silent,
    proxy_unanswered,
    proxy_unreachable,
)
from fetchcli.redact import mask_credentials
from fetchcli.settings import SettingProblem, Settings
from fetchcli.transport.addressmap import AddressMap
from fetchcli.transport.aiodirect import SKIP_AUTO_HEADERS, direct_api_missing, send_direct
from fetchcli.transport.contract import Timeouts, WireHeaders, WireRequest, WireResponse
from fetchcli.transport.headers import default_headers, one_spelling, proxy_ways, spellings_vary
from fetchcli.transport.hints import CURRENT, DEMAND, PhaseClock, least_needed, since, waited
from fetchcli.transport.protocol import InformationalBudget, chunk_size_too_large, is_informational
from fetchcli.transport.proxies import ProxyWay, proxy_route
from fetchcli.transport.slots import Slots
from fetchcli.transport.sslcontext import ssl_context
from fetchcli.transport.wireurl import WireURL

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
        self._factory = factory  # type: ignore[assignment]  # see require_private_api

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
            raise _ProxyFailed("silent") from exc
        except _NOT_THE_PROXYS:
            raise
        except aex.ClientHttpProxyError as exc:
            raise _ProxyFailed("refused", exc.status, exc.message) from exc
        except (aex.ClientError, OSError) as exc:
            if out_of_files(exc):
                raise
            # Connecting to the proxy (or looking its name up), else its answer to the CONNECT.
            raise _ProxyFailed("connect" if isinstance(exc, aex.ClientConnectorError) else "unanswered") from exc
        finally:
            _CONNECT_READ_TIMEOUT.reset(token)

    def _release(self, key: Any, protocol: Any, *, should_close: bool = False) -> None:
        super()._release(key, protocol, should_close=should_close)
        # Open connections never exceed the limit, so idle ones can only exceed a smaller
        # max_idle: only then is the count (a walk over the hosts) needed on this hot path.
        if self._max_idle < self.limit:
            while self._idle_total() > self._max_idle and self._close_least_useful_idle():
                pass


# While a connection through a proxy is made (connecting to the proxy, the CONNECT, then the TLS
# handshake with the server through the tunnel): what is not the proxy's failure. Timeouts keep
# their types; a TLS failure is the server's (aiohttp takes http:// proxies only).
_NOT_THE_PROXYS = (
    asyncio.TimeoutError,
    aex.ServerTimeoutError,
    aex.ClientConnectorCertificateError,
    aex.ClientConnectorSSLError,
)


class _ProxyFailed(aex.ClientConnectionError):
    """Reaching or talking to the proxy failed (``step``: ``connect``, ``refused`` with the
    CONNECT's status and reason, ``unanswered``, or ``silent``: no answer within the read
    timeout); ``as_own`` words it (errors.py) as the httpx backend does, with the proxy named
    as the transport knows it. (Raised as a ClientError that is no TimeoutError, so that aiohttp
    does not make a read timeout a connection timeout.)"""

    def __init__(self, step: str, status: int = 0, reason: str = "") -> None:
        super().__init__(step)
        self.step, self.status, self.reason = step, status, reason

    def as_own(self, proxy: str) -> TransportFailure:
        if self.step == "silent":
            return ReadTimedOut(proxy_silent(proxy))
        if self.step == "refused":
            message = proxy_refused(proxy, self.status, self.reason)
        elif self.step == "connect" and self.__cause__ is not None:
            message = proxy_unreachable(proxy, self.__cause__)
        else:
            message = proxy_unanswered(proxy)
        return ProxyFailed(message)


_EXCEPTIONS: tuple[tuple[type[BaseException], type[TransportFailure]], ...] = (
    # Most specific first.
    (aex.ConnectionTimeoutError, ConnectTimedOut),
    (aex.SocketTimeoutError, ReadTimedOut),
    (aex.ClientProxyConnectionError, ProxyFailed),
    (aex.ClientHttpProxyError, ProxyFailed),
    (aex.ClientConnectorError, ConnectFailed),
    (aex.ServerDisconnectedError, ProtocolBroken),
    (aex.ClientPayloadError, ProtocolBroken),
    (aex.ClientResponseError, ProtocolBroken),
    (aex.ClientOSError, ReadFailed),
    (aex.ClientConnectionError, ReadFailed),
    (aex.ClientError, TransportFailure),
    (asyncio.TimeoutError, ReadTimedOut),
)


_SHOWN_BYTES = re.compile(r"b'([0-9A-Fa-f]+)")
_LINE_END = re.compile(r"\n|\\n")  # a newline, or one written as backslash-n (a repr)


def _words(exc: BaseException) -> str:
    """What aiohttp says of ``exc``, in one line: of a parser error (llhttp's, in a
    ``ClientResponseError`` or a ``ClientPayloadError``) its words and the bytes it quotes, not
    the caret drawn below them nor ``400, message=..., url=...``; a chunk size too large in the
    words of the httpx backend."""
    if isinstance(exc, aex.ClientResponseError):
        text = str(exc.message)
    else:
        text = str(exc) or str(getattr(exc, "message", "") or "")
    if not isinstance(exc, (aex.ClientResponseError, aex.ClientPayloadError)):
        return text
    if "chunk size overflow" in text.lower():
        found = _SHOWN_BYTES.search(text)
        return chunk_size_too_large(found.group(1) if found else "")
    lines = [line.strip() for line in _LINE_END.split(text)]
    return " ".join(line for line in lines if line.strip("^~ "))  # not the caret line under the bytes


def _translate(exc: BaseException) -> TransportFailure | None:
    for source, target in _EXCEPTIONS:
        if isinstance(exc, source):
            return target(_words(exc))
    return None


# What is raised as one of fetchcli's own failures (_translate), caught where it can come from:
# an except clause of its own, not a context manager (contextlib's cost 1.8 us, twice a request).
_MAPPED = (aex.ClientError, asyncio.TimeoutError)


class _PeerResponse(aiohttp.ClientResponse):
    """Remembers the address its connection went to and its TLS object, read when the response
    starts (a small body is read whole at once, and its connection released before the caller
    could ask)."""

    peer: Any = None
    ssl_object: Any = None

    async def start(self, connection: Any) -> Any:
        transport = connection.transport
        if transport is not None:
            self.peer = transport.get_extra_info("peername")
            self.ssl_object = transport.get_extra_info("ssl_object")
        protocol = connection.protocol
        if protocol is None:
            return await super().start(connection)
        # aiohttp's start() reads messages from the connection's protocol, skipping informational
        # ones without a limit: bounded here, as on the httpx backend (protocol.py).
        protocol.read = _bounded_informational(protocol.read)
        try:
            return await super().start(connection)
        finally:
            del protocol.read


def _bounded_informational(read: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[Any]]:
    budget = InformationalBudget()

    async def bounded_read() -> Any:
        message, payload = await read()
        if is_informational(message.code):
            # Its size as it came: the status line and the headers, each with its CRLF, and the
            # blank line (what the httpx backend counts).
            size = 17 + len(message.reason) + sum(len(k) + len(v) + 4 for k, v in message.raw_headers)
            problem = budget.spend(size)
            if problem is not None:
                raise ProtocolBroken(problem)
        return message, payload

    return bounded_read


class _AiohttpStream:
    __slots__ = ("_complete", "_done", "_response", "_slot")

    def __init__(self, response: aiohttp.ClientResponse, slot: asyncio.Semaphore) -> None:
        self._response = response
        self._slot = slot
        self._complete = False
        self._done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except _MAPPED as exc:
            translated = _translate(exc)
            if translated is None:  # pragma: no cover - ClientError is in the table
                raise
            raise translated from exc
        self._complete = True

    async def aclose(self) -> None:
        if self._done:
            return
        self._done = True
        try:
            if self._complete:
                self._response.release()  # back to the pool for reuse
            else:
                self._response.close()  # not read to its end: the connection cannot be reused
        finally:
            self._slot.release()


class _PooledLookups:
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


# aiohttp's private attributes fetchcli writes (no public route exists): checked when a
# transport is made, so that an aiohttp that renamed one is a clear error, not silence.
_PRIVATE_WRITES = ("_retry_connection",)
# And the connector's (BoundedConnector): ``_factory``, which BaseConnector.__init__ sets to make
# each connection's protocol, and ``_get``, the method that hands out a kept-alive connection.


def require_private_api() -> None:
    """Raise ``SettingProblem`` about ``backend`` (a one-line usage error) when the installed aiohttp lacks one of
    the private attributes fetchcli writes; ``ClientSession.ATTRS`` lists its attributes, and the
    connector's are its ``_get`` method and the ``_factory`` its ``__init__`` sets."""
    attributes: frozenset[str] = getattr(aiohttp.ClientSession, "ATTRS", frozenset())
    missing = [f"ClientSession.{name}" for name in _PRIVATE_WRITES if name not in attributes]
    connector = aiohttp.BaseConnector
    if not callable(getattr(connector, "_get", None)):
        missing.append("BaseConnector._get")
    if not callable(getattr(aiohttp.TCPConnector, "_resolve_host", None)):
        missing.append("TCPConnector._resolve_host")
    if "_factory" not in getattr(getattr(connector.__init__, "__code__", None), "co_names", ()):
        missing.append("BaseConnector._factory")
    direct = direct_api_missing()
    if direct is not None:
        missing.append(direct)
    if missing:
        raise SettingProblem(
            "backend",
            f"aiohttp {aiohttp.__version__} has no {missing[0]}, which fetchcli needs to send each request"
            " as it counts it: use --backend httpx, or the aiohttp version fetchcli was tested with",
        )


class AiohttpWire:
    """The wire of the default backend (``contract.Wire``): ``default_headers`` and ``timeouts``
    are every request's (``client.aiohttp_wire`` sets them from the run's settings)."""

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext,
        max_connections: int,
        max_keepalive: int,
        keepalive_expiry: float,
        default_headers: tuple[tuple[str, str], ...] = (),
        timeouts: Timeouts | None = None,
        proxy: str | None = None,
        proxy_route: Callable[[Any], str | None] | None = None,
        proxy_ways: Mapping[str, ProxyWay] | None = None,
        resolver_threads: int = 32,
        address_map: AddressMap | None = None,
    ) -> None:
        require_private_api()
        self._address_map = address_map
        self.default_headers = default_headers
        # A name repeated in another case loses values in aiohttp: respelled (headers.one_spelling).
        self._respell = spellings_vary(default_headers)
        self.timeouts = timeouts if timeouts is not None else Timeouts()
        self._client_timeouts: dict[Timeouts, aiohttp.ClientTimeout] = {}
        self._resolver_pool = ThreadPoolExecutor(max_workers=resolver_threads, thread_name_prefix="fetchcli-dns")
        self._ssl = ssl_context
        self._limits = (max_connections, max_keepalive, keepalive_expiry)
        self._proxy = proxy
        self._proxy_route = proxy_route  # per request, when requests take different ways
        # Each proxy without its credentials, which only the proxy is told (headers.proxy_ways).
        self._ways = dict(proxy_ways or {})
        self._slots = Slots(max_connections)
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the session's, asked once (aiodirect.py)
        self._connectors: list[BoundedConnector] = []  # each session's (one at a time)
        self.direct_sends = 0  # requests sent the short way (aiodirect.py; counted by a guard test)

    @property
    def idle_walks(self) -> int:
        """How often the connection pools walked their idle connections (to open or put back a
        connection beyond the limits): never once per request (tests/test_perf_guards.py)."""
        return sum(connector.idle_walks for connector in self._connectors)

    def _open_session(self) -> aiohttp.ClientSession:
        max_connections, max_keepalive, keepalive_expiry = self._limits
        connector = BoundedConnector(
            limit=max_connections,
            limit_per_host=0,
            max_idle=max_keepalive,
            address_map=self._address_map,
            family=self._address_map.socket_family if self._address_map is not None else 0,
            keepalive_timeout=keepalive_expiry if keepalive_expiry > 0 else None,
            ssl=self._ssl,
            enable_cleanup_closed=False,
            resolver=ThreadedResolver(loop=_PooledLookups(self._resolver_pool)),  # type: ignore[arg-type]
        )
        self._connectors.append(connector)
        session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            response_class=_PeerResponse,
            auto_decompress=False,  # fetchcli inflates itself, with a bound (snippet.py)
            trust_env=False,
            # The request carries its own headers; and no Content-Type: application/octet-stream on
            # a POST, PUT or PATCH without a body (aiohttp adds one; httpx does not).
            skip_auto_headers=SKIP_AUTO_HEADERS,
            timeout=aiohttp.ClientTimeout(total=None),
        )
        # aiohttp silently sends an idempotent request again when a connection fails (kept-alive
        # or new, and on whichever connection comes next); fetchcli resends such a request itself,
        # by one rule on both backends (request._exchange: once, on a new connection, only when a
        # kept-alive connection failed before any answer), so that `attempts` counts what the
        # server saw. No public switch for this: the attribute is checked when the transport is
        # made (require_private_api), and tests/test_trust_protocol.py counts the requests the
        # server receives.
        session._retry_connection = False
        return session

    async def _acquire_slot(self, pool_timeout: float | None) -> None:
        if not self._slots.locked():
            await self._slots.acquire()
            return
        started = time.perf_counter()
        got = False
        try:
            await asyncio.wait_for(self._slots.acquire(), pool_timeout)
            got = True
        except asyncio.TimeoutError:
            raise PoolTimedOut("timed out waiting for a free connection in the pool") from None
        finally:
            waited(started, got)  # the record's queued_ms (or elapsed_ms, after the first request)

    def _client_timeout(self, timeouts: Timeouts) -> aiohttp.ClientTimeout:
        made = self._client_timeouts.get(timeouts)
        if made is None:
            made = aiohttp.ClientTimeout(total=None, sock_connect=timeouts.connect, sock_read=timeouts.read)
            if len(self._client_timeouts) < 64:
                self._client_timeouts[timeouts] = made
        return made

    async def send(self, request: WireRequest) -> WireResponse:
        if self._session is None:
            self._session = self._open_session()
            self._loop = asyncio.get_running_loop()
        timeouts = request.timeouts
        await self._acquire_slot(timeouts.pool)
        try:
            try:
                url = request.url
                headers = one_spelling(request.headers) if self._respell else list(request.headers)
                proxy = self._proxy_route(url) if self._proxy_route is not None else self._proxy
                proxy_headers = None
                if proxy is not None:
                    way = self._ways.get(proxy) or ProxyWay(proxy)
                    proxy, proxy_headers = way.url, way.headers
                    if way.authorization is not None and url.scheme == "http":  # sent to the proxy whole
                        headers.append(("Proxy-Authorization", way.authorization))
                target = URL(f"{url.scheme}://{url.netloc}{url.target}", encoded=True)
                if proxy is None and not request.body:  # the short way (aiodirect.py)
                    self.direct_sends += 1
                    response = await send_direct(
                        self._session,
                        self._connectors[-1],
                        _PeerResponse,
                        request.method.upper(),
                        target,
                        headers,
                        self._client_timeout(timeouts),
                        loop=self._loop,
                    )
                else:
                    response = await self._through_session(request, target, headers, proxy, proxy_headers)
            except _MAPPED as exc:
                translated = _translate(exc)
                if translated is None:  # pragma: no cover - ClientError is in the table
                    raise
                raise translated from exc
        except BaseException:
            self._slots.release()
            raise
        return self._response(url, response)

    async def _through_session(
        self,
        request: WireRequest,
        target: URL,
        headers: list[tuple[str, str]],
        proxy: str | None,
        proxy_headers: Any,
    ) -> aiohttp.ClientResponse:
        """A request with a body or through a proxy: sent by ``ClientSession.request``."""
        assert self._session is not None
        try:
            return await self._session.request(
                request.method,
                # Without the credentials (the request carries them as Authorization)
                # and the fragment (never sent).
                target,
                headers=headers,
                data=request.body or None,
                allow_redirects=False,
                proxy=proxy,
                proxy_headers=proxy_headers,  # on a CONNECT
                timeout=self._client_timeout(request.timeouts),
            )
        except _ProxyFailed as exc:
            assert proxy is not None
            raise exc.as_own(mask_credentials(proxy)) from exc

    def _response(self, url: WireURL, response: aiohttp.ClientResponse) -> WireResponse:
        version = response.version
        assert isinstance(response, _PeerResponse)  # the session's response_class
        return WireResponse(
            url,
            response.status,
            (response.reason or "").encode("latin-1", "replace").decode("ascii", "ignore"),
            f"HTTP/{version.major}.{version.minor}" if version else "HTTP/1.1",
            WireHeaders(list(response.raw_headers)),
            _AiohttpStream(response, self._slots),
            response.peer,
            response.ssl_object,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        self._resolver_pool.shutdown(wait=False)


def wire_for(settings: Settings) -> AiohttpWire:
    """The run's aiohttp wire, from its settings (``wires.aiohttp_wire`` imports aiohttp first)."""
    pool, t = settings.pool, settings.timeouts
    return AiohttpWire(
        ssl_context=ssl_context(settings.request),
        max_connections=pool.max_connections,
        max_keepalive=pool.effective_max_keepalive,
        keepalive_expiry=pool.keepalive_expiry,
        default_headers=default_headers(settings),
        timeouts=Timeouts(t.phase(t.connect), t.phase(t.read), t.phase(t.write), t.phase(t.pool)),
        proxy=settings.request.proxy,
        proxy_route=proxy_route(settings.request),
        proxy_ways=proxy_ways(settings.request),
        resolver_threads=settings.resolver_threads,
        address_map=AddressMap.for_request(settings.request),
    )
