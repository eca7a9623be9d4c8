"""The one place where ``Settings`` become an ``httpx.AsyncClient``: limits, timeouts,
headers, TLS, HTTP/2, proxy, and the pool strategy (see ``pool.py`` for why it is sharded)."""

from __future__ import annotations

import contextlib
import functools
import http.cookiejar
import importlib.util
import os
import re
import ssl
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

from fetchcli._version import __version__
from fetchcli.errors import InvalidRedirect, UnsupportedRedirect
from fetchcli.redact import mask_input
from fetchcli.settings import Backend, RequestSettings, SettingProblem, Settings, SettingsError, install_hint
from fetchcli.transport.hints import BAD_LOCATION
from fetchcli.transport.pool import ShardedPoolTransport
from fetchcli.transport.proxies import ProxyWay, proxy_for, proxy_way
from fetchcli.urls import SUPPORTED_SCHEMES, normalise_url

if TYPE_CHECKING:  # imported when used: aiohttp is a start-up cost (lightimport.py)
    from fetchcli.transport.aio import AiohttpTransport

# Only encodings whose decompression fetchcli can bound (see snippet.py); httpx would also
# offer br and zstd when their packages happen to be installed.
ACCEPT_ENCODING = "gzip, deflate"
DEFAULT_USER_AGENT = f"fetchcli/{__version__}"


def timeout_of(settings: Settings) -> httpx.Timeout:
    t = settings.timeouts
    return httpx.Timeout(connect=t.phase(t.connect), read=t.phase(t.read), write=t.phase(t.write), pool=t.phase(t.pool))


def headers_of(settings: Settings) -> list[tuple[bytes, bytes]]:
    """The default headers of every request: ours, replaced by any ``-H`` of the same name, then
    the ``-H`` headers but ``Proxy-Authorization``, which only a proxy is sent (``proxy_ways``).
    Values are sent as UTF-8 (names are ASCII tokens: settings checked them), as curl sends what
    it is given; httpx alone would refuse anything but ASCII."""
    req = settings.request
    headers = [("User-Agent", req.user_agent or DEFAULT_USER_AGENT), ("Accept-Encoding", ACCEPT_ENCODING)]
    given = [(name, value) for name, value in req.headers if name.lower() != "proxy-authorization"]
    overridden = {name.lower() for name, _ in given}
    headers = [(name, value) for name, value in headers if name.lower() not in overridden]
    return [(name.encode("ascii"), value.encode("utf-8")) for name, value in headers + given]


def _given(req: RequestSettings, name: str) -> str | None:
    """The value of the last ``-H`` of this name (lower case), or None."""
    found = [value for given, value in req.headers if given.lower() == name]
    return found[-1] if found else None


def proxy_ways(req: RequestSettings) -> dict[str, ProxyWay]:
    """How to reach each proxy of a run (by its URL as given): without its credentials in a URL;
    they, and the run's User-Agent, are told the proxy alone (``proxies.ProxyWay``)."""
    user_agent = _given(req, "user-agent") or req.user_agent or DEFAULT_USER_AGENT
    authorization = _given(req, "proxy-authorization")
    return {proxy: proxy_way(proxy, user_agent, authorization) for proxy in req.proxies}


def check_http2(settings: Settings) -> None:
    if settings.request.http2:
        try:
            import h2  # noqa: F401
        except ImportError:
            raise SettingProblem("request.http2", f"needs the h2 package: {install_hint('http2')}") from None


def _no_password() -> bytes:
    raise SettingProblem(
        "request.client_key", "is encrypted: fetchcli cannot ask for its password; give it an unencrypted key"
    )


_SSL_BUILDING = threading.Lock()  # one build at a time: a second caller waits for the first's


def ssl_context(req: RequestSettings) -> ssl.SSLContext:
    """The TLS context of a run, built once (loading a CA bundle takes tens of milliseconds) and
    shared by every connection and both backends. See ``_ssl_context``."""
    with _SSL_BUILDING:
        return _ssl_context(req)


def prepare_ssl_context(req: RequestSettings) -> None:
    """Build the TLS context now: in this thread when files were given for it (so that one that
    cannot be used is a usage error before anything is fetched), else in a thread of its own,
    alongside the rest of the start-up (the CA bundle loads while aiohttp is imported); whoever
    needs it first waits for it, and an error is raised to them."""
    if req.insecure or req.cacert is not None or req.capath is not None or req.client_cert is not None:
        ssl_context(req)
        return

    def build() -> None:
        with contextlib.suppress(SettingsError):  # raised again to the first that needs it
            ssl_context(req)

    # Not a daemon: a run that ends early (a usage error found meanwhile) waits for the load at
    # exit, instead of finalising the interpreter under a thread inside OpenSSL (a crash, SIGSEGV,
    # was seen in place of exit status 2).
    threading.Thread(target=build, name="fetchcli-tls", daemon=False).start()


def default_trust() -> tuple[str, str]:
    """What a run trusts without ``--cacert``/``--capath``, read as httpx reads it: (where
    that came from, the file or directory): ``SSL_CERT_FILE`` when set, else ``SSL_CERT_DIR``,
    else certifi's bundle."""
    for variable in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        if os.environ.get(variable):
            return variable, os.environ[variable]
    import certifi

    return "certifi", certifi.where()


@functools.lru_cache(maxsize=8)
def _ssl_context(req: RequestSettings) -> ssl.SSLContext:
    """The TLS context of a run, built once (loading a CA bundle takes tens of milliseconds) and
    shared by every connection and both backends. Trusts ``--cacert``/``--capath`` when given,
    else what httpx trusts (``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when set, else certifi's
    bundle); presents ``--cert``/``--key``. A file that cannot be used is a usage error."""
    try:
        if req.insecure:
            context = httpx.create_ssl_context(verify=False)
        elif req.cacert is not None or req.capath is not None:
            context = ssl.create_default_context(cafile=req.cacert, capath=req.capath)
        else:
            context = httpx.create_ssl_context(verify=True)
    except (OSError, ssl.SSLError) as exc:
        if req.cacert is not None or req.capath is not None:
            source = "request.cacert" if req.cacert is not None else "request.capath"
        else:  # what httpx read from the environment
            source = default_trust()[0]
        raise SettingProblem(source, f"cannot be used: {exc}") from None
    if req.client_cert is not None:
        try:
            context.load_cert_chain(req.client_cert, req.client_key, password=_no_password)
        except (OSError, ssl.SSLError) as exc:
            raise SettingProblem("request.client_cert", f"cannot be used: {exc}") from None
    return context


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


def _aiohttp_unsupported(settings: Settings) -> str | None:
    """Why the aiohttp backend cannot serve these settings, or None when it can."""
    if settings.request.http2:
        return "--http2"
    if any(not proxy.startswith("http://") for proxy in settings.request.proxies):
        return "a proxy other than http://"
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


def uses_aiohttp(settings: Settings) -> bool:
    """Whether ``--backend`` picks aiohttp; raises ``SettingProblem`` (``backend``) when it cannot be honoured."""
    check_http2(settings)
    unsupported = _aiohttp_unsupported(settings)
    installed = importlib.util.find_spec("aiohttp") is not None
    if settings.backend is Backend.aiohttp:
        if unsupported is not None:
            raise SettingProblem("backend", f"aiohttp does not support {unsupported}: use --backend httpx")
        if not installed:
            raise SettingProblem("backend", "aiohttp is not installed: pip install aiohttp")
        return True
    return settings.backend is Backend.auto and unsupported is None and installed


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
