"""--rate and --host-rate space the requests actually sent, not only their reserved turns: an
event loop stalled past two turns (a busy machine) wakes both waiters at once, and the second
must still wait an interval after the first went. The stall is a blocking sleep in the loop, so
the order of events is fixed, not raced."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from fetchcli.engine.politeness import Gate, Lane, Pacer


async def _sends_after_a_stall(take_turn: object) -> list[float]:
    sent: list[float] = []

    async def one() -> None:
        await take_turn()  # type: ignore[operator]
        sent.append(time.monotonic())

    await one()  # the first goes at once
    waiting = [asyncio.create_task(one()) for _ in range(2)]  # turns reserved at +0.1 and +0.2 s
    await asyncio.sleep(0)  # both asleep until their turns
    time.sleep(0.35)  # the loop stalls past both turns
    await asyncio.gather(*waiting)
    return sent


def _gaps(sent: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(sent)]


def test_a_pacer_spaces_sends_after_a_stall() -> None:
    pacer = Pacer(10.0)
    sent = asyncio.run(_sends_after_a_stall(pacer.turn))
    assert len(sent) == 3 and min(_gaps(sent)) >= 0.09  # the two woken together went 0.1 s apart


@pytest.mark.parametrize("which", ["rate", "host_rate"])
def test_the_gate_spaces_sends_after_a_stall(which: str) -> None:
    gate = Gate(per_host=None, rate=10.0 if which == "rate" else None, host_rate=10.0 if which == "host_rate" else None)

    async def main() -> list[float]:
        slots = asyncio.Semaphore(10)

        async def take_turn() -> None:
            await slots.acquire()
            lane = Lane(slots, lambda: None)
            try:
                await gate.enter("example.test", lane)
                gate.leave("example.test")
            finally:
                lane.release()

        return await _sends_after_a_stall(take_turn)

    sent = asyncio.run(main())
    assert len(sent) == 3 and min(_gaps(sent)) >= 0.09
