"""The one place where ``Settings`` become an ``httpx.AsyncClient``: limits, timeouts,
headers, TLS, HTTP/2, proxy, and the pool strategy (see ``pool.py`` for why it is sharded)."""

from __future__ import annotations

import http.cookiejar
import re
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

from fetchcli.errors import InvalidRedirect, UnsupportedRedirect
from fetchcli.redact import mask_input
from fetchcli.settings import RequestSettings, Settings
from fetchcli.transport.backendchoice import uses_aiohttp
from fetchcli.transport.headers import headers_of, proxy_ways
from fetchcli.transport.hints import BAD_LOCATION
from fetchcli.transport.pool import ShardedPoolTransport
from fetchcli.transport.proxies import proxy_for
from fetchcli.transport.sslcontext import ssl_context
from fetchcli.urls import SUPPORTED_SCHEMES, normalise_url

if TYPE_CHECKING:  # imported when used: aiohttp is a start-up cost (lightimport.py)
    from fetchcli.transport.aio import AiohttpTransport


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

    network = TimedBackend(httpcore.AnyIOBackend())  # one name cache for every shard

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


ProxyRoute = Callable[[httpx.URL], "str | None"]


def proxy_route(req: RequestSettings) -> ProxyRoute | None:
    """How to pick each request's proxy, or None when every request takes the same way (no
    proxy, or one proxy and no exceptions)."""
    if not req.proxies or (req.proxy is not None and not req.no_proxy):
        return None

    def route(url: httpx.URL) -> str | None:
        return proxy_for(url.scheme, url.host, req.proxy, req.proxy_by_scheme, req.no_proxy)

    return route


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


def aiohttp_transport(settings: Settings) -> AiohttpTransport:
    from fetchcli.transport.lightimport import import_aiohttp

    import_aiohttp()  # before fetchcli.transport.aio imports it: without aiohttp's unused CA-bundle loads
    from fetchcli.transport.aio import AiohttpTransport

    pool = settings.pool
    return AiohttpTransport(
        ssl_context=ssl_context(settings.request),
        max_connections=pool.max_connections,
        max_keepalive=pool.effective_max_keepalive,
        keepalive_expiry=pool.keepalive_expiry,
        proxy=settings.request.proxy,
        proxy_route=proxy_route(settings.request),
        proxy_ways=proxy_ways(settings.request),
        resolver_threads=settings.resolver_threads,
    )


def default_transport(settings: Settings) -> httpx.AsyncBaseTransport:
    """The transport ``--backend`` asks for (see ``Backend``)."""
    return aiohttp_transport(settings) if uses_aiohttp(settings) else sharded_transport(settings)


def _port_or_default(url: httpx.URL) -> int | None:
    return url.port if url.port is not None else {"http": 80, "https": 443}.get(url.scheme)


def leaves_origin(url: httpx.URL, location: httpx.URL) -> bool:
    """Whether a redirect leaves the origin as httpx decides it when it drops Authorization
    (fetchcli drops the other secret headers with it): another scheme, host or port, except an
    upgrade of the same host from http:80 to https:443."""
    if url.host != location.host:
        return True
    if url.scheme == location.scheme:
        return _port_or_default(url) != _port_or_default(location)
    upgrade = (url.scheme, _port_or_default(url), location.scheme, _port_or_default(location))
    return upgrade != ("http", 80, "https", 443)


_SCHEME_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_PATH_START = re.compile(r"[/?#]")
_NOT_FOLLOWED_BACKSLASH = (
    "Location has a '\\' before its path, which browsers read as '/' (another host) and other clients"
    " do not: not followed"
)


