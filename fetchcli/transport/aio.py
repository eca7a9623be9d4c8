"""The default wire (``contract.py``): requests sent with aiohttp, whose HTTP parser is written
in C, called directly: no httpx object per request (``httpxwire.WireTransport`` puts an httpx
face on it for ``build_client``'s clients).

Why: fetchcli's CPU per request was nearly all httpcore and h11 (pure Python), then httpx's
objects around aiohttp (see docs/performance.md).

What is mapped, and how:
- ``--max-connections``: a hard bound on open connections. aiohttp's own ``limit`` counts only
  connections in use, and keeps idle ones beyond it; ``BoundedConnector`` (``aioconnector.py``)
  closes the least useful idle connection (``hints.least_needed``) before opening one that would
  exceed the bound.
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
  aiohttp's, so records do not depend on the backend (``aiofailures.py``).
- Not mapped: HTTP/2 and SOCKS proxies. ``client.py`` uses the sharded httpx pool for those.

Here: the wire itself (``AiohttpWire``: its session, the request slots, the send). Its parts:
``aioconnector.py`` (the connector, its connections' protocol, name lookups), ``aioresponse.py``
(the response and its body stream), ``aiofailures.py`` (exception mapping) and ``aiodirect.py``
(the short way past the session).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiohttp
from aiohttp.resolver import ThreadedResolver
from yarl import URL

from fetchcli.errors import PoolTimedOut
from fetchcli.redact import mask_credentials
from fetchcli.settings import SettingProblem, Settings
from fetchcli.transport.addressmap import AddressMap
from fetchcli.transport.aioconnector import BoundedConnector, PooledLookups
from fetchcli.transport.aiodirect import SKIP_AUTO_HEADERS, direct_api_missing, send_direct
from fetchcli.transport.aiofailures import MAPPED_FAILURES, ProxyStepFailed, own_failure
from fetchcli.transport.aioresponse import AiohttpStream, PeerResponse
from fetchcli.transport.contract import Timeouts, WireHeaders, WireRequest, WireResponse
from fetchcli.transport.headers import default_headers, one_spelling, proxy_ways, spellings_vary
from fetchcli.transport.hints import waited
from fetchcli.transport.proxies import ProxyWay, proxy_route
from fetchcli.transport.slots import Slots
from fetchcli.transport.sslcontext import ssl_context
from fetchcli.transport.wireurl import WireURL

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
            resolver=ThreadedResolver(loop=PooledLookups(self._resolver_pool)),  # type: ignore[arg-type]
        )
        self._connectors.append(connector)
        session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            response_class=PeerResponse,
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
                        PeerResponse,
                        request.method.upper(),
                        target,
                        headers,
                        self._client_timeout(timeouts),
                        loop=self._loop,
                    )
                else:
                    response = await self._through_session(request, target, headers, proxy, proxy_headers)
            except MAPPED_FAILURES as exc:
                translated = own_failure(exc)
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
        except ProxyStepFailed as exc:
            assert proxy is not None
            raise exc.as_own(mask_credentials(proxy)) from exc

    def _response(self, url: WireURL, response: aiohttp.ClientResponse) -> WireResponse:
        version = response.version
        assert isinstance(response, PeerResponse)  # the session's response_class
        return WireResponse(
            url,
            response.status,
            (response.reason or "").encode("latin-1", "replace").decode("ascii", "ignore"),
            f"HTTP/{version.major}.{version.minor}" if version else "HTTP/1.1",
            WireHeaders(list(response.raw_headers)),
            AiohttpStream(response, self._slots),
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
