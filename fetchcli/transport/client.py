"""Where ``Settings`` become an ``httpx.AsyncClient`` (``build_client``): limits, timeouts,
headers, TLS, HTTP/2, proxy, and the pool strategy (see ``pool.py`` for why it is sharded). A
run's wire is chosen in ``wires.py``, which imports this module only for the httpx backend."""

from __future__ import annotations

import http.cookiejar
from collections.abc import Callable
from typing import Any

import httpx

from fetchcli.settings import Settings
from fetchcli.transport.addressmap import AddressMap
from fetchcli.transport.backendchoice import uses_aiohttp
from fetchcli.transport.headers import headers_of, proxy_ways
from fetchcli.transport.httpxwire import OWN_ADDRESSES, OWN_TRANSPORT, WireTransport
from fetchcli.transport.pool import ShardedPoolTransport
from fetchcli.transport.proxies import ProxyRoute, proxy_route
from fetchcli.transport.sslcontext import ssl_context


# Only encodings whose decompression fetchcli can bound (see snippet.py); httpx would also
# offer br and zstd when their packages happen to be installed.
def timeout_of(settings: Settings) -> httpx.Timeout:
    t = settings.timeouts
    return httpx.Timeout(connect=t.phase(t.connect), read=t.phase(t.read), write=t.phase(t.write), pool=t.phase(t.pool))


def sharded_transport(settings: Settings) -> ShardedPoolTransport:
    """One one-connection transport (``coretransport.py``) per allowed connection, created on first use."""
    req, pool = settings.request, settings.pool

    # Built once, up front: loading the CA bundle takes tens of milliseconds, which would
    # otherwise land in the first URL's elapsed_ms.
    context = ssl_context(req)

    shard_limits = httpx.Limits(max_connections=1, max_keepalive_connections=1, keepalive_expiry=pool.keepalive_expiry)
    import httpcore  # here: it imports h11 and h2, which the aiohttp backend does not need

    from fetchcli.transport.coretransport import core_transport
    from fetchcli.transport.netbackend import TimedBackend

    # One name cache for every shard; --resolve and --connect-to.
    network = TimedBackend(httpcore.AnyIOBackend(), AddressMap.for_request(req))

    ways = proxy_ways(req)

    def make_transport(proxy_url: str | None) -> httpx.AsyncBaseTransport:
        proxy: httpx.Proxy | str | None = proxy_url
        shown = proxy_url
        if proxy_url is not None and proxy_url.startswith("http"):
            # An https:// proxy is verified like the servers: with the same context, so -k covers it too.
            way = ways[proxy_url]
            https = way.url.startswith("https://")
            proxy = httpx.Proxy(way.url, ssl_context=context if https else None, headers=way.headers)
            shown = way.url  # as the aiohttp backend names it
        # httpx's own transport, over a pool given the network backend (tests/test_timing.py
        # needs its phases on this backend).
        return core_transport(
            context, http2=req.http2, limits=shard_limits, proxy=proxy, network_backend=network, proxy_shown=shown
        )

    route = proxy_route(req)
    if route is None:
        only = req.proxies[0] if req.proxies else None

        def make_shard() -> httpx.AsyncBaseTransport:
            return make_transport(only)
    else:

        def make_shard() -> httpx.AsyncBaseTransport:
            return _ProxyRoutedShard(route, make_transport)

    return ShardedPoolTransport(
        make_shard,
        max_connections=pool.max_connections,
        max_keepalive=pool.effective_max_keepalive,
        pool_timeout=settings.timeouts.phase(settings.timeouts.pool),
        multiplex=req.http2,
    )


class _ProxyRoutedShard(httpx.AsyncBaseTransport):
    """A one-connection shard whose requests may take different ways (a proxy, another proxy, or
    direct, by ``NO_PROXY`` and scheme): one httpx transport at a time, replaced (and closed)
    when a request needs another way, so the shard still holds at most one connection."""

    def __init__(self, route: ProxyRoute, make: Callable[[str | None], httpx.AsyncBaseTransport]) -> None:
        self._route = route
        self._make = make
        self._way: str | None = None
        self._transport: httpx.AsyncBaseTransport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        way = self._route(request.url)
        if self._transport is None or way != self._way:
            if self._transport is not None:
                await self._transport.aclose()
            self._transport, self._way = self._make(way), way
        return await self._transport.handle_async_request(request)

    async def aclose(self) -> None:
        if self._transport is not None:
            await self._transport.aclose()
            self._transport = None


class _NoCookieJar(http.cookiejar.CookieJar):
    """URLs are independent probes, as with curl (no cookie engine unless asked): the client's
    cookie jar (handed to httpx through its public ``cookies=``) keeps no cookie, so none is
    sent with another request and a long run holds none. The guarantee itself does not rest on
    it: each redirect fetchcli follows drops ``Cookie`` (``request._exchange``)."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None

    def set_cookie(self, cookie: http.cookiejar.Cookie) -> None:
        return None


def aiohttp_transport(settings: Settings) -> WireTransport:
    """The default backend as an httpx transport (for ``build_client``'s clients)."""
    from fetchcli.transport.lightimport import import_aiohttp

    import_aiohttp()  # before fetchcli.transport.aio imports it: without aiohttp's unused CA-bundle loads
    from fetchcli.transport.aio import wire_for

    return WireTransport(wire_for(settings))


def default_transport(settings: Settings) -> httpx.AsyncBaseTransport:
    """The transport ``--backend`` asks for (see ``Backend``)."""
    return aiohttp_transport(settings) if uses_aiohttp(settings) else sharded_transport(settings)


def build_client(settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """The shared client for a run. Tests pass ``transport=`` (e.g. ``httpx.MockTransport``)."""
    client = httpx.AsyncClient(
        transport=transport if transport is not None else default_transport(settings),
        timeout=timeout_of(settings),
        headers=headers_of(settings),
        follow_redirects=False,  # the engine follows redirects itself, reading each body only up to the cap
        trust_env=False,
        cookies=_NoCookieJar(),
    )
    OWN_TRANSPORT[client] = client._transport
    if transport is None:  # fetchcli's own: it connects by the settings' --resolve, -4/-6...
        OWN_ADDRESSES[client] = AddressMap.for_request(settings.request)
    return client
