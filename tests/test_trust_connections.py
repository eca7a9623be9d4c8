"""Issue 18, connection items: a kept-alive connection the server closed while it lay idle is no
failure (the request is sent again once, on a new connection, as browsers and urllib3 do), and a
chunk size no HTTP/1.1 client can honour is the same error, at once, on both backends. Each server
here is a loopback asyncio server written for the case; the tests count what it saw."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpcore
import pytest

from fetchcli.models import FetchResult
from fetchcli.settings import Backend, RequestSettings, RetrySettings, Settings, TimeoutSettings
from fetchcli.transport.client import build_client
from fetchcli.transport.hints import CURRENT, PhaseClock
from fetchcli.transport.netbackend import ConnectionStream
from tests.helpers import fetchcli_in_clean_env, run, self_signed_context
from tests.server import LoopbackServer

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@dataclasses.dataclass
class Seen:
    connections: int = 0
    requests: int = 0  # request heads read, answered or not
    answered: int = 0
    targets: list[str] = dataclasses.field(default_factory=list)


class ClosingServer:
    """An HTTP/1.1 server on 127.0.0.1 (asyncio, in a thread of its own) that answers the first
    request of each connection and then closes it, ``close_after`` seconds later, as a server
    whose keep-alive timeout is that short does: it sends its FIN and reads whatever requests
    still arrive (a lingering close, as nginx does), counting them, but answers none.

    ``keep_first``: the first connection waits for a second request instead (so the client
    reuses it for sure), reads it and closes, sending first ``second`` if given (the beginning
    of an answer). ``never``: a target no connection answers (read, then the connection closed)."""

    def __init__(
        self,
        close_after: float = 0.0,
        *,
        keep_first: bool = False,
        second: bytes | None = None,
        never: str = "",
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._ssl = ssl_context
        self.close_after = close_after
        self.keep_first = keep_first
        self.second = second
        self.never = never
        self.seen = Seen()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._thread = threading.Thread(target=self._run, name="test-closing-server", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        assert self._server is not None
        self.port: int = int(self._server.sockets[0].getsockname()[1])

    def url(self, path: str) -> str:
        return f"{'https' if self._ssl else 'http'}://127.0.0.1:{self.port}{path}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=512, ssl=self._ssl)
        )
        self._ready.set()
        self._loop.run_forever()

    async def _request(self, reader: asyncio.StreamReader) -> str | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            return None
        self.seen.requests += 1
        target = head.split(b" ", 2)[1].decode("ascii", "replace")
        self.seen.targets.append(target)
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        if length:
            await reader.readexactly(length)
        return target

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = self.seen.connections
        self.seen.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            if await self._request(reader) in (None, self.never):
                return
            self.seen.answered += 1
            writer.write(OK)
            await writer.drain()
            if number == 0 and self.keep_first:
                if await self._request(reader) is None:  # the test's second request, on this connection
                    return
                if self.second is not None:
                    writer.write(self.second)
                    await writer.drain()
                writer.close()
                return
            if self.close_after:
                await asyncio.sleep(self.close_after)
            if self._ssl is not None:  # TLS has no half-close: close_notify, and the socket closed
                return
            writer.write_eof()  # closed, from the server's side
            while await self._request(reader) is not None:  # lingering: read, never answer
                pass
        except (ConnectionError, asyncio.CancelledError):  # cancelled by close(): ends as done
            pass
        finally:
            writer.close()
            self._handlers.discard(task)

    def close(self) -> None:
        async def stop() -> None:
            assert self._server is not None
            self._server.close()
            handlers = list(self._handlers)
            for handler in handlers:
                handler.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@contextmanager
def closing_server(close_after: float = 0.0, **kwargs: object) -> Iterator[ClosingServer]:
    server = ClosingServer(close_after, **kwargs)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.close()


def _settings(backend: Backend, *, concurrency: int = 10, **request: object) -> Settings:
    return Settings(
        concurrency=concurrency,
        backend=backend,
        request=RequestSettings(**request),  # type: ignore[arg-type]
        timeouts=TimeoutSettings(timeout=10, max_time=30),
    )


# Item 5: a kept-alive connection the server closed while it lay idle.


@pytest.fixture(scope="module")
def tls_context(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    return self_signed_context(tmp_path_factory.mktemp("tls"))


@pytest.mark.parametrize(
    ("close_after", "tls", "count"),
    [(0.0, False, 200), (0.05, False, 200), (0.0, True, 50)],
    ids=["closed-at-once", "closed-after-50ms", "tls-closed-at-once"],
)
@pytest.mark.live
def test_a_connection_the_server_closed_while_idle_is_no_failure(
    backend: Backend, close_after: float, tls: bool, count: int, tls_context: ssl.SSLContext
) -> None:
    """Healthy URLs from a server that closes each kept-alive connection after one answer (at
    once, or 50 ms later): 100 of 200 failed with RemoteProtocolError. Now a request that fails
    on a reused connection before any byte of an answer is sent again, once, on a new
    connection: all are ok, `attempts` counts every request the server read, and every
    connection the server accepted answered exactly one request (so no resend went on a reused
    one). Over TLS the server closes at once (TLS has no half-close) and cannot count the
    requests it did not read."""
    with closing_server(close_after, ssl_context=tls_context if tls else None) as server:
        settings = _settings(backend, insecure=tls)
        results = run([server.url(f"/ok/{n}") for n in range(count)], settings)
        seen = server.seen
    failed = [(r.url, r.error) for r in results if not r.ok]
    assert failed == []
    assert all(r.attempts in (1, 2) for r in results)
    assert all(r.remote_ip == "127.0.0.1" for r in results)  # asked of a connection since closed
    if tls:
        assert seen.requests <= sum(r.attempts for r in results)
    else:
        assert sum(r.attempts for r in results) == seen.requests  # each resend counted, none hidden
    assert seen.answered == count == seen.connections
    if close_after:  # reused within 50 ms: the resend happened
        assert any(r.attempts == 2 for r in results)


def _comparable(result: FetchResult) -> tuple[FetchResult, tuple[str, ...]]:
    """A record without what differs between two runs: the port, the times."""
    phases = tuple(
        name for name, value in (result.timing.to_dict() if result.timing else {}).items() if value is not None
    )
    fields = dataclasses.replace(
        result, url="", final_url=None, remote_port=None, fetched_at="", elapsed_ms=0, queued_ms=0, timing=None
    )
    return fields, phases


@pytest.mark.live
def test_both_backends_give_the_same_records_for_a_request_the_server_dropped_unread() -> None:
    """The server answers /1 and keeps the connection open; /2 goes on it (kept alive), and the
    server closes it without an answer. Both backends send /2 again, on a new connection, and
    give the same records: /2 ok after 2 attempts, timed as the new connection it went on."""
    records = {}
    for backend in (Backend.aiohttp, Backend.httpx):
        with closing_server(keep_first=True) as server:
            results = run([server.url("/1"), server.url("/2")], _settings(backend, concurrency=1))
            seen = server.seen
        assert seen.targets == ["/1", "/2", "/2"] and seen.connections == 2, (backend, seen)
        records[backend] = [_comparable(result) for result in results]
    first, second = records[Backend.aiohttp]
    assert first[0].ok and first[0].attempts == 1
    assert second[0].ok and second[0].attempts == 2 and second[0].status == 200, second
    assert second[1] == ("connect_ms", "ttfb_ms")  # the phases of the resend: a new connection
    assert records[Backend.aiohttp] == records[Backend.httpx]


@pytest.mark.parametrize(
    ("method", "all_methods", "resent"),
    [
        ("GET", False, True),
        ("DELETE", False, True),
        ("PUT", False, True),
        ("POST", False, False),
        ("PATCH", False, False),
        ("POST", True, True),
    ],
    ids=["GET", "DELETE", "PUT", "POST", "PATCH", "POST-retry-all-methods"],
)
@pytest.mark.live
def test_only_an_idempotent_request_is_sent_again(
    backend: Backend, method: str, all_methods: bool, resent: bool
) -> None:
    """A POST the server may have acted on is not sent again behind the user's back (a record
    with the error), unless --retry-all-methods says it may be, as for --retries."""
    settings = dataclasses.replace(
        _settings(backend, concurrency=1, method=method), retry=RetrySettings(retries=0, all_methods=all_methods)
    )
    with closing_server(keep_first=True) as server:
        first, second = run([server.url("/1"), server.url("/2")], settings)
        targets = server.seen.targets
    assert first.ok
    if resent:
        assert second.ok and second.attempts == 2, second
        assert targets == ["/1", "/2", "/2"]
    else:
        assert second.error is not None and second.error.type == "RemoteProtocolError" and second.attempts == 1, second
        assert targets == ["/1", "/2"]


@pytest.mark.parametrize(
    ("flags", "status", "attempts", "seen"),
    [([], 1, 1, ["/1", "/2"]), (["--retry-all-methods"], 0, 2, ["/1", "/2", "/2"])],
    ids=["POST", "POST-retry-all-methods"],
)
@pytest.mark.live
def test_the_cli_sends_a_post_again_only_when_told(
    backend: Backend, flags: list[str], status: int, attempts: int, seen: list[str]
) -> None:
    """As a user runs it: `-X POST` on a connection the server dropped unread is an error record
    and exit 1; with --retry-all-methods it is sent again on a new connection, ok, exit 0."""
    with closing_server(keep_first=True) as server:
        done = fetchcli_in_clean_env(
            "--backend",
            backend.value,
            "-c",
            "1",
            "-X",
            "POST",
            "-f",
            "jsonl",
            *flags,
            server.url("/1"),
            server.url("/2"),
        )
        targets = server.seen.targets
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert done.returncode == status, done.stderr
    assert [r["attempts"] for r in records] == [1, attempts]
    assert targets == seen


@pytest.mark.parametrize(
    "second",
    [b"H", b"HTTP/1.1 200 OK\r\nContent-", b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"],
    ids=["one-byte", "half-a-head", "short-body"],
)
@pytest.mark.live
def test_a_request_whose_answer_had_begun_is_not_sent_again(backend: Backend, second: bytes) -> None:
    """The server read the request and began to answer: it may have acted on it, and the
    failure is its answer's (RemoteProtocolError, once), not a connection closed while idle."""
    with closing_server(keep_first=True, second=second) as server:
        first, failed = run([server.url("/1"), server.url("/2")], _settings(backend, concurrency=1))
        targets = server.seen.targets
    assert first.ok
    assert failed.error is not None and failed.error.type == "RemoteProtocolError" and failed.attempts == 1, failed
    assert targets == ["/1", "/2"]


