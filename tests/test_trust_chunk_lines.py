"""Review of issue 18, finding 9 (part): a chunked body whose size lines end in a bare LF fails
at once with ``RemoteProtocolError`` on both backends (the httpx backend waited for a CRLF that
never came, until ``ReadTimeout``). The server sends the body and keeps the connection open."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from fetchcli.settings import Backend, Settings, TimeoutSettings
from tests.helpers import run
from tests.server import _SmallServer

_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n"
BODIES = {
    "bare-LF": _HEAD + b"5\nhello\n0\n\n",
    "bare-LF-split": _HEAD + b"5\r\nhello\r\n3",  # the rest, "\nabc...", in a later write
}


class RawServer(_SmallServer):
    """Answers any request with ``BODIES[path]``, then keeps the connection open."""

    name = "test-raw-chunks"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            name = head.split(b" ", 2)[1].decode().strip("/")
            writer.write(BODIES[name])
            await writer.drain()
            if name.endswith("-split"):
                await asyncio.sleep(0.2)
                writer.write(b"\nabc\r\n0\r\n\r\n")
                await writer.drain()
            await reader.read()  # until the client closes
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


@pytest.fixture(scope="module")
def raw() -> Iterator[RawServer]:
    server = RawServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("name", sorted(BODIES))
def test_a_bare_lf_chunk_line_fails_at_once(raw: RawServer, backend: Backend, name: str) -> None:
    settings = Settings(timeouts=TimeoutSettings(timeout=5))  # a ReadTimeout would take 5 s
    [result] = run([f"http://127.0.0.1:{raw.port}/{name}"], settings, backend=backend)
    assert result.error is not None and result.error.type == "RemoteProtocolError", result.error
