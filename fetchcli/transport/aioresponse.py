"""The default wire's responses (``aio.py``): ``PeerResponse``, aiohttp's response that remembers
its connection's peer address and TLS object and bounds the informational (1xx) responses ahead
of it (``protocol.py``); ``AiohttpStream``, its body as the transport contract's stream, which
hands the connection back to the pool (or closes it) and frees the request's slot.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp

from fetchcli.errors import ProtocolBroken
from fetchcli.transport.aiofailures import MAPPED_FAILURES, own_failure
from fetchcli.transport.protocol import InformationalBudget, is_informational


class PeerResponse(aiohttp.ClientResponse):
    """Remembers the address its connection went to and its TLS object, read when the response
    starts (a small body is read whole at once, and its connection released before the caller
    could ask)."""

    peer: Any = None
    ssl_object: Any = None

    async def start(self, connection: Any) -> Any:
        transport = connection.transport
        if transport is not None:
            self.peer = transport.get_extra_info("peername")
            self.ssl_object = transport.get_extra_info("ssl_object")
        protocol = connection.protocol
        if protocol is None:
            return await super().start(connection)
        # aiohttp's start() reads messages from the connection's protocol, skipping informational
        # ones without a limit: bounded here, as on the httpx backend (protocol.py).
        protocol.read = _bounded_informational(protocol.read)
        try:
            return await super().start(connection)
        finally:
            del protocol.read


def _bounded_informational(read: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[Any]]:
    budget = InformationalBudget()

    async def bounded_read() -> Any:
        message, payload = await read()
        if is_informational(message.code):
            # Its size as it came: the status line and the headers, each with its CRLF, and the
            # blank line (what the httpx backend counts).
            size = 17 + len(message.reason) + sum(len(k) + len(v) + 4 for k, v in message.raw_headers)
            problem = budget.spend(size)
            if problem is not None:
                raise ProtocolBroken(problem)
        return message, payload

    return bounded_read


class AiohttpStream:
    __slots__ = ("_complete", "_done", "_response", "_slot")

    def __init__(self, response: aiohttp.ClientResponse, slot: asyncio.Semaphore) -> None:
        self._response = response
        self._slot = slot
        self._complete = False
        self._done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except MAPPED_FAILURES as exc:
            translated = own_failure(exc)
            if translated is None:  # pragma: no cover - ClientError is in the table
                raise
            raise translated from exc
        self._complete = True

    async def aclose(self) -> None:
        if self._done:
            return
        self._done = True
        try:
            if self._complete:
                self._response.release()  # back to the pool for reuse
            else:
                self._response.close()  # not read to its end: the connection cannot be reused
        finally:
            self._slot.release()
