"""The transport contract over an ``httpx.AsyncClient``: a client the caller brings to ``fetch``
(``client=``), ``--backend httpx`` (``build_client`` over the sharded httpx pool: HTTP/2, SOCKS
and https proxies), and tests that mock with respx. httpx's exceptions become fetchcli's own
(``errors.TransportFailure``), raised from them, so a cause behind one still tells more.

A client ``build_client`` made is sent through its transport directly (nothing of
``AsyncClient.send`` is needed: the engine works out redirects and credentials itself); a
client the caller made goes through ``client.send``, with its own auth, hooks and settings."""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx

from fetchcli.errors import (
    ConnectFailed,
    ConnectTimedOut,
    InvalidRequestURL,
    PoolTimedOut,
    ProtocolBroken,
    ProxyFailed,
    ReadFailed,
    ReadTimedOut,
    TooManyRedirects,
    TransportFailure,
    WriteFailed,
    WriteTimedOut,
)
from fetchcli.settings import RequestSettings, SettingProblem
from fetchcli.transport.addressmap import AddressMap
from fetchcli.transport.contract import Timeouts, WireHeaders, WireRequest, WireResponse
from fetchcli.transport.hints import PEER_EXTENSION, SSL_EXTENSION
from fetchcli.transport.wireurl import parse

# The transport of each client ``client.build_client`` made: ``HttpxWire`` sends through it
# directly (a client the caller made is always sent through ``AsyncClient.send``).
OWN_TRANSPORT: weakref.WeakKeyDictionary[httpx.AsyncClient, httpx.AsyncBaseTransport] = weakref.WeakKeyDictionary()

# Where each client ``client.build_client`` made over fetchcli's own transport connects
# (``--resolve``, ``--connect-to``, ``-4``/``-6``, ``--all-ips``): ``connects_by`` checks it.
OWN_ADDRESSES: weakref.WeakKeyDictionary[httpx.AsyncClient, AddressMap] = weakref.WeakKeyDictionary()
_WHERE = ("resolve", "connect_to", "ipv4", "ipv6", "all_ips")  # RequestSettings' fields of it


def connects_by(client: httpx.AsyncClient, request: RequestSettings) -> None:
    """A ``SettingProblem`` naming the first of the run's where-to-connect settings that
    ``client`` would ignore: a client of the caller's own connects where its own transport says
    (so ``--all-ips``'s probes would not go to their addresses); ``build_client``'s, by the
    settings it was built with."""
    mapped = AddressMap.for_request(request)
    if not mapped or OWN_ADDRESSES.get(client) == mapped:
        return
    setting = next(name for name in _WHERE if getattr(request, name))
    raise SettingProblem(
        f"request.{setting}",
        "cannot apply to a client of your own (fetch(client=...)), which connects where its own transport "
        "says: leave client= out, or pass fetchcli.build_client(settings) built with the same settings",
    )


# httpx's exception classes -> fetchcli's, most specific first.
_OWN: tuple[tuple[type[Exception], type[Exception]], ...] = (
    (httpx.ConnectTimeout, ConnectTimedOut),
    (httpx.ReadTimeout, ReadTimedOut),
    (httpx.WriteTimeout, WriteTimedOut),
    (httpx.PoolTimeout, PoolTimedOut),
    (httpx.ProxyError, ProxyFailed),
    (httpx.ConnectError, ConnectFailed),
    (httpx.ReadError, ReadFailed),
    (httpx.WriteError, WriteFailed),
    (httpx.RemoteProtocolError, ProtocolBroken),
    (httpx.TooManyRedirects, TooManyRedirects),
)


def own_failure(exc: Exception) -> Exception | None:
    """fetchcli's exception for httpx's ``exc`` (its words), or None for one it has none for."""
    for theirs, ours in _OWN:
        if isinstance(exc, theirs):
            return ours(str(exc))
    return None


@contextlib.contextmanager
def _own_failures() -> Iterator[None]:
    """httpx's failures raised as fetchcli's (``own_failure``), from them; fetchcli's own, and
    what has no counterpart, as they are."""
    try:
        yield
    except TransportFailure:
        raise
    except Exception as exc:
        ours = own_failure(exc)
        if ours is None:
            raise
        raise ours from exc


def _connection_info(response: httpx.Response, extension: str, info: str) -> Any:
    """A fact of the connection the response came on: told by a transport of fetchcli's (in
    ``extension``), or read from httpx's own network stream (``get_extra_info(info)``)."""
    told = response.extensions.get(extension)
    if told is None:
        stream = response.extensions.get("network_stream")
        told = stream.get_extra_info(info) if stream is not None else None
    return told


class _Body:
    """An httpx response's raw body, its failures in fetchcli's classes."""

    __slots__ = ("_response",)

    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _own_failures():
            async for chunk in self._response.aiter_raw():
                yield chunk

    async def aclose(self) -> None:
        await self._response.aclose()


