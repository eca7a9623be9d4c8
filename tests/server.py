"""A small, fast, misbehaving-on-request HTTP/1.1 server on 127.0.0.1 for the tests.

It runs its own event loop in a thread, so both in-process async tests and subprocess CLI
tests can use it, and it counts what a mock cannot show: TCP connections accepted, open at
once, and bytes of body sent.

Paths:
  /ok, /anything          200, small text body
  /size/N                 200, N bytes of 'a'
  /status/N               status N
  /slow/MS                answer after MS milliseconds
  /hold/N/HOST            answer once N requests with the Host header HOST (its name or address,
                          any port) have arrived (at most 10 s): an order of events, not of times
  /hang                   read the request, never answer
  /trickle                200 with Content-Length 100, one byte every 0.5 s
  /endless                200 claiming 2 GB, sending until the client goes away
  /gzipbomb               gzip body inflating to 64 MiB
  /bad-gzip               'Content-Encoding: gzip' on bytes that are not gzip
  /redirect/N             302 chain of N hops ending at /ok
  /loop                   302 to itself
  /location?to=URL        302 to URL
  /headers                echoes the request line and headers as the body (and keeps them in
                          stats.headers_seen, by request target: use a query to tell tests apart)
  /evil-location          302 whose Location and reason phrase carry terminal escapes and U+202E
  /utf16                  'café' in UTF-16 (with NUL bytes), declared as charset=utf-16
  /blank                  a body of spaces and newlines only
  /html                   an HTML page whose <title> has an entity, a newline and an escape
  /bad-chunk              a chunked body whose chunk size is 20 hex digits
  /short                  Content-Length 100, then 10 bytes and the connection closed
  /307, /308              that redirect to /method
  /method                 the request's method and body length, as the body
  /head/H/G               a HEAD answered with status H, any other method with status G
  /escape                 body and reason phrase with terminal escapes and Rich markup
  /binary                 PNG-like bytes with NULs
  /charset/NAME           'café' encoded in latin-1, declared as charset NAME
  /fail/KEY/N?status=S&retry_after=R   status S (503) for the first N requests of KEY, then 200
  /drop/KEY/N             close the connection without answering the first N times, then 200
  /reset-status           send half a status line, then reset the connection
  /bigheader              a 1 MiB header line
  /status799              status 799
  /http10                 HTTP/1.0, no Content-Length: the body ends when the connection closes
  /say?text=T             200 with the body T (a health endpoint, for the recipes)
  /hosts-inflight         (any path is counted per Host header in stats.max_inflight_by_host)

fault_rate: the share of requests whose connection is reset instead of answered, chosen by a
hash of path and repetition (for /ok/0../ok/499 at 0.3: 164 resets, at most 5 in a row).
"""

from __future__ import annotations

import asyncio
import gzip
import ssl
import threading
import time
import urllib.parse
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar


@dataclass
class Stats:
    accepted: int = 0
    open_now: int = 0
    max_open: int = 0
    requests: int = 0
    body_bytes_sent: int = 0
    paths: list[str] = field(default_factory=list)
    inflight_by_host: dict[str, int] = field(default_factory=dict)
    max_inflight_by_host: dict[str, int] = field(default_factory=dict)
    times_by_host: dict[str, list[float]] = field(default_factory=dict)
    dropped: int = 0
    headers_seen: dict[str, dict[str, str]] = field(default_factory=dict)  # by request target
    # (method, target, headers, body) of each request whose body came (Content-Length), in order
    bodies: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)


GZIP_BOMB = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)
ESCAPE_BODY = b"\x1b[31mRED\x1b[0m [bold]markup[/bold] \x1b]0;title\x07 \x9b2J end"


