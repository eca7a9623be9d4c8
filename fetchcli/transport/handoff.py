"""The wait for a shard of the sharded httpx pool (``pool.py``) when every shard is busy.

First come, first served: a released shard goes straight (still busy) to the request that has
waited longest, at most the pool timeout (then ``httpx.PoolTimeout``). A request that gives up
(cancelled, timed out) just as a shard was handed to it passes that shard on (``abandoned``).
The time waited goes to the request's ``PhaseClock`` (``hints.waited``): its ``queued_ms``.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

import httpx

from fetchcli.transport.hints import waited


class HandOff:
    """The requests waiting for a shard, in order. ``abandoned`` is given a shard handed to a
    request that gave up at that moment (the pool releases it without its connection)."""

    __slots__ = ("_abandoned", "_timeout", "waiting")

    def __init__(self, timeout: float | None, abandoned: Callable[[int], Awaitable[None]]) -> None:
        self._timeout = timeout
        self._abandoned = abandoned
        # The requests waiting, longest first (some may have given up already): read only; a
        # releaser tests it before calling give, so that no call is made while none waits.
        self.waiting: deque[asyncio.Future[int]] = deque()

    async def wait(self) -> int:
        """The next shard released after the ones already waiting got theirs."""
        waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.waiting.append(waiter)
        started = time.perf_counter()
        got = False
        try:
            index = await asyncio.wait_for(asyncio.shield(waiter), self._timeout)
            got = True
            return index
        except asyncio.TimeoutError:
            if waiter.done() and not waiter.cancelled():  # handed over as the timeout fired: take it,
                got = True  # or the shard would stay busy for good (the pool one connection short)
                return waiter.result()
            raise httpx.PoolTimeout("timed out waiting for a free connection in the pool") from None
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                await self._abandoned(waiter.result())  # handed over as we gave up: pass it on
            raise
        finally:
            waited(started, got)  # the record's queued_ms (or elapsed_ms, after the first request)
            if not waiter.done():
                waiter.cancel()

    def give(self, index: int) -> bool:
        """Hand shard ``index`` (staying busy) to the request that has waited longest; False
        when none waits."""
        waiters = self.waiting
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(index)
                return True
        return False