class HttpxWire:
    """Sends through ``client``; closes it at the end only if ``owned``."""

    def __init__(self, client: httpx.AsyncClient, *, owned: bool = False) -> None:
        self.client = client
        self._owned = owned
        self._transport = OWN_TRANSPORT.get(client)
        raw = list(client.headers.raw)
        # Decoded by one encoding, as httpx.Headers would (its own cache may be stale), and
        # encoded back with it when sent: the bytes go as they came.
        encoding = WireHeaders(raw).encoding
        # ASCII headers are UTF-8 too: a JSON Lines line's own header values (not among these)
        # are sent as UTF-8, as -H values are (headers.headers_of).
        self._encoding = "utf-8" if encoding == "ascii" else encoding
        self.default_headers = tuple((name.decode(encoding), value.decode(encoding)) for name, value in raw)
        timeout = client.timeout
        self.timeouts = Timeouts(timeout.connect, timeout.read, timeout.write, timeout.pool)

    async def send(self, request: WireRequest) -> WireResponse:
        t = request.timeouts
        try:
            outgoing = httpx.Request(
                request.method,
                str(request.url),
                headers=[
                    (name.encode(self._encoding), value.encode(self._encoding)) for name, value in request.headers
                ],
                content=request.body,
                extensions={"timeout": {"connect": t.connect, "read": t.read, "write": t.write, "pool": t.pool}},
            )
        except Exception as exc:  # httpx.InvalidURL, idna's errors (UnicodeError subclasses), ...
            raise InvalidRequestURL(str(exc) or "invalid URL") from exc
        with _own_failures():
            if self._transport is not None:
                response = await self._transport.handle_async_request(outgoing)
                response.request = outgoing
            else:
                response = await self.client.send(outgoing, stream=True)
        # A client of the caller's may follow redirects itself: the URL that answered.
        url = request.url if not response.history else parse(str(response.url))
        return WireResponse(
            url,
            response.status_code,
            response.reason_phrase,
            response.http_version,
            WireHeaders(response.headers.raw),
            _Body(response),
            _connection_info(response, PEER_EXTENSION, "server_addr"),
            _connection_info(response, SSL_EXTENSION, "ssl_object") if request.url.scheme == "https" else None,
        )

    async def aclose(self) -> None:
        if self._owned:
            await self.client.aclose()


# fetchcli's exception classes -> httpx's, for a wire behind an httpx client (``WireTransport``).
_THEIRS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (ConnectTimedOut, httpx.ConnectTimeout),
    (ReadTimedOut, httpx.ReadTimeout),
    (WriteTimedOut, httpx.WriteTimeout),
    (PoolTimedOut, httpx.PoolTimeout),
    (ProxyFailed, httpx.ProxyError),
    (ConnectFailed, httpx.ConnectError),
    (ReadFailed, httpx.ReadError),
    (WriteFailed, httpx.WriteError),
    (ProtocolBroken, httpx.RemoteProtocolError),
    (TransportFailure, httpx.TransportError),
)


def _httpx_failure(exc: TransportFailure, request: httpx.Request) -> httpx.TransportError:
    theirs = next(cls for ours, cls in _THEIRS if isinstance(exc, ours))
    return theirs(str(exc), request=request)


class _WireBody(httpx.AsyncByteStream):
    __slots__ = ("_request", "_stream")

    def __init__(self, stream: Any, request: httpx.Request) -> None:
        self._stream = stream
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._stream:
                yield chunk
        except TransportFailure as exc:
            raise _httpx_failure(exc, self._request) from exc

    async def aclose(self) -> None:
        await self._stream.aclose()


class WireTransport(httpx.AsyncBaseTransport):
    """An httpx transport over a wire: ``build_client``'s clients on the default backend, for
    whoever uses them as httpx clients (fetchcli's own runs call the wire directly)."""

    def __init__(self, wire: Any) -> None:
        self.wire = wire

    @property
    def idle_walks(self) -> int:
        return int(self.wire.idle_walks)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        t = request.extensions.get("timeout", {})
        # A redirected 307/308 carries the original request's stream, not yet read.
        body = await request.aread() if request.method not in ("GET", "HEAD") else None
        outgoing = WireRequest(
            request.method,
            parse(str(request.url)),
            tuple(request.headers.multi_items()),
            Timeouts(t.get("connect"), t.get("read"), t.get("write"), t.get("pool")),
            body or None,
        )
        try:
            response = await self.wire.send(outgoing)
        except TransportFailure as exc:
            raise _httpx_failure(exc, request) from exc
        return httpx.Response(
            status_code=response.status,
            headers=response.headers.raw,
            stream=_WireBody(response.stream, request),
            extensions={
                "http_version": response.http_version.encode("ascii"),
                "reason_phrase": response.reason.encode("ascii"),
                PEER_EXTENSION: response.peer,
                SSL_EXTENSION: response.ssl_object,
            },
            request=request,
        )

    async def aclose(self) -> None:
        await self.wire.aclose()
