"""Review of issue 18, findings 2 and 5: ``attempts`` is the number of requests sent for the
URL (each try, each redirect hop, each resend on a new connection), so the records' attempts add
up to the requests the server saw; a request that never left the connection pool (cancelled by
--deadline while waiting for a connection, or ``PoolTimeout``) was not sent: no attempt, no
``elapsed_ms``, and ``queued_ms`` is the wait. Each server counts the requests it reads."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace

import pytest

from fetchcli import FetchResult, fetch
from fetchcli.engine.run import Stop
from fetchcli.settings import Backend, PoolSettings, RequestSettings, RetrySettings, Settings, TimeoutSettings
from tests.helpers import run
from tests.server import _SmallServer


class CountingServer(_SmallServer):
    """Reads requests and counts them. ``hang``: never answers (the connection stays open until
    the client closes it). ``loopclose``: the first request of a connection gets a 302 to
    /same (kept alive); a later one on that connection is read, then the connection is closed."""

    name = "test-counting-server"

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode
        self.requests = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served = 0
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                self.requests += 1
                served += 1
                if self.mode == "hang":
                    await reader.read()  # until the client gives up
                    return
                if served > 1:
                    return  # read, not answered: closed
                writer.write(b"HTTP/1.1 302 Found\r\nLocation: /same\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


pytestmark = pytest.mark.live  # every test here starts a loopback server


@pytest.fixture
def hanging() -> Iterator[CountingServer]:
    server = CountingServer("hang").start()
    try:
        yield server
    finally:
        server.stop()


def test_urls_waiting_in_the_pool_at_the_deadline_were_not_sent(hanging: CountingServer, backend: Backend) -> None:
    settings = Settings(
        pool=PoolSettings(max_connections=1), concurrency=5, deadline=2, timeouts=TimeoutSettings(timeout=0)
    )
    results = run([f"http://127.0.0.1:{hanging.port}/{n}" for n in range(5)], settings, backend=backend)
    # the one sent is Cancelled; the four waiting for the pool's one connection never left
    # fetchcli: NotStarted, with the time they waited
    assert sorted(r.error.type for r in results if r.error is not None) == ["Cancelled"] + ["NotStarted"] * 4
    assert hanging.requests == 1
    assert sum(r.attempts for r in results) == hanging.requests
    unsent = [r for r in results if r.attempts == 0]
    assert len(unsent) == 4
    for result in unsent:
        assert result.elapsed_ms is None and result.queued_ms is not None and result.queued_ms > 0


def test_pool_timeouts_are_no_attempts(hanging: CountingServer, backend: Backend) -> None:
    settings = Settings(
        pool=PoolSettings(max_connections=1),
        concurrency=5,
        timeouts=TimeoutSettings(timeout=0, pool=0.2),
        retry=RetrySettings(retries=2, backoff=0.01),
    )
    stop = Stop()

    def finished(result: FetchResult) -> None:  # the four PoolTimeouts made: end the hanging one
        pool_timeouts.append(result)
        if len(pool_timeouts) == 4:
            stop.request("test")

    pool_timeouts: list[FetchResult] = []

    async def main() -> list[FetchResult]:
        urls = [f"http://127.0.0.1:{hanging.port}/{n}" for n in range(5)]
        return [r async for r in fetch(urls, replace(settings, backend=backend), stop=stop, on_finished=finished)]

    results = asyncio.run(main())
    types = sorted(r.error.type for r in results if r.error is not None)
    assert types == ["Cancelled"] + ["PoolTimeout"] * 4
    assert hanging.requests == 1
    assert sum(r.attempts for r in results) == hanging.requests
    for result in results:
        if result.error is not None and result.error.type == "PoolTimeout":
            assert result.attempts == 0 and result.elapsed_ms is None and result.queued_ms is not None


def test_attempts_count_every_redirect_and_resend(backend: Backend) -> None:
    server = CountingServer("loopclose").start()
    try:
        settings = Settings(request=RequestSettings(follow_redirects=True, max_redirects=5))
        [result] = run([f"http://127.0.0.1:{server.port}/same"], settings, backend=backend)
    finally:
        server.stop()
    assert result.error is not None and result.error.type == "TooManyRedirects"
    assert server.requests == 1 + 5 * 2  # each hop after the first: read and closed, then resent
    assert result.attempts == server.requests