class LoopbackServer:
    def __init__(
        self, host: str = "127.0.0.1", extra_hosts: tuple[str, ...] = (), ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.host = host
        self.ssl_context = ssl_context
        self.hosts = (host, *extra_hosts)
        self.port = 0
        self.stats = Stats()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self.fault_rate = 0.0
        self._counters: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, name="test-server", daemon=True)

    def url(self, path: str, host: str | None = None) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        host = host or self.host
        return f"{scheme}://{f'[{host}]' if ':' in host else host}:{self.port}{path}"

    def start(self) -> LoopbackServer:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        future.result(timeout=10)
        return self

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.hosts[0], 0, backlog=1024, ssl=self.ssl_context)
        self.port = self._server.sockets[0].getsockname()[1]
        if len(self.hosts) > 1:  # the same port on more loopback addresses: distinct origins, no DNS
            self._server.close()
            self._server = await asyncio.start_server(self._handle, list(self.hosts), self.port, backlog=1024)

    def stop(self) -> None:
        async def _stop() -> None:
            if self._server is not None:
                self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(_stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        stats = self.stats
        stats.accepted += 1
        stats.open_now += 1
        stats.max_open = max(stats.max_open, stats.open_now)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _version = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0") or 0)
                if length:
                    body = await reader.readexactly(length)
                    stats.bodies.append((method, target, headers, body))
                if self.fault_rate and self._fails(target):
                    stats.dropped += 1  # the connection fails: reset instead of an answer
                    writer.transport.abort()
                    return
                stats.requests += 1
                stats.paths.append(target)
                host = headers.get("host", "")
                stats.times_by_host.setdefault(host, []).append(time.monotonic())
                stats.inflight_by_host[host] = stats.inflight_by_host.get(host, 0) + 1
                stats.max_inflight_by_host[host] = max(
                    stats.max_inflight_by_host.get(host, 0), stats.inflight_by_host[host]
                )
                try:
                    keep = await self._respond(method, target, head, writer, headers)
                finally:
                    stats.inflight_by_host[host] -= 1
                if not keep:
                    return
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            stats.open_now -= 1
            writer.close()
            self._tasks.discard(task)

    def _fails(self, target: str) -> bool:
        """Whether this request's connection is reset: decided by a hash of the path and how many
        times it was asked for, so a run is the same whatever order requests arrive in."""
        seen = self._counters[f"fault:{target}"] = self._counters.get(f"fault:{target}", 0) + 1
        return zlib.crc32(f"{target}:{seen}".encode()) % 1000 < self.fault_rate * 1000

    async def _send(
        self, writer: asyncio.StreamWriter, status: str, body: bytes, headers: dict[str, str] | None = None
    ) -> bool:
        all_headers = {
            "Content-Type": "text/plain; charset=utf-8",
            "Content-Length": str(len(body)),
            "Server": "test/1",
        }
        all_headers.update(headers or {})
        head = f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in all_headers.items()) + "\r\n"
        writer.write(head.encode("latin-1") + body)
        self.stats.body_bytes_sent += len(body)
        await writer.drain()
        return True

    async def _respond(
        self, method: str, target: str, head: bytes, writer: asyncio.StreamWriter, headers: dict[str, str]
    ) -> bool:
        parsed = urllib.parse.urlsplit(target)
        path = parsed.path
        parts = path.strip("/").split("/")
        if path.startswith("/head/"):  # /head/H/G: a HEAD answered H (no body), anything else G
            head_status, get_status = (int(part) for part in parts[1:3])
            if method == "HEAD":
                return await self._send(writer, f"{head_status} Status", b"")
            return await self._send(writer, f"{get_status} Status", f"{method} answered {get_status}".encode())
        if method == "HEAD":
            return await self._send(writer, "200 OK", b"")
        if target.startswith("http://"):  # absolute form: we were asked as a forward proxy
            return await self._send(writer, "200 OK", b"proxied " + target.encode())
        if path.startswith(("/fail/", "/drop/")):
            key = path
            seen = self._counters[key] = self._counters.get(key, 0) + 1
            if seen <= int(parts[2]):
                if path.startswith("/drop/"):
                    writer.transport.abort()
                    return False
                query = urllib.parse.parse_qs(parsed.query)
                status = int(query.get("status", ["503"])[0])
                extra = {"Retry-After": query["retry_after"][0]} if "retry_after" in query else {}
                return await self._send(writer, f"{status} Try Later", b"not yet", extra)
            return await self._send(writer, "200 OK", f"ok after {seen - 1}".encode())
        if path == "/reset-status":
            writer.write(b"HTTP/1.1 20")
            await writer.drain()
            writer.transport.abort()
            return False
        if path == "/bigheader":
            return await self._send(writer, "200 OK", b"big", {"X-Big": "a" * (1024 * 1024)})
        if path == "/status799":
            return await self._send(writer, "799 Custom", b"odd status")
        if path == "/http10":
            writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nclose-delimited body")
            await writer.drain()
            return False
        if path.startswith("/size/"):
            return await self._send(writer, "200 OK", b"a" * int(parts[1]))
        if path.startswith("/status/"):
            code = int(parts[1])
            return await self._send(writer, f"{code} Whatever", f"status {code}".encode())
        if path.startswith("/hold/"):
            wanted, host = int(parts[1]), parts[2]
            for _ in range(2000):  # 10 s at most
                seen = sum(len(t) for h, t in self.stats.times_by_host.items() if h.rsplit(":", 1)[0] == host)
                if seen >= wanted:
                    break
                await asyncio.sleep(0.005)
            return await self._send(writer, "200 OK", f"held for {wanted}".encode())
        if path.startswith("/slow/"):
            await asyncio.sleep(int(parts[1]) / 1000)
            return await self._send(writer, "200 OK", f"slow {parts[1]}".encode())
        if path == "/hang":
            await asyncio.sleep(3600)
            return False
        if path == "/trickle":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
            for _ in range(100):
                writer.write(b"x")
                await writer.drain()
                await asyncio.sleep(0.5)
            return True
        if path == "/endless":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2000000000\r\n\r\n")
            chunk = b"z" * 65536
            while True:
                writer.write(chunk)
                self.stats.body_bytes_sent += len(chunk)
                await writer.drain()
        if path == "/bad-gzip":
            return await self._send(writer, "200 OK", b"this is not gzip at all", {"Content-Encoding": "gzip"})
        if path == "/gzipbomb":
            return await self._send(writer, "200 OK", GZIP_BOMB, {"Content-Encoding": "gzip"})
        if path.startswith("/redirect/"):
            hops = int(parts[1])
            location = "/ok" if hops <= 1 else f"/redirect/{hops - 1}"
            return await self._send(writer, "302 Found", b"moved", {"Location": location})
        if path == "/loop":
            return await self._send(writer, "302 Found", b"again", {"Location": "/loop"})
        if path == "/location":
            to = urllib.parse.parse_qs(parsed.query)["to"][0]
            return await self._send(writer, "302 Found", b"", {"Location": to})
        if path == "/headers":
            self.stats.headers_seen[target] = headers
            return await self._send(writer, "200 OK", head)
        if path == "/evil-location":
            location = "/ok/\x1b]0;pwned\x07\x1b[2J\u202eevil".encode().decode("latin-1")
            return await self._send(
                writer, "302 \x1b[41mMoved\u202e".encode().decode("latin-1"), b"", {"Location": location}
            )
        if path == "/utf16":
            return await self._send(
                writer, "200 OK", "café".encode("utf-16"), {"Content-Type": "text/plain; charset=utf-16"}
            )
        if path == "/bad-chunk":
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\nabc\r\n")
            await writer.drain()
            return False
        if path == "/short":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
            await writer.drain()
            return False
        if path in ("/307", "/308"):
            return await self._send(writer, f"{path[1:]} Moved", b"", {"Location": "/method"})
        if path == "/method":
            return await self._send(writer, "200 OK", f"{method} {headers.get('content-length', '-')}".encode())
        if path == "/say":
            said = urllib.parse.parse_qs(parsed.query).get("text", [""])[0]
            return await self._send(writer, "200 OK", said.encode(), {"Content-Type": "application/json"})
        if path == "/html":
            page = b"<!doctype html><html><head><TITLE lang=en>Caf&eacute; &amp;\n  \x1b[31mbar</TITLE></head><body>x</body>"
            return await self._send(writer, "200 OK", page, {"Content-Type": "text/html; charset=utf-8"})
        if path == "/blank":
            return await self._send(writer, "200 OK", b"   \n\n   ")
        if path == "/escape":
            return await self._send(
                writer, "200 \x1b[2JOK [red]x[/red]", ESCAPE_BODY, {"Content-Type": "text/plain\x1b[1m"}
            )
        if path == "/binary":
            return await self._send(
                writer, "200 OK", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\x1b[31m", {"Content-Type": "image/png"}
            )
        if path.startswith("/charset/"):
            return await self._send(
                writer, "200 OK", "café".encode("latin-1"), {"Content-Type": f"text/plain; charset={parts[1]}"}
            )
        return await self._send(writer, "200 OK", b"hello from " + path.encode())


@contextmanager
def running_server(
    extra_hosts: tuple[str, ...] = (), ssl_context: ssl.SSLContext | None = None, host: str = "127.0.0.1"
) -> Iterator[LoopbackServer]:
    server = LoopbackServer(host=host, extra_hosts=extra_hosts, ssl_context=ssl_context).start()
    try:
        yield server
    finally:
        server.stop()


_Started = TypeVar("_Started", bound="_SmallServer")


class _SmallServer:
    """An asyncio server on 127.0.0.1 in a thread of its own: start, stop, and ``_handle``."""

    name = "test-small-server"

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.port = 0
        self._ssl = ssl_context
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=self.name, daemon=True)
        self._server: asyncio.base_events.Server | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    def start(self: _Started) -> _Started:
        self._thread.start()

        async def start() -> None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self._ssl)
            self.port = self._server.sockets[0].getsockname()[1]

        asyncio.run_coroutine_threadsafe(start(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        async def stop() -> None:
            if self._server is not None:
                self._server.close()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


class Socks5Proxy(_SmallServer):
    """A minimal SOCKS5 proxy (no authentication, CONNECT only) on 127.0.0.1, for testing
    ``--proxy socks5://``; counts the tunnels it opened and where to."""

    name = "test-socks"

    def __init__(self) -> None:
        super().__init__()
        self.tunnels: list[tuple[str, int]] = []

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            _version, count = await reader.readexactly(2)
            await reader.readexactly(count)
            writer.write(b"\x05\x00")  # no authentication
            _version, _command, _reserved, kind = await reader.readexactly(4)
            if kind == 1:
                host = socket_address(await reader.readexactly(4))
            elif kind == 3:
                host = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
            else:
                host = socket_address(await reader.readexactly(16))
            port = int.from_bytes(await reader.readexactly(2), "big")
            upstream_reader, upstream_writer = await asyncio.open_connection(host, port)
            self.tunnels.append((host, port))
            writer.write(b"\x05\x00\x00\x01" + bytes(6))
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        except (ConnectionError, asyncio.IncompleteReadError):
            writer.close()


def socket_address(packed: bytes) -> str:
    import ipaddress

    return str(ipaddress.ip_address(packed))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


class H2Server(_SmallServer):
    """A minimal HTTP/2 server over TLS (ALPN h2, via the h2 package) on 127.0.0.1: it answers
    every request with 200 and the path, and counts connections and streams."""

    name = "test-h2"

    def __init__(self, context: ssl.SSLContext, *, first_answer_after: float = 0.0) -> None:
        context.set_alpn_protocols(["h2"])
        super().__init__(context)
        self.connections = 0
        self.streams = 0
        self.first_answer_after = first_answer_after  # seconds the very first answer is held back

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        import h2.config
        import h2.connection
        import h2.events

        self.connections += 1
        connection = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=False))
        connection.initiate_connection()
        writer.write(connection.data_to_send())
        try:
            while data := await reader.read(65536):
                for event in connection.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        self.streams += 1
                        if self.streams == 1 and self.first_answer_after:
                            await asyncio.sleep(self.first_answer_after)
                        path = dict(event.headers).get(b":path", b"/")
                        body = b"h2 " + path
                        connection.send_headers(
                            event.stream_id,
                            [(":status", "200"), ("content-type", "text/plain"), ("content-length", str(len(body)))],
                        )
                        connection.send_data(event.stream_id, body, end_stream=True)
                writer.write(connection.data_to_send())
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()
