"""The httpx backend's transport: what ``httpx.AsyncHTTPTransport`` does, over an httpcore pool
built here, so that fetchcli's network backend (``netbackend.py``: phase timing, the name cache,
the bound on informational responses) is handed to httpcore through its public
``network_backend=`` parameter. (httpx's transport takes none: fetchcli used to write its pool's
private ``_network_backend`` attribute, which a rename would have turned into silence.)

Exceptions are mapped at this seam, most specific first, as httpx maps them
(``httpx/_transports/default.py``), keeping the original as the cause; and h2's
``ProtocolError`` raised while reading what the server sent (a server breaking HTTP/2: a
CONTINUATION flood, a bad frame), which httpcore passes on as its *Local*ProtocolError (and
fetchcli then reported as ``Unexpected``), is ``RemoteProtocolError`` like any other broken
protocol.
"""

from __future__ import annotations

import ssl
import sys
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from contextlib import contextmanager

import httpcore
import httpx

from fetchcli.errors import out_of_files, proxy_refused, proxy_silent, proxy_unanswered, proxy_unreachable
from fetchcli.redact import mask_credentials
from fetchcli.text import clean_line
from fetchcli.transport.hints import CURRENT
from fetchcli.transport.netbackend import ConnectionStream, ProxyBackend, TimedBackend

_MAPPED: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


def _mapped_type(exc: Exception) -> type[httpx.TransportError] | None:
    if _server_broke_http2(exc):
        return httpx.RemoteProtocolError
    for source, target in _MAPPED:
        if isinstance(exc, source):
            return target
    return None


def _server_broke_http2(exc: Exception) -> bool:
    """Whether ``exc`` is (or wraps: httpcore raises it as its ``LocalProtocolError``) h2's
    ``ProtocolError``, raised while h2 read what the server sent (``receive_data``): the
    server's fault. One raised while sending (a header HTTP/2 forbids, from ``-H``) is not."""
    h2_errors = sys.modules.get("h2.exceptions")  # imported by httpcore when --http2 is used
    if h2_errors is None:
        return False
    error: BaseException | None = exc
    if isinstance(exc, httpcore.ProtocolError):
        error = exc.__cause__ or exc.__context__
    if not isinstance(error, h2_errors.ProtocolError):
        return False
    frame = error.__traceback__
    while frame is not None:
        code = frame.tb_frame.f_code
        if code.co_name == "receive_data" and str(frame.tb_frame.f_globals.get("__name__", "")).startswith("h2."):
            return True
        frame = frame.tb_next
    return False


def _chunked(method: bytes, status: int, headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether h11 reads this response's body as chunked: it has a body (not an answer to HEAD,
    not 204 or 304) and a ``Transfer-Encoding`` (h11 refuses any but ``chunked``)."""
    if method == b"HEAD" or status in (204, 304):
        return False
    return any(len(name) == 17 and name.lower() == b"transfer-encoding" for name, _ in headers)


@contextmanager
def _mapping(request: httpx.Request, proxy: str | None = None) -> Iterator[None]:
    """httpcore's exceptions as httpx's; with ``proxy`` (shown masked), a failure to reach or
    talk to it as ``ProxyError`` in fetchcli's words (``_proxy_failure``)."""
    try:
        yield
    except Exception as exc:
        if proxy is not None:
            failure = _proxy_failure(exc, proxy)
            if failure is not None:
                raise failure[0](failure[1], request=request) from exc
        target = _mapped_type(exc)
        if target is None:
            raise
        raise target(str(exc), request=request) from exc


def _proxy_failure(exc: Exception, proxy: str) -> tuple[type[httpx.TransportError], str] | None:
    """``ProxyError`` and its message when ``exc`` is the proxy's failure: httpcore's
    ``ProxyError`` (a CONNECT answered with a status other than 2xx, a SOCKS handshake refused),
    or any error while the request was still talking to the proxy (``PhaseClock.proxy_stage``,
    told by netbackend.py) but a timeout (its own type; the CONNECT's answer awaited in vain is
    a ``ReadTimeout`` that says so) and running out of file descriptors (fetchcli's limit)."""
    if isinstance(exc, httpcore.ProxyError):
        text = str(exc)
        status, _, reason = text.partition(" ")
        if not proxy.startswith("socks") and len(status) == 3 and status.isdigit():
            return httpx.ProxyError, proxy_refused(proxy, int(status), reason)
        return httpx.ProxyError, proxy_unanswered(proxy, text)
    clock = CURRENT.get()
    if clock is None or not clock.proxy_stage or out_of_files(exc):
        return None
    if isinstance(exc, httpcore.TimeoutException):
        connected = clock.connect_ms is not None
        if isinstance(exc, httpcore.ReadTimeout) and connected and not proxy.startswith("socks"):
            return httpx.ReadTimeout, proxy_silent(proxy)
        return None
    if clock.connect_ms is None or _tls_failed(exc):  # to the proxy: TCP, or an https:// proxy's TLS
        return httpx.ProxyError, proxy_unreachable(proxy, exc)
    return httpx.ProxyError, proxy_unanswered(proxy, clean_line(str(exc)) or None)


