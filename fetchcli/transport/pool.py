"""A connection pool made of many one-connection pools, routed in O(1) per request.

Why: httpcore's ``AsyncConnectionPool`` re-examines every connection for every queued request
on every pool event, so its cost per request grows with the pool and a run's cost with the
square of the concurrency (encode/httpx#3215). Here each shard is httpx's ordinary transport
(``coretransport.py``) limited to one connection, so httpcore's scan is over one
connection, and this class picks a shard in constant time:

1. an idle shard whose connection is to the same origin (keep-alive reuse);
2. a shard with no connection;
3. the least useful idle shard (httpcore closes its connection and opens a new one): the
   longest idle of those whose host has no URL waiting in the engine's look-ahead
   (``hints.DEMAND``), else the one whose host's next URL comes last;
4. otherwise wait, first come first served, for a shard to be released, at most the pool timeout.

A request whose ``PhaseClock`` asks for a ``fresh`` connection (a resend after a kept-alive
connection failed: ``request._exchange``) takes no idle shard of its origin, and whatever
connection the shard it gets still holds is closed first: it goes out on a new connection.

``max_connections`` is the number of shards, so it stays a hard bound on open connections.
At most ``max_keepalive`` connections are kept idle: one more is closed when it is released.
Everything else (timeouts, TLS, HTTP/2, proxies, exception mapping) is httpx's own.

With ``multiplex`` (``--http2``), a shard whose connection turned out to be HTTP/2 is not taken
by one request but shared by up to ``STREAMS_PER_CONNECTION`` at once (httpcore's HTTP/2
connection multiplexes them, and waits when the server allows fewer streams). While the first
request to an https origin is finding out which protocol the server speaks (ALPN: known at the
end of its TLS handshake, which ``netbackend.py`` tells through ``ON_TLS``), the others to that
origin wait for it (at most ``PROBE_WAIT``: a slow first answer is not waited on by
everyone), so that a burst does not open a connection each; an origin found to speak HTTP/1.1 is
remembered and not waited on again.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Sized

import httpx

from fetchcli.transport.hints import CURRENT, DEMAND, EVICTION_CANDIDATES, ON_TLS, least_needed, waited

Origin = tuple[bytes, bytes, int | None]
STREAMS_PER_CONNECTION = 100  # the usual SETTINGS_MAX_CONCURRENT_STREAMS; httpcore honours the server's
PROBE_WAIT = 1.0  # seconds a request waits for the first answer of its origin before going its own way
_HTTP1_ORIGINS_KEPT = 10_000  # origins known to answer HTTP/1.1 (bounded: forgotten when full)


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
    """``max_connections`` one-connection transports behind one O(1) router."""

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
        self._busy = [False] * max_connections
        self._kept = [False] * max_connections  # idle, with a kept-alive connection
        # Bumped on every change of a shard's state, so stale entries below are skipped cheaply.
        self._generation = [0] * max_connections
        self._fresh: list[int] = list(reversed(range(max_connections)))  # idle, no connection
        self._idle_by_origin: dict[Origin, list[tuple[int, int]]] = {}
        self._kept_host: list[str] = [""] * max_connections  # host of a shard's kept connection
        self._idle_lru: deque[tuple[int, int]] = deque()
        self._idle_count = 0
        self._max_keepalive = max_keepalive
        self._pool_timeout = pool_timeout
        self._waiters: deque[asyncio.Future[int]] = deque()
        self.routing_steps = 0  # entries examined while routing: tests guard that it stays O(1)
        # HTTP/2 multiplexing (see the module docstring).
        self._multiplex = multiplex
        self._streams = [0] * max_connections  # requests in flight on each shard, when shared
        self._h2_origin: list[Origin | None] = [None] * max_connections  # a shard's HTTP/2 origin
        self._shared: dict[Origin, int] = {}  # origin -> the shard its requests share
        self._probes: dict[Origin, tuple[int, asyncio.Future[None]]] = {}  # first request of an origin
        self._http1_origins: set[Origin] = set()

    def _take(self, index: int) -> int:
        if self._kept[index]:
            self._kept[index] = False
            self._idle_count -= 1
        self._busy[index] = True
        self._generation[index] += 1
        return index

    def _pop_idle(self, entries: Sized, pop: Callable[[], tuple[int, int]]) -> int | None:
        while entries:
            entry = pop()
            self.routing_steps += 1
            if self._is_valid(entry):
                return self._take(entry[0])
        return None

    def _pick(self, origin: Origin, reuse: bool = True) -> int | None:
        stack = self._idle_by_origin.get(origin) if reuse else None
        if stack is not None:
            index = self._pop_idle(stack, stack.pop)  # most recently idle: likeliest still open
            if not stack:
                del self._idle_by_origin[origin]
            if index is not None:
                return index
        if self._fresh:
            self.routing_steps += 1
            return self._take(self._fresh.pop())
        demand = DEMAND.get()
        if demand is None:
            return self._pop_idle(self._idle_lru, self._idle_lru.popleft)
        return self._least_useful(demand)

    def _least_useful(self, demand: Callable[[str], int | None]) -> int | None:
        """The idle shard to give another origin (only when opening a connection): of the
        ``EVICTION_CANDIDATES`` longest idle, the first whose host has no URL waiting, else the
        one whose host's next URL comes last."""
        lru = self._idle_lru
        while lru and not self._is_valid(lru[0]):
            lru.popleft()
            self.routing_steps += 1

        def idle() -> Iterator[tuple[int, str]]:
            for examined, entry in enumerate(lru):
                self.routing_steps += 1
                if examined == 4 * EVICTION_CANDIDATES:  # stale entries count too: the walk stays short
                    return
                if self._is_valid(entry):
                    yield entry[0], self._kept_host[entry[0]]

        chosen = least_needed(idle(), demand)
        return None if chosen is None else self._take(chosen)  # its queue entries go stale

    async def _acquire(self, origin: Origin, reuse: bool = True) -> int:
        index = self._pick(origin, reuse)
        if index is not None:
            return index
        waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        started = time.perf_counter()
        got = False
        try:
            index = await asyncio.wait_for(asyncio.shield(waiter), self._pool_timeout)
            got = True
            return index
        except asyncio.TimeoutError:
            raise httpx.PoolTimeout("timed out waiting for a free connection in the pool") from None
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                await self._release(waiter.result(), None)  # handed over as we gave up: pass it on
            raise
        finally:
            waited(started, got)  # the record's queued_ms (or elapsed_ms, after the first request)
            if not waiter.done():
                waiter.cancel()

    async def _release(self, index: int, origin: Origin | None) -> None:
        """Give shard ``index`` back; ``origin`` is set when its connection was kept alive."""
        if origin is not None and self._idle_count >= self._max_keepalive:
            shard, self._shards[index] = self._shards[index], None
            self._h2_origin[index] = None
            origin = None
            if shard is not None:
                await shard.aclose()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._generation[index] += 1
                waiter.set_result(index)  # still busy: handed straight to the next in line
                return
        self._busy[index] = False
        generation = self._generation[index] = self._generation[index] + 1
        if origin is None:
            self._fresh.append(index)
            return
        self._kept[index] = True
        self._kept_host[index] = origin[1].decode("ascii", "replace").lower()
        self._idle_count += 1
        entry = (index, generation)
        stack = self._idle_by_origin.setdefault(origin, [])
        stack.append(entry)
        self._idle_lru.append(entry)
        # Entries go stale when their shard is taken by another route; drop them once they
        # outnumber the shards, so memory stays bounded however many URLs and hosts pass.
        limit = 2 * len(self._shards) + 16
        if len(stack) > limit:
            stack[:] = [e for e in stack if self._is_valid(e)]
        if len(self._idle_lru) > limit:
            self._idle_lru = deque(e for e in self._idle_lru if self._is_valid(e))

    def _is_valid(self, entry: tuple[int, int]) -> bool:
        index, generation = entry
        return not self._busy[index] and self._generation[index] == generation

    async def _acquire_stream(self, origin: Origin) -> int:
        """A shard for one request to an https ``origin`` that may speak HTTP/2: a share of the
        origin's HTTP/2 shard when there is one with room, else a shard of its own (and, while
        the protocol is not known yet, the others to the origin wait for this one's answer)."""
        while True:
            index = self._shared.get(origin)
            if index is not None and self._streams[index] < STREAMS_PER_CONNECTION:
                self._streams[index] += 1
                return index
            probe = self._probes.get(origin)
            if probe is None or index is not None:
                break
            started = time.perf_counter()
            got = False  # cancelled while waiting: the request never left the pool
            try:
                await asyncio.wait_for(asyncio.shield(probe[1]), PROBE_WAIT)
                got = True
            except asyncio.TimeoutError:
                got = True
                # A slow first answer: stop waiting for it (and let no one else wait), and go on
                # as without multiplexing; the protocol is still learnt when the answer comes.
                if self._probes.get(origin) is probe:
                    del self._probes[origin]
                break
            finally:
                waited(started, got)
        index = await self._acquire(origin)
        self._streams[index] = 1
        if self._h2_origin[index] == origin:  # its kept connection is HTTP/2 to this origin
            self._shared[origin] = index
        else:
            self._h2_origin[index] = None
            if origin not in self._http1_origins and origin not in self._probes:
                self._probes[origin] = (index, asyncio.get_running_loop().create_future())
        return index

    def _learnt(self, origin: Origin, index: int, http2: bool) -> None:
        """The protocol of ``index``'s connection to ``origin`` is known (or its first request
        failed: ``http2`` False, and the waiters try again)."""
        if http2:
            self._h2_origin[index] = origin
            current = self._shared.get(origin)
            if current is None or self._streams[current] >= STREAMS_PER_CONNECTION:
                self._shared[origin] = index  # the one with room
        probe = self._probes.get(origin)
        if probe is not None and probe[0] == index:
            del self._probes[origin]
            probe[1].set_result(None)
            if not http2:
                if len(self._http1_origins) >= _HTTP1_ORIGINS_KEPT:
                    self._http1_origins.clear()
                self._http1_origins.add(origin)

    async def _end_stream(self, index: int, origin: Origin) -> None:
        """A request on a shard that may be shared is done: the shard is released when its last
        stream ends, kept alive for the origin (an HTTP/2 connection survives a stream closed
        early; httpcore replaces a connection that died)."""
        self._streams[index] -= 1
        if self._streams[index] > 0:
            return
        if self._shared.get(origin) == index:
            del self._shared[origin]
        await self._release(index, origin if self._h2_origin[index] == origin else None)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        origin: Origin = (url.raw_scheme, url.raw_host, url.port)
        clock = CURRENT.get()
        fresh = clock is not None and clock.fresh  # a resend: on a new connection (request._exchange)
        shared = self._multiplex and url.raw_scheme == b"https" and not fresh
        index = await (self._acquire_stream(origin) if shared else self._acquire(origin, reuse=not fresh))
        token = None
        if shared and origin in self._probes and self._probes[origin][0] == index:
            # The protocol is known at the end of the TLS handshake (ALPN): the others to the
            # origin need not wait for the answer (netbackend.py tells, on the httpx backend).
            token = ON_TLS.set(lambda protocol: self._learnt(origin, index, protocol == "h2"))
        try:
            shard = self._shards[index]
            if fresh and shard is not None:  # whatever connection it kept is closed, not reused
                self._shards[index] = self._h2_origin[index] = None
                await shard.aclose()
                shard = None
            if shard is None:
                shard = self._shards[index] = self._make_shard()
            response = await shard.handle_async_request(request)
        except BaseException:
            if shared:
                self._learnt(origin, index, http2=False)
                self._h2_origin[index] = None  # not known to be HTTP/2 any more
                await self._end_stream(index, origin)
            else:
                await self._release(index, None)
            raise
        finally:
            if token is not None:
                ON_TLS.reset(token)
        if shared:
            http2 = response.extensions.get("http_version") == b"HTTP/2"
            self._learnt(origin, index, http2)
            if not http2:  # HTTP/1.1: one request per connection, as without multiplexing
                self._streams[index] = 0
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
