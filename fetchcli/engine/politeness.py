"""Being polite to hosts without letting one host stall the rest.

``Lane`` is a task's hold on one of the engine's concurrency slots. Whenever a task has to wait
for something other than the network (its host's ``--per-host`` limit, a ``--rate`` or
``--host-rate`` token, a retry backoff), it *parks*: it gives its slot back, so URLs of other
hosts keep going, and takes a slot again before it sends. ``Gate`` holds the per-host limits and
the token buckets; every operation on it is O(1).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class Lane:
    """One task's concurrency slot, which it can lend out while it waits."""

    __slots__ = ("_slots", "_wake", "held")

    def __init__(self, slots: asyncio.Semaphore, wake: Callable[[], None]) -> None:
        self._slots = slots
        self._wake = wake
        self.held = True  # the engine acquired it for us before starting the task

    async def park(self, waiting: Awaitable[T]) -> T:
        """Await ``waiting`` without holding a slot, then take one again."""
        self.release()
        self._wake()  # the engine may admit another URL meanwhile
        result = await waiting  # cancelled here: we hold no slot, and take none
        await self._slots.acquire()
        self.held = True
        return result

    def release(self) -> None:
        if self.held:
            self.held = False
            self._slots.release()


class Pacer:
    """A token bucket of one token (evenly spaced sends): ``reserve`` returns how long to wait;
    ``wait_after_sent`` then holds a send at least an interval after the one before it actually
    went (``sent``): a loop stalled past two turns must not wake both and send them at once."""

    __slots__ = ("_interval", "_next", "_sent")

    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate
        self._next = 0.0
        self._sent = float("-inf")

    def reserve(self, now: float) -> float:
        start = max(now, self._next)
        self._next = start + self._interval
        return start - now

    def wait_after_sent(self, now: float) -> float:
        return self._sent + self._interval - now

    def sent(self, now: float) -> None:
        self._sent = now
        self._next = max(self._next, now + self._interval)

    def idle(self, now: float) -> bool:
        return self._next <= now

    async def turn(self) -> None:
        """Wait for a turn and take it: reserved, then held an interval after the last send."""
        delay = self.reserve(time.monotonic())
        while True:
            if delay > 0:
                await asyncio.sleep(delay)
            now = time.monotonic()
            delay = self.wait_after_sent(now)
            if delay <= 0:
                self.sent(now)
                return


class _HostLimit:
    __slots__ = ("busy", "waiters")

    def __init__(self) -> None:
        self.busy = 0
        self.waiters: deque[asyncio.Future[None]] = deque()


class Gate:
    """``--per-host``, ``--rate`` and ``--host-rate``; ``None`` for each means no limit."""

    PRUNE_AT = 10_000  # host pacers kept before idle ones are dropped (memory stays bounded)

    def __init__(self, per_host: int | None, rate: float | None, host_rate: float | None) -> None:
        self._per_host = per_host
        self._rate = Pacer(rate) if rate else None
        self._host_rate = host_rate
        self._host_pacers: dict[str, Pacer] = {}
        self._hosts: dict[str, _HostLimit] = {}

    @property
    def active(self) -> bool:
        return self._per_host is not None or self._rate is not None or self._host_rate is not None

    async def enter(self, host: str, lane: Lane) -> None:
        """Wait (parked) until ``host`` may be sent one more request."""
        if self._per_host is not None:
            limit = self._hosts.get(host)
            if limit is None:
                limit = self._hosts[host] = _HostLimit()
            if limit.busy >= self._per_host:
                waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                limit.waiters.append(waiter)
                try:
                    await lane.park(waiter)  # leave() hands its place straight to us
                except BaseException:
                    if waiter.done() and not waiter.cancelled():
                        self.leave(host)  # handed over as we were cancelled: pass it on
                    else:
                        waiter.cancel()
                    raise
            else:
                limit.busy += 1
        try:
            await self.pace(host, lane)
        except BaseException:
            self.leave(host)
            raise

    async def pace(self, host: str, lane: Lane) -> None:
        """Wait (parked) for a ``--rate`` and ``--host-rate`` turn to send ``host`` one more
        request within a place already held (``enter``): a request sent again is a request."""
        if self._rate is None and not self._host_rate:
            return
        delay = self._reserve(host)
        while True:
            if delay > 0:
                await lane.park(asyncio.sleep(delay))
            delay = self._settle(host)
            if delay <= 0:
                return

    def _settle(self, host: str) -> float:
        """At a reserved turn: how much longer to wait so that this send comes an interval after
        the last one actually sent (by ``--rate`` and by the host's ``--host-rate``); when none,
        the send is recorded as made now."""
        now = time.monotonic()
        host_pacer = self._host_pacers.get(host) if self._host_rate else None
        wait = 0.0
        for pacer in (self._rate, host_pacer):
            if pacer is not None:
                wait = max(wait, pacer.wait_after_sent(now))
        if wait <= 0:
            for pacer in (self._rate, host_pacer):
                if pacer is not None:
                    pacer.sent(now)
        return wait

    def _reserve(self, host: str) -> float:
        now = time.monotonic()
        delay = self._rate.reserve(now) if self._rate is not None else 0.0
        if self._host_rate:
            pacer = self._host_pacers.get(host)
            if pacer is None:
                if len(self._host_pacers) >= self.PRUNE_AT:
                    self._host_pacers = {h: p for h, p in self._host_pacers.items() if not p.idle(now)}
                pacer = self._host_pacers[host] = Pacer(self._host_rate)
            delay = max(delay, pacer.reserve(now + delay))
        return delay

    def leave(self, host: str) -> None:
        if self._per_host is None:
            return
        limit = self._hosts.get(host)
        if limit is None:
            return
        while limit.waiters:
            waiter = limit.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # busy count passes to the waiter unchanged
                return
        limit.busy -= 1
        if limit.busy == 0:
            del self._hosts[host]
