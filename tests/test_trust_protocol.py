"""Issue 17, protocol items: servers that break HTTP get the same typed record on both backends,
in bounded memory and time; no cookie crosses from one URL to another; the private library
internals fetchcli still writes fail loudly, not silently. Each server here is a loopback socket
server written for the attack."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from fetchcli.errors import ConnectTimedOut, classify
from fetchcli.settings import Backend, RequestSettings, Settings, TimeoutSettings
from fetchcli.transport.client import build_client
from fetchcli.transport.httpxwire import OWN_TRANSPORT, own_failure
from tests.helpers import collect, fetchcli_in_clean_env, run, self_signed_context
from tests.server import LoopbackServer, _SmallServer


class RawServer:
    """A socket server on 127.0.0.1, one thread per connection: ``handle(server, conn, number)``
    answers each connection as the test wants. Counts the bytes handlers send, and keeps each
    request's target and headers."""

    def __init__(self, handle: Callable[[RawServer, socket.socket, int], None]) -> None:
        self._handle = handle
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.2)
        self.port = int(self._listener.getsockname()[1])
        self.stopping = threading.Event()
        self.sent = 0
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._lock = threading.Lock()
        self._connections: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, name="test-raw-server", daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _accept(self) -> None:
        number = 0
        while not self.stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            self._connections.append(conn)
            threading.Thread(target=self._run, args=(conn, number), daemon=True).start()
            number += 1

    def _run(self, conn: socket.socket, number: int) -> None:
        with contextlib.suppress(OSError, ssl.SSLError):
            self._handle(self, conn, number)
        conn.close()

    def send(self, conn: socket.socket, data: bytes) -> None:
        conn.sendall(data)
        with self._lock:
            self.sent += len(data)

    def read_request(self, conn: socket.socket) -> str | None:
        """One request head from ``conn``: its target (None when the client closed)."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            data += chunk
        line, *fields = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        headers = {name.strip().lower(): value.strip() for name, _, value in (f.partition(":") for f in fields)}
        target = line.split(" ")[1]
        with self._lock:
            self.requests.append((target, headers))
        return target

    def close(self) -> None:
        self.stopping.set()
        self._thread.join(timeout=5)
        for conn in self._connections:
            with contextlib.suppress(OSError):
                conn.close()
        self._listener.close()


@contextlib.contextmanager
def raw_server(handle: Callable[[RawServer, socket.socket, int], None]) -> Iterator[RawServer]:
    server = RawServer(handle)
    try:
        yield server
    finally:
        server.close()


def _answer(server: RawServer, conn: socket.socket, head: bytes, body: bytes = b"hi") -> None:
    """Read one request, send ``head`` (the status line and any headers, CRLF-terminated lines
    ending in the blank line) and a Content-Length ``body``."""
    if server.read_request(conn) is None:
        return
    server.send(conn, head.replace(b"\r\n\r\n", f"\r\nContent-Length: {len(body)}\r\n\r\n".encode(), 1) + body)
    server.stopping.wait(2)


# Informational (1xx) responses and statuses: item 10.


def _endless_processing(server: RawServer, conn: socket.socket, number: int) -> None:
    server.read_request(conn)
    burst = b"HTTP/1.1 102 Processing\r\n\r\n" * 2000
    while server.sent < 512 * 1024 * 1024 and not server.stopping.is_set():  # at most 512 MB, ever
        server.send(conn, burst)


@pytest.mark.live
def test_endless_informational_responses_are_a_protocol_error_in_bounded_memory(backend: Backend) -> None:
    """An endless stream of `102 Processing` grew aiohttp's memory without bound until --max-time
    (175 MB for one URL); now both backends give up after 100 of them. What the server could send
    before the client closed the connection is bounded by the socket buffers, not by the time."""
    settings = Settings(timeouts=TimeoutSettings(max_time=10))
    with raw_server(_endless_processing) as server:
        [result] = run([server.url("/")], settings, backend=backend)
        time.sleep(0.2)  # the server notices the closed connection
        sent = server.sent
    assert result.error is not None and result.error.type == "RemoteProtocolError", result.error
    assert "more than 100 informational (1xx) responses" in result.error.message
    assert sent < 16 * 1024 * 1024, sent


def _informational_then_ok(count: int, extra: bytes = b"") -> Callable[[RawServer, socket.socket, int], None]:
    def handle(server: RawServer, conn: socket.socket, number: int) -> None:
        if server.read_request(conn) is None:
            return
        server.send(conn, f"HTTP/1.1 103 Early Hints\r\n{extra.decode()}\r\n".encode() * count)
        server.send(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        server.stopping.wait(2)

    return handle


@pytest.mark.parametrize(
    ("count", "extra", "ok"),
    [
        (100, b"", True),  # the bound: 100 informational responses
        (101, b"", False),
        (3, b"Link: <" + b"x" * 8000 + b">\r\n", True),
        (9, b"Link: <" + b"x" * 8000 + b">\r\n", False),  # 9 x 8 KB: over 64 KiB of them
    ],
    ids=["100", "101", "3x8KB", "9x8KB"],
)
@pytest.mark.live
def test_informational_responses_are_bounded_alike_on_both_backends(
    backend: Backend, count: int, extra: bytes, ok: bool
) -> None:
    with raw_server(_informational_then_ok(count, extra)) as server:
        [result] = run([server.url("/")], backend=backend)
    if ok:
        assert result.ok and result.status == 200 and result.snippet == "ok", result.error
    else:
        assert result.error is not None and result.error.type == "RemoteProtocolError", result.error
        assert "informational (1xx) responses" in result.error.message


@pytest.mark.parametrize("status", ["000", "001", "099", "101", "600", "799", "999"])
@pytest.mark.live
def test_a_status_outside_100_to_599_or_an_unasked_101_is_a_protocol_error(backend: Backend, status: str) -> None:
    """aiohttp took 000, 001, 099 and 101 as ok responses, and both backends reported 600-999 as
    statuses: all break HTTP, the same way on both."""

    def handle(server: RawServer, conn: socket.socket, number: int) -> None:
        _answer(server, conn, f"HTTP/1.1 {status} Odd\r\n\r\n".encode())

    with raw_server(handle) as server:
        [result] = run([server.url("/")], backend=backend)
    assert result.error is not None and result.error.type == "RemoteProtocolError", result
    assert result.status is None and not result.ok
    expected = "no Upgrade" if status == "101" else f"status {status}, outside 100-599"
    assert expected in result.error.message


@pytest.mark.live
def test_a_101_to_a_request_that_asked_for_an_upgrade_is_a_response(backend: Backend) -> None:
    def handle(server: RawServer, conn: socket.socket, number: int) -> None:
        if server.read_request(conn) is not None:
            server.send(conn, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
            conn.shutdown(socket.SHUT_WR)

    asked = Settings(request=RequestSettings(headers=(("Upgrade", "websocket"), ("Connection", "Upgrade"))))
    with raw_server(handle) as server:
        [result] = run([server.url("/")], asked, backend=backend)
    assert result.status == 101 and result.error is None, result.error


# The certificate read after a CertificateError is inside --max-time: item 11.


def _handshake_once_then_stall(context: ssl.SSLContext) -> Callable[[RawServer, socket.socket, int], None]:
    def handle(server: RawServer, conn: socket.socket, number: int) -> None:
        if number == 0:  # the request's own handshake: the client refuses the certificate
            with contextlib.suppress(OSError, ssl.SSLError):
                context.wrap_socket(conn, server_side=True).close()
            return
        server.stopping.wait(120)  # the certificate read's handshake: never answered

    return handle


@pytest.mark.live
def test_the_certificate_read_after_a_certificate_error_is_within_max_time(tmp_path: Path, backend: Backend) -> None:
    """With `-t 0 -m 3`, a server that completes the first handshake (whose certificate fails
    verification) and stalls the second (the unverified one that reads the certificate) hung the
    run forever: the read ran after the URL's deadline was cancelled, with no timeout of its own."""
    with raw_server(_handshake_once_then_stall(self_signed_context(tmp_path))) as server:
        started = time.monotonic()
        done = fetchcli_in_clean_env(
            "--backend", backend.value, "-t", "0", "-m", "3", "-f", "jsonl", f"https://127.0.0.1:{server.port}/"
        )
        took = time.monotonic() - started
    record = json.loads(done.stdout)
    assert record["error"]["type"] == "CertificateError", record
    assert record["tls"] is None  # the stalled read gave nothing, and the record says why it failed
    assert took < 30, took
    assert done.returncode == 1