def _tls_failed(exc: BaseException) -> bool:
    error: BaseException | None = exc
    while error is not None:
        if isinstance(error, ssl.SSLError):
            return True
        error = error.__cause__ or error.__context__
    return False


class _ResponseStream(httpx.AsyncByteStream):
    __slots__ = ("_request", "_stream")

    def __init__(self, stream: AsyncIterable[bytes], request: httpx.Request) -> None:
        self._stream = stream
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _mapping(self._request):
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        close = getattr(self._stream, "aclose", None)
        if close is not None:
            with _mapping(self._request):
                await close()


class CoreTransport(httpx.AsyncBaseTransport):
    """An httpx transport over ``pool`` (an httpcore connection pool or proxy); ``proxy``: the
    proxy's URL as messages show it."""

    def __init__(self, pool: httpcore.AsyncConnectionPool, proxy: str | None = None) -> None:  # or a proxy pool
        self._pool = pool
        self._proxy = proxy

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        url = request.url
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _mapping(request, self._proxy):
            response = await self._pool.handle_async_request(core_request)
            stream = response.extensions.get("network_stream")
            if isinstance(stream, ConnectionStream):  # HTTP/1.1: what its body is, so far
                try:
                    stream.body_begins(_chunked(core_request.method, response.status, response.headers))
                except BaseException:
                    await response.aclose()  # and its connection, not read to the end
                    raise
        assert isinstance(response.stream, AsyncIterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream, request),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


def core_transport(
    ssl_context: ssl.SSLContext,
    *,
    http2: bool,
    limits: httpx.Limits,
    proxy: httpx.Proxy | str | None,
    network_backend: httpcore.AsyncNetworkBackend,
    proxy_shown: str | None = None,
) -> CoreTransport:
    """The pool ``httpx.AsyncHTTPTransport(verify=ssl_context, http2=..., limits=..., proxy=...,
    trust_env=False)`` builds, with ``network_backend``. ``proxy_shown``: the proxy's URL as
    messages name it (by default its URL, credentials masked)."""
    connections, keepalive, expiry = limits.max_connections, limits.max_keepalive_connections, limits.keepalive_expiry
    if proxy is None:
        return CoreTransport(
            httpcore.AsyncConnectionPool(
                ssl_context=ssl_context,
                max_connections=connections,
                max_keepalive_connections=keepalive,
                keepalive_expiry=expiry,
                http2=http2,
                network_backend=network_backend,
            )
        )
    proxy = httpx.Proxy(proxy) if isinstance(proxy, str) else proxy
    url = proxy.url
    proxy_url = httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path)
    shown = mask_credentials(proxy_shown if proxy_shown is not None else str(url))
    if isinstance(network_backend, TimedBackend):  # every connection goes to the proxy first
        network_backend = ProxyBackend(network_backend, tls=url.scheme == "https")
    if url.scheme in ("socks5", "socks5h"):
        return CoreTransport(
            httpcore.AsyncSOCKSProxy(
                proxy_url=proxy_url,
                proxy_auth=proxy.raw_auth,
                ssl_context=ssl_context,
                max_connections=connections,
                max_keepalive_connections=keepalive,
                keepalive_expiry=expiry,
                http2=http2,
                network_backend=network_backend,
            ),
            shown,
        )
    return CoreTransport(
        httpcore.AsyncHTTPProxy(
            proxy_url=proxy_url,
            proxy_auth=proxy.raw_auth,
            proxy_headers=proxy.headers.raw,
            proxy_ssl_context=proxy.ssl_context,
            ssl_context=ssl_context,
            max_connections=connections,
            max_keepalive_connections=keepalive,
            keepalive_expiry=expiry,
            http2=http2,
            network_backend=network_backend,
        ),
        shown,
    )