@pytest.mark.live
def test_the_resend_is_not_a_retry(backend: Backend) -> None:
    """The resend happens whatever --retries says, and takes none of its tries: with --retries 1,
    a request that no connection answers is sent on the kept-alive connection, again on a new
    one, then tried once more (a new connection: not sent again): 3 attempts, all seen."""
    settings = dataclasses.replace(
        _settings(backend, concurrency=1), retry=RetrySettings(retries=1, backoff=0.01, max_wait=0.05)
    )
    with closing_server(keep_first=True, never="/2") as server:
        first, failed = run([server.url("/1"), server.url("/2")], settings)
        targets = server.seen.targets
    assert first.ok
    assert failed.error is not None and failed.error.type == "RemoteProtocolError" and failed.attempts == 3, failed
    assert targets == ["/1", "/2", "/2", "/2"]


def test_a_request_asking_for_a_fresh_connection_gets_one_and_the_kept_one_stays(
    fresh_server: LoopbackServer, backend: Backend
) -> None:
    """The transport contract the resend rests on, on both backends: each request is told
    whether its connection was a kept-alive one (and then whether an answer began); a request
    whose clock asks for a ``fresh`` connection opens one, and the kept-alive connection is
    not closed for it (the next request takes one of the two)."""
    told: list[tuple[bool, bool]] = []

    async def go() -> None:
        async with build_client(Settings(backend=backend)) as client:
            for fresh in (False, True, False, False):
                clock = PhaseClock(fresh=fresh)
                token = CURRENT.set(clock)
                try:
                    response = await client.get(fresh_server.url("/ok/fresh"))
                finally:
                    CURRENT.reset(token)
                assert response.status_code == 200
                told.append((clock.reused, clock.answered))

    asyncio.run(go())
    assert told == [(False, False), (False, False), (True, True), (True, True)]
    assert fresh_server.stats.accepted == 2


