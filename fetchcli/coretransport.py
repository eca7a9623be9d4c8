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

from fetchcli.netbackend import ConnectionStream

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
def _mapping(request: httpx.Request) -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        target = _mapped_type(exc)
        if target is None:
            raise
        raise target(str(exc), request=request) from exc


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
    """An httpx transport over ``pool`` (an httpcore connection pool or proxy)."""

    def __init__(self, pool: httpcore.AsyncConnectionPool) -> None:  # or a proxy, a kind of pool
        self._pool = pool

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
        with _mapping(request):
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
) -> CoreTransport:
    """The pool ``httpx.AsyncHTTPTransport(verify=ssl_context, http2=..., limits=..., proxy=...,
    trust_env=False)`` builds, with ``network_backend``."""
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
            )
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
        )
    )
