"""The sharded pool's hand-off (``transport/handoff.py``): a shard handed to a waiter in the same
loop step as its pool timeout fires is not lost (it used to stay busy for good, the pool one
connection short for the rest of the run)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from fetchcli.transport.handoff import HandOff


def test_a_shard_handed_over_as_the_timeout_fires_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    abandoned: list[int] = []

    async def abandon(index: int) -> None:
        abandoned.append(index)

    pool = HandOff(0.5, abandon)

    async def race(awaitable: Any, timeout: float | None) -> Any:
        pool.give(7)  # the releaser hands shard 7 over...
        awaitable.cancel()
        raise asyncio.TimeoutError  # ...in the step where the timeout fires

    monkeypatch.setattr(asyncio, "wait_for", race)  # the module handoff calls it through
    assert asyncio.run(pool.wait()) == 7
    assert abandoned == [] and not pool.waiting


def test_a_timeout_with_no_shard_handed_over_is_a_pool_timeout() -> None:
    async def abandon(index: int) -> None:
        raise AssertionError(index)

    pool = HandOff(0.01, abandon)
    with pytest.raises(httpx.PoolTimeout):
        asyncio.run(pool.wait())
    assert pool.give(3) is False  # the waiter that gave up is not handed anything
