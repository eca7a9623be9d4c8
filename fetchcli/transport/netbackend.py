"""httpcore's network backend for the httpx transport, with phase timing and a name cache.

httpcore connects through a network backend (``connect_tcp``, then ``start_tls`` on the stream);
its default resolves and connects in one call, so the name lookup cannot be told from the TCP
connect. This backend looks the name up itself (cached for ``DNS_TTL`` seconds, as aiohttp's
connector does, so both backends look names up equally often), connects to each address in turn
until one answers, and times the three phases into ``hints.CURRENT``. Errors and timeouts are
httpcore's own (``ConnectError``, ``ConnectTimeout``), with the original exception as the cause,
so the error vocabulary reads them as before (``DNSError``, ``ConnectionRefused``...).
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterable
from typing import Any

import anyio
import httpcore

from fetchcli.transport.addressmap import AddressMap
from fetchcli.transport.h2responses import Http2Responses
from fetchcli.transport.hints import CURRENT, ON_TLS, PhaseClock, since
from fetchcli.transport.protocol import ChunkSizes, InformationalHeads

DNS_TTL = 10.0  # seconds, aiohttp's default ttl_dns_cache

DNS_CACHE_LIMIT = 10_000


def _is_ip(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    except OSError:
        return False
    return True


class ConnectionStream(httpcore.AsyncNetworkStream):
    """A connection's stream as httpcore uses it; it bounds the informational (1xx) responses
    ahead of each response (``protocol.py``: httpcore skips them without a limit) and, on
    HTTP/2, holds each response's ``:status`` to the rules (``h2responses.Http2Responses``), and
    tells each request (its ``PhaseClock``) whether the connection is a kept-alive one it reuses,
    and then whether a byte of the answer arrived (``request._exchange`` resends a request the server
    closed the connection on unread)."""

    def __init__(self, stream: httpcore.AsyncNetworkStream, *, http2: bool = False) -> None:
        self._stream = stream
        self._heads = None if http2 else InformationalHeads()
        self._h2 = Http2Responses() if http2 else None
        self._sending = False  # a request is being written (its head, then any body)
        self._closed: dict[str, Any] | None = None  # what get_extra_info told, kept at the close
        self._clock = CURRENT.get()  # the request last sent: at first, the one that connected
        self._waiting: PhaseClock | None = None  # a request on a reused connection, not answered yet
        self._chunks: ChunkSizes | None = None  # following the chunk sizes of the body being read
        # Asked now, once: after the server closed the connection (httpcore then closes the
        # socket as soon as the answer is read), the socket could no longer tell it.
        self._server_addr = stream.get_extra_info("server_addr")
        # Through a proxy: the request opening the connection, while it still talks to the proxy
        # (``ProxyBackend``), and whether the next TLS handshake is the proxy's own (https://).
        self._proxy_leg: PhaseClock | None = None
        self._proxy_tls = False

    def to_proxy(self, clock: PhaseClock | None, *, tls: bool) -> None:
        """This connection goes to a proxy, ``tls`` an https:// one; ``clock``'s request is
        talking to it (``PhaseClock.proxy_stage``) until the connection reaches the server: at the
        TLS handshake with the server through the tunnel, or when a request other than a CONNECT
        is written (sent to the proxy whole, or through a SOCKS tunnel)."""
        self._proxy_leg, self._proxy_tls = clock, tls

    def _past_proxy(self) -> None:
        leg, self._proxy_leg = self._proxy_leg, None
        if leg is not None:
            leg.proxy_stage = False

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self._sending = False
        data = await self._stream.read(max_bytes, timeout)
        waiting = self._waiting
        if waiting is not None and data:
            waiting.answered = True
            self._waiting = None
        heads = self._heads
        if heads is not None and heads.active:
            problem = heads.feed(data)
            if problem is not None:
                raise httpcore.RemoteProtocolError(problem)
        elif self._chunks is not None:
            self._follow(self._chunks, data, 0)
        elif self._h2 is not None and not self._h2.off:
            problem = self._h2.feed(data)
            if problem is not None:
                raise httpcore.RemoteProtocolError(problem)
        return data

    def body_begins(self, chunked: bool) -> None:
        """The response whose head was just read (told by ``coretransport.py``) has a body,
        ``chunked`` or not. A chunked body's sizes are followed from here (``protocol.ChunkSizes``),
        starting with the bytes already read after its head: ``httpcore.RemoteProtocolError``
        when one is too large."""
        heads = self._heads
        if heads is None:
            return
        data, heads.body_data = heads.body_data, None  # not kept beyond this
        if chunked and data is not None:
            self._follow(ChunkSizes(), data, heads.body_at)

    def _follow(self, chunks: ChunkSizes, data: bytes, position: int) -> None:
        problem = chunks.feed(data, position)
        self._chunks = None if chunks.done or problem is not None else chunks
        if problem is not None:
            raise httpcore.RemoteProtocolError(problem)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if self._proxy_leg is not None and buffer[:1].isalpha() and not buffer.startswith(b"CONNECT "):
            self._past_proxy()  # an HTTP request (a SOCKS handshake's bytes start with 5 or 1)
        if self._heads is not None and not self._sending:
            self._sending = True
            self._heads.begin(buffer)  # a request's head: what is read next is its response
            self._chunks = None
            clock = CURRENT.get()
            if clock is not self._clock:  # not the request that opened the connection: a reuse
                self._clock = clock
                if clock is not None:
                    clock.reused = True
                    self._waiting = clock
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        # A response cut short (--max-time) closes its connection before its record is made,
        # which still names the address it came from and its TLS facts.
        if self._closed is None:
            get = self._stream.get_extra_info
            self._closed = {"server_addr": get("server_addr"), "ssl_object": get("ssl_object")}
        await self._stream.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        """TLS inside TLS (an ``https://`` proxy's tunnel): not timed, as before."""
        self._past_proxy()
        stream = await self._stream.start_tls(ssl_context, server_hostname, timeout)
        return ConnectionStream(stream, http2=_alpn(stream) == "h2")

    def get_extra_info(self, info: str) -> Any:
        if info == "server_addr":
            return self._server_addr
        if self._closed is not None:
            return self._closed.get(info)
        return self._stream.get_extra_info(info)


def _alpn(stream: httpcore.AsyncNetworkStream) -> str | None:
    ssl_object = stream.get_extra_info("ssl_object")
    return ssl_object.selected_alpn_protocol() if ssl_object is not None else None


class _TimedStream(ConnectionStream):
    """The TCP stream of a connection: its TLS handshake is timed, and its protocol told."""

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        started = time.perf_counter()
        leg, proxy_tls = self._proxy_leg, self._proxy_tls
        if not proxy_tls:
            self._past_proxy()  # the server's handshake, through a tunnel or not
        stream = await self._stream.start_tls(ssl_context, server_hostname, timeout)
        clock = CURRENT.get()
        if clock is not None:
            clock.tls_ms = since(started)
        if proxy_tls:  # the https:// proxy's own handshake: the next one is the server's
            wrapped = ConnectionStream(stream)
            wrapped.to_proxy(leg, tls=False)
            return wrapped
        protocol = _alpn(stream)
        told = ON_TLS.get()
        if told is not None:
            told(protocol)
        return ConnectionStream(stream, http2=protocol == "h2")


class TimedBackend(httpcore.AsyncNetworkBackend):
    """Wraps httpcore's own backend (``inner``) for the connections of one client."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend, address_map: AddressMap | None = None) -> None:
        self._inner = inner
        self._names: dict[tuple[str, int], tuple[float, list[str]]] = {}
        self._address_map = address_map if address_map else None  # --resolve, --connect-to

    async def _addresses(self, host: str, port: int) -> list[str]:
        if _is_ip(host):
            return [host]
        key = (host, port)
        cached = self._names.get(key)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        started = time.perf_counter()
        mapped = self._address_map
        family = mapped.socket_family if mapped is not None else 0
        try:
            found = await anyio.getaddrinfo(host, port, family=family, type=socket.SOCK_STREAM)
        except OSError as exc:
            if mapped is None:
                raise
            raise mapped.lookup_failed(exc) from exc
        clock = CURRENT.get()
        if clock is not None:
            clock.dns_ms = since(started)
        addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
        if len(self._names) >= DNS_CACHE_LIMIT:
            self._names.clear()
        self._names[key] = (now + DNS_TTL, addresses)
        return addresses

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        mapped = self._address_map
        fixed = None
        if mapped is not None:
            host, port, fixed = mapped.route(host, port)
        try:
            with anyio.fail_after(timeout):
                addresses = list(fixed) if fixed is not None else await self._addresses(host, port)
                if mapped is not None and mapped.family:  # -4, -6
                    addresses = mapped.of_family(host, addresses)
                started = time.perf_counter()
                stream = await self._first_that_answers(addresses, port, local_address, socket_options)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(str(exc)) from exc
        except OSError as exc:  # socket.gaierror (the name) and the last address's error
            raise httpcore.ConnectError(str(exc)) from exc
        clock = CURRENT.get()
        if clock is not None:
            clock.connect_ms = since(started)
        return _TimedStream(stream)

    async def _first_that_answers(
        self, addresses: list[str], port: int, local_address: str | None, socket_options: Iterable[Any] | None
    ) -> httpcore.AsyncNetworkStream:
        last: BaseException | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, local_address=local_address, socket_options=socket_options
                )
            except httpcore.ConnectError as exc:
                last = exc
        if isinstance(last, httpcore.ConnectError) and isinstance(last.__cause__, OSError):
            raise last.__cause__
        raise OSError(f"no address of the host answered: {last}")

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:  # pragma: no cover - fetchcli fetches http(s) URLs only
        return await self._inner.connect_unix_socket(path, timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class ProxyBackend(httpcore.AsyncNetworkBackend):
    """The network backend of a pool that goes through a proxy (every connection it opens goes
    to the proxy): tells the request opening a connection that it is talking to the proxy
    (``PhaseClock.proxy_stage``) until the connection reaches the server (``ConnectionStream.
    to_proxy``), so that ``coretransport.py`` reports a failure then as the proxy's."""

    def __init__(self, inner: TimedBackend, *, tls: bool) -> None:
        self._inner = inner
        self._tls = tls  # an https:// proxy: the first TLS handshake is the proxy's

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        clock = CURRENT.get()
        if clock is not None:
            clock.proxy_stage = True
        stream = await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        if isinstance(stream, ConnectionStream):
            stream.to_proxy(clock, tls=self._tls)
        return stream

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:  # pragma: no cover - fetchcli fetches http(s) URLs only
        return await self._inner.connect_unix_socket(path, timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
