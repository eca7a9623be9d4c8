"""HTTP/2 sharing in the sharded httpx pool (``pool.py``, with ``--http2``).

A shard whose connection turned out to be HTTP/2 is not taken by one request but shared by up to
``STREAMS_PER_CONNECTION`` requests of its origin at once (httpcore's HTTP/2 connection
multiplexes them, and waits when the server allows fewer streams). While the first request to an
https origin is finding out which protocol the server speaks (ALPN: known at the end of its TLS
handshake, which ``netbackend.py`` tells through ``hints.ON_TLS``), the others to that origin
wait for it (at most ``PROBE_WAIT``: a slow first answer is not waited on by everyone), so that
a burst does not open a connection each; an origin found to speak HTTP/1.1 is remembered (at
most ``HTTP1_ORIGINS_KEPT``) and not waited on again.

This module keeps that state per shard and per origin; the pool takes and releases the shards
(``shardtable.py``) and does the I/O.
"""

from __future__ import annotations

import asyncio
import time

from fetchcli.transport.hints import waited
from fetchcli.transport.shardtable import Origin

STREAMS_PER_CONNECTION = 100  # the usual SETTINGS_MAX_CONCURRENT_STREAMS; httpcore honours the server's
PROBE_WAIT = 1.0  # seconds a request waits for the first answer of its origin before going its own way
HTTP1_ORIGINS_KEPT = 10_000  # origins known to answer HTTP/1.1 (bounded: forgotten when full)


class Http2Sharing:
    """Which shard each https origin's requests share, how many streams each shard carries, and
    the first request (the probe) of each origin whose protocol is not known yet."""

    __slots__ = ("_h2_origin", "_http1_origins", "_probes", "_shared", "_streams")

    def __init__(self, size: int) -> None:
        self._streams = [0] * size  # requests in flight on each shard, when shared
        self._h2_origin: list[Origin | None] = [None] * size  # a shard's HTTP/2 origin
        self._shared: dict[Origin, int] = {}  # origin -> the shard its requests share
        self._probes: dict[Origin, tuple[int, asyncio.Future[None]]] = {}  # first request of an origin
        self._http1_origins: set[Origin] = set()

    def share(self, origin: Origin) -> int | None:
        """A share (one more stream) of ``origin``'s HTTP/2 shard when there is one with room;
        else None: the request waits for the probe (``awaits_probe``) or needs a shard of its
        own (``opened``)."""
        index = self._shared.get(origin)
        if index is not None and self._streams[index] < STREAMS_PER_CONNECTION:
            self._streams[index] += 1
            return index
        return None

    def awaits_probe(self, origin: Origin) -> bool:
        """A request to ``origin`` that got no ``share`` waits for the probe's answer: the
        origin's protocol is not known yet (and it has no HTTP/2 shard, full or not)."""
        return origin in self._probes and origin not in self._shared

    async def wait_for_probe(self, origin: Origin) -> bool:
        """Wait for the answer of ``origin``'s probe (then ask ``share`` again: True), at most
        ``PROBE_WAIT`` (then False: the request goes its own way, and no one else waits)."""
        probe = self._probes[origin]
        started = time.perf_counter()
        got = False  # cancelled while waiting: the request never left the pool
        try:
            await asyncio.wait_for(asyncio.shield(probe[1]), PROBE_WAIT)
            got = True
            return True
        except asyncio.TimeoutError:
            got = True
            # A slow first answer: stop waiting for it (and let no one else wait), and go on
            # as without multiplexing; the protocol is still learnt when the answer comes.
            if self._probes.get(origin) is probe:
                del self._probes[origin]
            return False
        finally:
            waited(started, got)

    def opened(self, origin: Origin, index: int) -> None:
        """Shard ``index`` was taken for a request to ``origin`` that may speak HTTP/2: shared at
        once if its kept connection is HTTP/2 to the origin; else, while the origin's protocol is
        not known, this request is its probe."""
        self._streams[index] = 1
        if self._h2_origin[index] == origin:  # its kept connection is HTTP/2 to this origin
            self._shared[origin] = index
        else:
            self._h2_origin[index] = None
            if origin not in self._http1_origins and origin not in self._probes:
                self._probes[origin] = (index, asyncio.get_running_loop().create_future())

    def probing(self, origin: Origin, index: int) -> bool:
        """The request on shard ``index`` is ``origin``'s probe (the others wait for it)."""
        probe = self._probes.get(origin)
        return probe is not None and probe[0] == index

    def learnt(self, origin: Origin, index: int, http2: bool) -> None:
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
                if len(self._http1_origins) >= HTTP1_ORIGINS_KEPT:
                    self._http1_origins.clear()
                self._http1_origins.add(origin)

    def failed(self, origin: Origin, index: int) -> None:
        """The request on shard ``index`` failed: its connection is not known to be HTTP/2 any
        more (the probe's waiters try again)."""
        self.learnt(origin, index, http2=False)
        self._h2_origin[index] = None

    def alone(self, index: int) -> None:
        """Shard ``index`` answered HTTP/1.1: one request per connection, as without multiplexing."""
        self._streams[index] = 0

    def forget(self, index: int) -> None:
        """Shard ``index``'s connection is closed."""
        self._h2_origin[index] = None

    def end_stream(self, index: int, origin: Origin) -> bool:
        """A request on shard ``index`` is done; True when it was the last one: the shard is to be
        released (kept alive for the origin when ``speaks_h2``)."""
        self._streams[index] -= 1
        if self._streams[index] > 0:
            return False
        if self._shared.get(origin) == index:
            del self._shared[origin]
        return True

    def speaks_h2(self, index: int, origin: Origin) -> bool:
        """Shard ``index``'s connection is HTTP/2 to ``origin``."""
        return self._h2_origin[index] == origin