def _authority_problem(location: str) -> str | None:
    """What is wrong with the authority of ``location`` (one of http or https, or relative to
    one: read as the WHATWG URL standard reads such URLs), or None. A '\\' among the slashes that
    start it or before its path is read as '/' by browsers (``http:\\\\h/``, ``/\\h``,
    ``http://u:p@h2\\@h1/`` go to ``h``, ``h``, ``h2``) but not by httpx, so where a redirect goes
    and who is sent its credentials would depend on the client: it is refused, as curl refuses
    it. An authority without a host (``http:///x``, ``//``) is refused too: httpx would take the
    request's host, or re-request the same URL."""
    prefix = _SCHEME_PREFIX.match(location)
    rest = location[prefix.end() :] if prefix is not None else location
    if len(rest) < 2 or rest[0] not in "/\\" or rest[1] not in "/\\":
        return None  # no authority: a path ("http:/path" keeps the request's host, as httpx does)
    authority = _PATH_START.split(rest[2:], maxsplit=1)[0]
    if "\\" in rest[:2] or "\\" in authority:
        return _NOT_FOLLOWED_BACKSLASH
    hostport = authority.rpartition("@")[2]
    host = hostport.partition("]")[0] if hostport.startswith("[") else hostport.partition(":")[0]
    if not host.strip("["):
        return f"redirect to a URL with no host: {mask_input(location)!r}"
    return None


def redirect_problem(base: httpx.URL, location: str) -> InvalidRedirect | UnsupportedRedirect | None:
    """Why ``-L`` cannot follow ``location`` from ``base``, as an exception to raise, or None when
    it can: the URL it leads to (worked out as httpx does) must be one fetchcli would accept as
    input (``urls.normalise_url``): http or https, a valid host and a port of 1-65535; its
    authority must mean the same to every client (``_authority_problem``). A message quotes the
    Location masked (``redact.mask_input``): it may hold credentials."""
    try:
        target = httpx.URL(location)
    except httpx.InvalidURL:
        return InvalidRedirect(f"Location is not a URL: {mask_input(location)!r}")
    scheme = target.scheme
    if scheme and scheme not in SUPPORTED_SCHEMES:
        return UnsupportedRedirect(f"redirect to unsupported URL scheme {scheme!r}")
    problem = _authority_problem(location)
    if problem is not None:
        return InvalidRedirect(problem)
    try:
        if scheme and not target.host:  # "http:/path": httpx takes the host of the request
            target = target.copy_with(host=base.host)
        elif target.is_relative_url:
            target = base.join(target)
    except httpx.InvalidURL:
        return InvalidRedirect(f"Location is not a URL: {mask_input(location)!r}")
    error = normalise_url(str(target), 0).error
    if error is not None:
        return InvalidRedirect(f"redirect to an invalid URL: {error.message}")
    return None


async def _set_aside_a_bad_location(response: httpx.Response) -> None:
    """httpx works out a redirect's next request even when it will not follow it, and fails the
    whole exchange (as a fault of its own) when ``Location`` is not a URL it can request. A 302
    with a bad ``Location`` is still a 302: the header is set aside here (as the exception to
    raise, in the response's extensions), and ``-L`` reports it as ``InvalidRedirect`` or
    ``UnsupportedRedirect``."""
    if 300 <= response.status_code < 400 and "location" in response.headers:
        problem = redirect_problem(response.request.url, response.headers["location"])
        if problem is not None:
            response.extensions[BAD_LOCATION] = problem
            del response.headers["location"]


def build_client(settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """The shared client for a run. Tests pass ``transport=`` (e.g. ``httpx.MockTransport``)."""
    client = httpx.AsyncClient(
        transport=transport if transport is not None else default_transport(settings),
        timeout=timeout_of(settings),
        headers=headers_of(settings),
        follow_redirects=False,  # the engine follows redirects itself, reading each body only up to the cap
        trust_env=False,
        event_hooks={"response": [_set_aside_a_bad_location]},
        cookies=_NoCookieJar(),
    )
    OWN_TRANSPORT[client] = client._transport
    return client


# The transport of each client build_client made: request.send sends through it directly
# when nothing of AsyncClient.send's is needed (a client the caller made is always sent through).
OWN_TRANSPORT: weakref.WeakKeyDictionary[httpx.AsyncClient, httpx.AsyncBaseTransport] = weakref.WeakKeyDictionary()
