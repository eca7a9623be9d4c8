"""Review of issue 18, finding 8: the resend of a request on a new connection (after a kept-alive
connection the server had closed) is a request to the host like any other: it waits for its
``--rate`` and ``--host-rate`` turn (it went out a few milliseconds after the failed one)."""

from __future__ import annotations

import asyncio
import time

import pytest

from fetchcli.settings import Backend, PolitenessSettings, Settings
from tests.helpers import run
from tests.server import _SmallServer


class IdleClosingServer(_SmallServer):
    """Answers the first request of each connection (kept alive); a later request on it is read,
    then the connection is closed unanswered. Notes when each request came."""

    name = "test-idle-closing"

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[float] = []

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served = 0
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                self.seen.append(time.monotonic())
                served += 1
                if served > 1:
                    return
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


@pytest.mark.live
@pytest.mark.parametrize("which", ["rate", "host_rate"])
def test_the_resend_waits_for_its_politeness_turn(backend: Backend, which: str) -> None:
    server = IdleClosingServer().start()
    try:
        polite = PolitenessSettings(rate=4.0) if which == "rate" else PolitenessSettings(host_rate=4.0)
        settings = Settings(concurrency=1, politeness=polite)
        results = run([f"http://127.0.0.1:{server.port}/{n}" for n in range(3)], settings, backend=backend)
    finally:
        server.stop()
    assert all(r.ok for r in results)
    # A later URL goes on a kept-alive connection, which the server reads and closes: sent again.
    # Every request the server saw is counted, and at 4 a second they are a quarter second apart.
    requests = len(server.seen)
    assert requests > 3 and sum(r.attempts for r in results) == requests
    # Without the turn, each resend came at once: 5 requests in 0.5 s. A quarter second of slack.
    assert server.seen[-1] - server.seen[0] >= 0.25 * (requests - 2)
