"""A connection pool made of many one-connection pools, routed in O(1) per request.

Why: httpcore's ``AsyncConnectionPool`` re-examines every connection for every queued request
on every pool event, so its cost per request grows with the pool and a run's cost with the
square of the concurrency (encode/httpx#3215). Here each shard is httpx's ordinary transport
(``coretransport.py``) limited to one connection, so httpcore's scan is over one
connection, and the pool picks a shard in constant time. Three parts, composed here:

- ``shardtable.py``, the shard table (synchronous): which shard serves a request (an idle one
  kept alive to the same origin, else one with no connection, else the least useful idle one),
  idle/busy bookkeeping, and the keep-alive bound;
- ``handoff.py``: when every shard is busy, the wait, first come first served, for the next
  released shard, at most the pool timeout;
- ``h2sharing.py`` (``multiplex``, ``--http2``): a shard whose connection is HTTP/2 shared by the
  requests of its origin, and the wait for an origin's first answer.

This module holds the shards' transports and does their I/O: it opens a shard's transport on
first use and closes it when the table says so.

A request whose ``PhaseClock`` asks for a ``fresh`` connection (a resend after a kept-alive
connection failed: ``request._exchange``) takes no idle shard of its origin, and whatever
connection the shard it gets still holds is closed first: it goes out on a new connection.

``max_connections`` is the number of shards, so it stays a hard bound on open connections.
At most ``max_keepalive`` connections are kept idle: one more is closed when it is released.
Everything else (timeouts, TLS, HTTP/2, proxies, exception mapping) is httpx's own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx

from fetchcli.transport.h2sharing import Http2Sharing
from fetchcli.transport.handoff import HandOff
from fetchcli.transport.hints import CURRENT, DEMAND, ON_TLS
from fetchcli.transport.shardtable import Origin, ShardTable


class _ShardStream(httpx.AsyncByteStream):
    """The response body of a shard; releases the shard when closed."""

    __slots__ = ("_complete", "_index", "_origin", "_owner", "_released", "_stream", "_stream_of_many")

    def __init__(
        self,
        owner: ShardedPoolTransport,
        index: int,
        origin: Origin,
        stream: httpx.AsyncByteStream,
        stream_of_many: bool = False,
    ) -> None:
        self._owner = owner
        self._index = index
        self._origin = origin
        self._stream = stream
        self._complete = False
        self._released = False
        self._stream_of_many = stream_of_many  # one of the streams of a multiplexed (HTTP/2) shard

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._stream:
            yield part
        self._complete = True

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if not self._released:
                self._released = True
                if self._stream_of_many:
                    await self._owner._end_stream(self._index, self._origin)
                else:
                    await self._owner._release(self._index, self._origin if self._complete else None)


class ShardedPoolTransport(httpx.AsyncBaseTransport):
    """``max_connections`` one-connection transports behind one O(1) router: the shard ``table``
    chooses, the hand-off queues, HTTP/2 sharing shares; this class opens and closes."""

    def __init__(
        self,
        make_shard: Callable[[], httpx.AsyncBaseTransport],
        *,
        max_connections: int,
        max_keepalive: int,
        pool_timeout: float | None,
        multiplex: bool = False,
    ) -> None:
        self._make_shard = make_shard
        self._shards: list[httpx.AsyncBaseTransport | None] = [None] * max_connections
        self.table = ShardTable(max_connections, max_keepalive, demand=DEMAND.get)
        self._handoff = HandOff(pool_timeout, abandoned=self._release_unkept)
        self._multiplex = multiplex
        self._sharing = Http2Sharing(max_connections)

    @property
    def routing_steps(self) -> int:
        """Entries examined while routing (the table's count): tests guard that it stays O(1)."""
        return self.table.routing_steps

    async def _release(self, index: int, origin: Origin | None) -> None:
        """Give shard ``index`` back; ``origin`` is set when its connection was kept alive."""
        table = self.table
        if origin is not None and not table.keeps_another():
            await self._close_shard(index)
            origin = None
        if not (self._handoff.waiting and self._handoff.give(index)):  # else: handed, still busy, to the next in line
            table.release(index, origin)

    async def _release_unkept(self, index: int) -> None:
        await self._release(index, None)

    async def _close_shard(self, index: int) -> None:
        shard, self._shards[index] = self._shards[index], None
        self._sharing.forget(index)
        if shard is not None:
            await shard.aclose()

    async def _acquire_stream(self, origin: Origin) -> int:
        """A shard for one request to an https ``origin`` that may speak HTTP/2: a share of the
        origin's HTTP/2 shard when there is one with room, else a shard of its own (and, while
        the protocol is not known yet, the others to the origin wait for this one's answer)."""
        sharing = self._sharing
        while True:
            index = sharing.share(origin)
            if index is not None:
                return index
            if not (sharing.awaits_probe(origin) and await sharing.wait_for_probe(origin)):
                break
        picked = self.table.pick(origin)
        index = await self._handoff.wait() if picked is None else picked
        sharing.opened(origin, index)
        return index

    async def _end_stream(self, index: int, origin: Origin) -> None:
        """A request on a shard that may be shared is done: the shard is released when its last
        stream ends, kept alive for the origin (an HTTP/2 connection survives a stream closed
        early; httpcore replaces a connection that died)."""
        if self._sharing.end_stream(index, origin):
            await self._release(index, origin if self._sharing.speaks_h2(index, origin) else None)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        origin: Origin = (url.raw_scheme, url.raw_host, url.port)
        clock = CURRENT.get()
        fresh = clock is not None and clock.fresh  # a resend: on a new connection (request._exchange)
        shared = self._multiplex and url.raw_scheme == b"https" and not fresh
        if shared:
            index = await self._acquire_stream(origin)
        else:  # a shard from the table, else the next one released (inline: no coroutine of its own)
            picked = self.table.pick(origin, not fresh)
            index = await self._handoff.wait() if picked is None else picked
        token = None
        sharing = self._sharing
        if shared and sharing.probing(origin, index):
            # The protocol is known at the end of the TLS handshake (ALPN): the others to the
            # origin need not wait for the answer (netbackend.py tells, on the httpx backend).
            token = ON_TLS.set(lambda protocol: sharing.learnt(origin, index, protocol == "h2"))
        try:
            if fresh and self._shards[index] is not None:  # whatever connection it kept is closed, not reused
                await self._close_shard(index)
            shard = self._shards[index]
            if shard is None:
                shard = self._shards[index] = self._make_shard()
            response = await shard.handle_async_request(request)
        except BaseException:
            if shared:
                sharing.failed(origin, index)
                await self._end_stream(index, origin)
            else:
                await self._release(index, None)
            raise
        finally:
            if token is not None:
                ON_TLS.reset(token)
        if shared:
            http2 = response.extensions.get("http_version") == b"HTTP/2"
            sharing.learnt(origin, index, http2)
            if not http2:  # HTTP/1.1: one request per connection, as without multiplexing
                sharing.alone(index)
                shared = False
        stream = response.stream
        assert isinstance(stream, httpx.AsyncByteStream)
        response.stream = _ShardStream(self, index, origin, stream, stream_of_many=shared)
        return response

    async def aclose(self) -> None:
        shards = [shard for shard in self._shards if shard is not None]
        self._shards = [None] * len(self._shards)
        for shard in shards:
            await shard.aclose()