def test_an_aiohttp_without_the_connector_internals_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """The resend rests on two of aiohttp's connector internals (``_get``, ``_factory``): one
    renamed is a one-line usage error naming it, not a resend that silently never happens."""
    import aiohttp

    from fetchcli.settings import SettingsError
    from fetchcli.transport.aio import require_private_api

    require_private_api()
    monkeypatch.delattr(aiohttp.BaseConnector, "_get")
    with pytest.raises(SettingsError, match=r"has no BaseConnector\._get"):
        require_private_api()


# Item 17: a chunk size no client can honour, followed by an open connection.

CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
OVER = b"ffffffffffffffffffff"  # 20 hex digits: 2^80 - 1, which h11 takes and aiohttp refuses


class ScriptServer:
    """An HTTP/1.1 server on 127.0.0.1 (asyncio, in a thread of its own) that answers every
    request with ``parts``, 50 ms apart (so that the client reads them apart), and then keeps
    the connection open for the next request, or until the client closes it."""

    def __init__(self, parts: list[bytes]) -> None:
        self.parts = parts
        self.connections = 0
        self.requests = 0
        self._loop = asyncio.new_event_loop()
        self._handlers: set[asyncio.Task[None]] = set()
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self._server = server
        self.port: int = int(server.sockets[0].getsockname()[1])
        self._thread = threading.Thread(target=self._loop.run_forever, name="test-script-server", daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                self.requests += 1
                for number, part in enumerate(self.parts):
                    if number:
                        await asyncio.sleep(0.05)
                    writer.write(part)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            self._handlers.discard(task)

    def close(self) -> None:
        async def stop() -> None:
            self._server.close()
            handlers = list(self._handlers)
            for handler in handlers:
                handler.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@contextmanager
def script_server(parts: list[bytes]) -> Iterator[ScriptServer]:
    server = ScriptServer(parts)
    try:
        yield server
    finally:
        server.close()


@pytest.mark.parametrize(
    "parts",
    [
        [CHUNKED + OVER + b"\r\nabc\r\n"],
        [CHUNKED, OVER + b"\r\nabc\r\n"],
        [CHUNKED + b"3\r\nabc\r\n" + OVER[:9], OVER[9:] + b"\r\nabc"],
        [CHUNKED + b"10000000000000000;name=value\r\nabc"],  # 2^64: one over the largest
    ],
    ids=["with-the-head", "after-the-head", "second-chunk-split", "2^64-with-extension"],
)
@pytest.mark.live
def test_a_chunk_size_over_2_64_is_a_protocol_error_at_once_on_both_backends(parts: list[bytes]) -> None:
    """A chunk size of 20 hex digits on a connection left open: aiohttp said RemoteProtocolError
    at once, the httpx backend waited for the read timeout (h11 takes sizes up to 2^80 - 1). Now
    both refuse a size over 2^64 - 1 at once. The read timeout is 20 s: reaching it would be a
    ReadTimeout, not this error. Where the head came before the bad chunk, the response is kept
    with its error (status 200); sent with the head, it fails the head's read (no status)."""
    outcomes = {}
    for backend in (Backend.aiohttp, Backend.httpx):
        settings = Settings(backend=backend, timeouts=TimeoutSettings(timeout=20, max_time=60))
        with script_server(parts) as server:
            [result] = run([server.url("/chunked")], settings)
        assert result.error is not None, (backend, result)
        outcomes[backend] = (result.status, result.error.type, result.attempts)
    status = None if len(parts) == 1 else 200  # one part: the bad chunk came with the head
    assert outcomes[Backend.aiohttp] == outcomes[Backend.httpx] == (status, "RemoteProtocolError", 1)


@pytest.mark.parametrize(
    ("parts", "body"),
    [
        ([CHUNKED + b"16\r\n" + OVER + b"\r\n\r\n0\r\n\r\n"], OVER + b"\r\n"),
        ([CHUNKED + b"16\r\n" + OVER[:10], OVER[10:] + b"\r\n\r\n0\r\n\r\n"], OVER + b"\r\n"),
        ([CHUNKED + b"0000000000000000000", b"3\r\nabc\r\n0\r\n\r\n"], b"abc"),
        ([CHUNKED + b"3;name=value\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: 1\r\n\r\n"], b"abcde"),
        (
            [
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-",
                b"Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            ],
            b"abc",
        ),
    ],
    ids=["size-like-data", "size-like-data-split", "leading-zeros-split", "extensions-trailers", "after-a-1xx"],
)
@pytest.mark.live
def test_chunked_bodies_that_keep_the_rules_are_read_alike(backend: Backend, parts: list[bytes], body: bytes) -> None:
    """What follows the chunk sizes tells data from sizes (a line of 20 hex digits inside a
    chunk's data is data), and ends with the body: the connection is kept alive for the next
    request, whose body is followed afresh."""
    with script_server(parts) as server:
        results = run([server.url("/1"), server.url("/2")], _settings(backend, concurrency=1))
        connections = server.connections
    for result in results:
        assert result.ok and result.snippet == body.decode().strip(), result
        assert result.bytes_read == len(body)
    assert connections == 1


@pytest.mark.live
@pytest.mark.slow  # seconds of timers
def test_the_largest_chunk_size_is_waited_for_on_both_backends() -> None:
    """2^64 - 1 is a size both parsers take: both wait for its data (ReadTimeout), the response
    kept with its error."""
    outcomes = set()
    for backend in (Backend.aiohttp, Backend.httpx):
        settings = Settings(backend=backend, timeouts=TimeoutSettings(timeout=1, max_time=30))
        with script_server([CHUNKED + b"ffffffffffffffff\r\nabc"]) as server:
            [result] = run([server.url("/largest")], settings)
        outcomes.add((result.status, result.error.type if result.error else None))
    assert outcomes == {(200, "ReadTimeout")}


class _Reads(httpcore.AsyncNetworkStream):
    """A connection's socket that gives ``parts``, one a read."""

    def __init__(self, parts: list[bytes]) -> None:
        self.parts = parts

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.parts.pop(0) if self.parts else b""

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        return None

    async def aclose(self) -> None:
        return None

    def get_extra_info(self, info: str) -> object:
        return None


async def _follow(parts: list[bytes], head_size: int) -> str | None:
    """Read ``parts`` as httpcore does on a ``ConnectionStream``: up to the read that ends the
    response's head (``head_size`` bytes, 1xx heads included), then the body, told chunked; the
    error, if any."""
    stream = ConnectionStream(_Reads(list(parts)))
    await stream.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    read = 0
    try:
        while read < head_size:
            read += len(await stream.read(65536))
        stream.body_begins(chunked=True)
        while await stream.read(65536):
            pass
    except httpcore.RemoteProtocolError as exc:
        return str(exc)
    return None


def _splits(data: bytes, step: int) -> Iterator[list[bytes]]:
    for i in range(1, len(data)):
        yield [data[:i], data[i:]]
    for i in range(1, len(data), step):
        for j in range(i + 1, len(data), step):
            yield [data[:i], data[i:j], data[j:]]


@pytest.mark.parametrize(
    ("head", "body", "refused"),
    [
        (b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + CHUNKED, b"3\r\nabc\r\n" + OVER + b";x=1\r\nabc", True),
        (CHUNKED, b"16\r\n" + OVER + b"\r\n\r\n0000000000000000003\r\nabc\r\n0\r\nTrailer: 1\r\n\r\n", False),
    ],
    ids=["too-large-after-a-1xx", "size-like-data-and-leading-zeros"],
)
def test_chunk_sizes_are_followed_however_the_bytes_are_split(head: bytes, body: bytes, refused: bool) -> None:
    """The httpx backend's follower of chunk sizes, given the same response split into two or
    three reads at every place (a head's end, a size line or a chunk's CRLF across reads): the
    same verdict each time."""

    async def verdicts() -> set[str | None]:
        return {await _follow(parts, len(head)) for parts in _splits(head + body, 5)}

    found = asyncio.run(verdicts())
    if refused:
        assert found == {"the server sent a chunk size over 2^64-1 bytes (ffffffffffffffffffff)"}
    else:
        assert found == {None}