# No cookie jar: item 15.


def _cookie_site(server: RawServer, conn: socket.socket, number: int) -> None:
    while (target := server.read_request(conn)) is not None:
        if target == "/set":
            server.send(conn, b"HTTP/1.1 200 OK\r\nSet-Cookie: session=secret; Path=/\r\nContent-Length: 2\r\n\r\nok")
        elif target == "/hop":
            server.send(conn, b"HTTP/1.1 302 Found\r\nLocation: /landing\r\nContent-Length: 0\r\n\r\n")
        else:
            server.send(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


def _cookies_sent(server: RawServer) -> list[tuple[str, str]]:
    return [(target, headers["cookie"]) for target, headers in server.requests if "cookie" in headers]


@pytest.mark.live
def test_a_cookie_set_by_one_url_is_not_sent_on_another_urls_redirect(backend: Backend) -> None:
    settings = Settings(request=RequestSettings(follow_redirects=True), concurrency=1)
    with raw_server(_cookie_site) as server:
        first, second = run([server.url("/set"), server.url("/hop")], settings, backend=backend)
    assert first.ok and second.ok and second.final_url == server.url("/landing")
    assert [target for target, _ in server.requests] == ["/set", "/hop", "/landing"]
    assert _cookies_sent(server) == []


@pytest.mark.live
def test_a_redirect_drops_cookie_whatever_the_clients_jar_holds(backend: Backend) -> None:
    """The guarantee does not rest on the cookie jar: with a client whose jar keeps cookies (as
    fetchcli's did once a private write stopped working), a redirect still sends none."""
    settings = Settings(request=RequestSettings(follow_redirects=True), concurrency=1, backend=backend)

    async def main(server: RawServer) -> None:
        async with build_client(settings) as client:
            del OWN_TRANSPORT[client]  # sent through AsyncClient.send, as a client the caller made
            client.cookies = httpx.Cookies()  # a jar that keeps what it is given
            await collect([server.url("/set"), server.url("/hop")], settings, client=client)
            assert len(client.cookies.jar) == 1  # it did keep the cookie

    with raw_server(_cookie_site) as server:
        asyncio.run(main(server))
    assert _cookies_sent(server) == []


@pytest.mark.live
def test_fetchclis_cookie_jar_keeps_nothing(backend: Backend) -> None:
    """A long run with -L keeps no cookie in memory, and none could be sent."""
    settings = Settings(request=RequestSettings(follow_redirects=True), concurrency=1, backend=backend)

    async def main(server: RawServer) -> int:
        async with build_client(settings) as client:
            await collect([server.url("/set"), server.url("/hop")], settings, client=client)
            return len(client.cookies.jar)

    with raw_server(_cookie_site) as server:
        assert asyncio.run(main(server)) == 0


@pytest.mark.live
def test_user_cookie_header_is_sent_on_the_first_request_only(backend: Backend) -> None:
    settings = Settings(request=RequestSettings(follow_redirects=True, headers=(("Cookie", "mine=1"),)))
    with raw_server(_cookie_site) as server:
        [result] = run([server.url("/hop")], settings, backend=backend)
    assert result.ok
    assert _cookies_sent(server) == [("/hop", "mine=1")]


# The private writes that remain are guarded: item 15.


def _drop_the_second_request(server: RawServer, conn: socket.socket, number: int) -> None:
    """The first request on the first connection is answered (kept alive); the second request
    on it is read and the connection closed without an answer. Later connections answer."""
    if server.read_request(conn) is None:
        return
    server.send(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    if server.read_request(conn) is None:
        return
    if number == 0:
        return  # dropped: closed with no answer
    server.send(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


def _never_answer_2(server: RawServer, conn: socket.socket, number: int) -> None:
    """Answers every request but those for /2: on any connection, /2 is read and the
    connection closed without an answer."""
    while server.read_request(conn) not in (None, "/2"):
        server.send(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


@pytest.mark.parametrize(
    ("handle", "ok"), [(_drop_the_second_request, True), (_never_answer_2, False)], ids=["answered-then", "never"]
)
@pytest.mark.live
def test_a_request_on_a_dropped_kept_alive_connection_is_sent_again_once_and_counted(
    backend: Backend, handle: Callable[[RawServer, socket.socket, int], None], ok: bool
) -> None:
    """aiohttp sends an idempotent request again, by itself, when a connection fails (kept-alive
    or new), and counts it nowhere; fetchcli turns that off (``ClientSession._retry_connection``,
    no public switch) and resends by its own rule, the same on both backends: once, on a new
    connection, only after a kept-alive connection failed before any answer, and counted in
    `attempts`. So the server sees exactly the requests the record counts, never a third. Fails
    if the write is removed (aiohttp's own resends come on top: /2 answered with `attempts` 1,
    or /2 four times)."""
    settings = Settings(concurrency=1)
    with raw_server(handle) as server:
        first, second = run([server.url("/1"), server.url("/2")], settings, backend=backend)
        targets = [target for target, _ in server.requests]
    assert first.ok and first.attempts == 1
    assert second.ok is ok and second.attempts == 2, second
    assert ok or (second.error is not None and second.error.type == "RemoteProtocolError")
    assert targets == ["/1", "/2", "/2"]  # sent again once, on a new connection: no more


@pytest.mark.live
def test_an_aiohttp_without_the_private_attribute_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import aiohttp

    from fetchcli.cli.app import main

    monkeypatch.setattr(aiohttp.ClientSession, "ATTRS", frozenset(aiohttp.ClientSession.ATTRS) - {"_retry_connection"})
    with raw_server(_cookie_site) as server, contextlib.redirect_stderr(io.StringIO()) as err:
        status = main(["--backend", "aiohttp", "-f", "jsonl", server.url("/ok")])
    assert status == 2
    message = err.getvalue()
    assert f"aiohttp {aiohttp.__version__} has no ClientSession._retry_connection" in message
    assert message.count("\n") == 1 and "Traceback" not in message
    assert server.requests == []


def test_the_httpx_backend_connects_through_fetchclis_network_backend(
    server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The network backend is handed to httpcore's pool by its public parameter (it was a write
    to the pool's private ``_network_backend``): its connections are made by it."""
    from fetchcli.transport.netbackend import TimedBackend

    made: list[str] = []
    connect = TimedBackend.connect_tcp

    async def counted(self: TimedBackend, host: str, port: int, *args: object, **kwargs: object) -> object:
        made.append(host)
        return await connect(self, host, port, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(TimedBackend, "connect_tcp", counted)
    [result] = run([server.url("/ok/network-backend")], backend=Backend.httpx)
    assert result.ok and made == ["127.0.0.1"]


# Typed errors instead of Unexpected.


@pytest.mark.parametrize(
    ("location", "error_type", "words"),
    [
        ("javascript:alert(1)", "UnsupportedRedirect", "'javascript'"),
        ("data:text/html,hi", "UnsupportedRedirect", "'data'"),
        ("http://127.0.0.1:99999/", "InvalidRedirect", "invalid port '99999'"),
        ("//:99999/x", "InvalidRedirect", "no host"),
        ("http://a..b/", "InvalidRedirect", "invalid host"),
        ("http://[::1/", "InvalidRedirect", "not a URL"),
    ],
)
def test_a_redirect_fetchcli_cannot_follow_is_a_typed_error(
    server: LoopbackServer, backend: Backend, location: str, error_type: str, words: str
) -> None:
    url = server.url("/location?to=" + urllib.parse.quote(location, safe=""))
    follow = Settings(request=RequestSettings(follow_redirects=True))
    [followed] = run([url], follow, backend=backend)
    assert followed.error is not None and followed.error.type == error_type, followed.error
    assert words in followed.error.message
    # Not followed, it is a redirect like any other (also through AsyncClient.send, which
    # credentials in the URL take, and where httpx worked the next request out and failed).
    with_credentials = url.replace("http://", "http://user:pw@")
    plain, sent = run([url, with_credentials], backend=backend)
    assert plain.status == sent.status == 302 and plain.error is None and sent.error is None


class _ContinuationFlood(_SmallServer):
    """An HTTP/2 server that answers each request with HEADERS and then CONTINUATION frames,
    never END_HEADERS (20,000 of them: h2 refuses more than 64)."""

    name = "test-h2-flood"

    def __init__(self, context: ssl.SSLContext) -> None:
        context.set_alpn_protocols(["h2"])
        super().__init__(context)
        self.frames = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        import h2.config
        import h2.connection
        import h2.events
        from hyperframe.frame import ContinuationFrame, HeadersFrame

        connection = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=False))
        connection.initiate_connection()
        writer.write(connection.data_to_send())
        try:
            while data := await reader.read(65536):
                for event in connection.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        writer.write(connection.data_to_send())
                        block = connection.encoder.encode([(":status", "200")])
                        writer.write(HeadersFrame(event.stream_id, data=block).serialize())
                        more = ContinuationFrame(event.stream_id, data=b"\x40\x01a\x01b").serialize() * 100
                        while self.frames < 20_000 and not writer.is_closing():  # h2 gives up after 64
                            writer.write(more)
                            self.frames += 100
                            await writer.drain()
                writer.write(connection.data_to_send())
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()


@pytest.mark.live
def test_an_http2_continuation_flood_is_a_protocol_error(tmp_path: Path) -> None:
    pytest.importorskip("h2")
    flood = _ContinuationFlood(self_signed_context(tmp_path)).start()
    try:
        settings = Settings(request=RequestSettings(http2=True, insecure=True))
        [result] = run([f"https://127.0.0.1:{flood.port}/"], settings)
    finally:
        flood.stop()
    assert result.error is not None and result.error.type == "RemoteProtocolError", result.error
    assert "continuation" in result.error.message.lower()


def test_a_timeout_says_so_in_fetchclis_words_not_anyios(server: LoopbackServer, backend: Backend) -> None:
    """On the httpx backend a read timeout's only text was anyio's "Cancelled via cancel scope
    7f...; reason: deadline exceeded", from the cancellation behind it."""
    [result] = run([server.url("/hang")], Settings(timeouts=TimeoutSettings(read=0.3)), backend=backend)
    assert result.error is not None and result.error.type == "ReadTimeout"
    assert "cancel" not in result.error.message.lower(), result.error.message


def test_a_cancellations_text_is_never_the_message() -> None:
    cancelled = asyncio.CancelledError("Cancelled via cancel scope 7f0a1b2c3d4e; reason: deadline exceeded")
    for outer in (httpx.ConnectTimeout(""), httpx.ReadTimeout(""), RuntimeError("")):
        inner = TimeoutError()
        inner.__context__ = cancelled
        outer.__cause__ = inner
        ours = own_failure(outer) or outer  # as the httpx wire raises it
        if ours is not outer:
            ours.__cause__ = outer
        info = classify(ours)
        assert "cancel scope" not in info.message and "7f0a1b2c3d4e" not in info.message, info
    assert classify(ConnectTimedOut("")).message == "timed out while connecting"
