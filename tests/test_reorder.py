"""The input-order reorder window (fetchcli/engine/reorder.py): results in any order, out in
input order, held no further than the window. Synchronous: no network, no event loop (but for
the last test, which drives the engine through its ``remote`` seam, still without a network)."""

from __future__ import annotations

import asyncio
import random

import pytest

from fetchcli.engine.reorder import PlacedReorderBuffer, ReorderBuffer
from fetchcli.engine.run import fetch
from fetchcli.engine.ticket import Ticket
from fetchcli.models import FetchResult, UrlItem
from fetchcli.settings import Order, Settings


def test_results_out_of_order_leave_in_input_order() -> None:
    buffer: ReorderBuffer[str] = ReorderBuffer(window=8)
    buffer.put(2, "c")
    buffer.put(1, "b")
    assert list(buffer.ready()) == []  # 0 has not come: nothing leaves
    assert len(buffer) == 2
    buffer.put(0, "a")
    assert list(buffer.ready()) == ["a", "b", "c"]
    assert len(buffer) == 0 and buffer.next == 3
    buffer.put(4, "e")
    assert list(buffer.ready()) == []
    buffer.put(3, "d")
    assert list(buffer.ready()) == ["d", "e"]
    assert len(buffer) == 0 and buffer.next == 5


def test_a_result_whose_turn_came_leaves_at_once() -> None:
    buffer: ReorderBuffer[int] = ReorderBuffer(window=1)
    for seq in range(5):
        buffer.put(seq, seq * 10)
        assert list(buffer.ready()) == [seq * 10]
        assert len(buffer) == 0


def test_the_window_counts_every_url_read_and_not_emitted() -> None:
    """Held, in flight or waiting: every URL read and not emitted counts toward the window."""
    buffer: ReorderBuffer[str] = ReorderBuffer(window=3)
    assert buffer.admits(0) and buffer.admits(2)
    assert not buffer.admits(3)  # 0, 1 and 2 read, none held yet: still full
    buffer.put(1, "b")
    buffer.put(2, "c")
    assert not buffer.admits(3)  # held results do not make room; only emitted ones do
    buffer.put(0, "a")
    assert not buffer.admits(3)  # ...once they leave
    assert list(buffer.ready()) == ["a", "b", "c"]
    assert buffer.admits(3) and buffer.admits(5) and not buffer.admits(6)


def test_ready_taken_in_part_keeps_its_place() -> None:
    """A consumer that stops after one result (the run's caller stopped reading) leaves the rest
    held and the next number right: the following ``ready`` goes on from there."""
    buffer: ReorderBuffer[str] = ReorderBuffer(window=4)
    for seq, text in [(3, "d"), (1, "b"), (0, "a"), (2, "c")]:
        buffer.put(seq, text)
    ready = buffer.ready()
    assert next(ready) == "a"
    ready.close()
    assert len(buffer) == 3 and buffer.next == 1
    assert list(buffer.ready()) == ["b", "c", "d"]


def test_random_completion_order_stays_in_order_and_within_the_window() -> None:
    """The engine's rule, simulated: read while the window admits, finish any URL in flight at
    random. Results held plus URLs in flight never exceed the window; all leave in order."""
    rng = random.Random(19)
    total, window = 2000, 16
    buffer: ReorderBuffer[int] = ReorderBuffer(window)
    read = 0
    in_flight: list[int] = []
    emitted: list[int] = []
    peak = 0
    while len(emitted) < total:
        while read < total and buffer.admits(read) and rng.random() < 0.7:
            in_flight.append(read)
            read += 1
        if in_flight:
            seq = in_flight.pop(rng.randrange(len(in_flight)))
            buffer.put(seq, seq)
        peak = max(peak, len(buffer) + len(in_flight))
        emitted.extend(buffer.ready())
    assert emitted == list(range(total))
    assert peak == window  # reached, never passed
    assert len(buffer) == 0


def test_a_stop_drain_flushes_everything_held() -> None:
    """At a stop every URL read gets a record under its own number (finished, cancelled, not
    started; in any order): then every one leaves, in order, and nothing stays held."""
    buffer: ReorderBuffer[str] = ReorderBuffer(window=6)
    buffer.put(4, "done 4")
    buffer.put(2, "done 2")
    assert list(buffer.ready()) == []
    for seq in (5, 0, 3, 1):  # cancelled in flight, then the ones read but never started
        buffer.put(seq, f"stopped {seq}")
    assert list(buffer.ready()) == ["stopped 0", "stopped 1", "done 2", "stopped 3", "done 4", "stopped 5"]
    assert len(buffer) == 0
    buffer.put(6, "rest of the file")  # read after the stop: leaves at once
    assert list(buffer.ready()) == ["rest of the file"]


def test_the_engine_reads_no_further_than_the_window_while_the_first_url_is_slow() -> None:
    """Through the engine's ``remote`` seam (no network): URL 0 finishes only once the others
    the window lets in have finished and are held; by then no URL past the window has started,
    and the records still come in input order."""
    window, total = 4, 12
    started: list[int] = []
    started_when_released: list[int] = []

    async def go() -> list[int]:
        others_done = asyncio.Event()
        finished = [0]

        async def remote(item: UrlItem, ticket: Ticket) -> FetchResult:
            started.append(item.index)
            if item.index == 0:
                await others_done.wait()
                started_when_released.append(len(started))
            else:
                await asyncio.sleep(0)
                finished[0] += 1
                if finished[0] == window - 1:
                    others_done.set()
            return FetchResult(index=item.index, url=item.display_url, ok=True)

        urls = [f"http://127.0.0.1:9/{n}" for n in range(total)]
        settings = Settings(concurrency=window, order_window=window)
        return [result.index async for result in fetch(urls, settings, remote=remote)]

    assert asyncio.run(go()) == list(range(total))
    assert started_when_released == [window]  # URLs 0..3 started; 4 waited for 0 to be written
    assert sorted(started) == list(range(total))


def test_placed_results_leave_by_their_place_not_by_when_they_were_read() -> None:
    """--all-ips: items read out of input order (URL 1's two addresses before URL 0's one),
    each told its place; results leave by URL, then by address, whatever order they came in."""
    buffer: PlacedReorderBuffer[str] = PlacedReorderBuffer(window=2)
    buffer.place(0, 1, 0, 2)  # read first: URL 1's first of two items
    buffer.place(1, 1, 1, 2)
    assert not buffer.admits(2) and buffer.is_turn(0, 0) and not buffer.is_turn(1, 0)
    buffer.put(1, "1b")
    buffer.put(0, "1a")
    assert list(buffer.ready()) == [] and len(buffer) == 2  # URL 0 has not come
    buffer.place(2, 0, 0, 1)  # read past the full window: its turn
    buffer.put(2, "0")
    assert list(buffer.ready()) == ["0", "1a", "1b"]
    assert buffer.next == 3 and buffer.admits(3) and buffer.is_turn(2, 0) and len(buffer) == 0


def test_the_engine_keeps_all_ips_records_in_order_whatever_order_lookups_end(monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the engine's ``remote`` seam (no network), lookups (``AddressSource._addresses``)
    and fetches ending in a random order, 1 to 3 addresses a URL, small windows: every probe
    once, in input order, a URL's in address order; the run ends (nothing waits forever)."""
    from fetchcli.engine.allips import AddressSource
    from fetchcli.settings import RequestSettings

    rng = random.Random(7)
    total = 60

    async def addresses(self: AddressSource, host: str, port: int) -> list[str]:
        await asyncio.sleep(rng.random() / 500)
        return [f"127.0.0.{n}" for n in range(1, 2 + int(host.removeprefix("h")) % 3)]

    async def remote(item: UrlItem, ticket: Ticket) -> FetchResult:
        await asyncio.sleep(rng.random() / 500)
        return FetchResult(index=item.index, url=item.display_url, ok=True, remote_ip=item.address)

    async def go(window: int, order: Order = Order.input) -> list[tuple[int, str | None]]:
        urls = [f"http://h{n}/" for n in range(total)]
        settings = Settings(concurrency=3, order_window=window, order=order, request=RequestSettings(all_ips=True))
        return [(r.index, r.remote_ip) async for r in fetch(urls, settings, remote=remote)]

    expected = [(n, f"127.0.0.{a}") for n in range(total) for a in range(1, 2 + n % 3)]
    monkeypatch.setattr(AddressSource, "_addresses", addresses)
    for window in (1, 2, 5, 100):
        assert asyncio.run(asyncio.wait_for(go(window), 60)) == expected
    assert sorted(asyncio.run(asyncio.wait_for(go(2, Order.completion), 60))) == expected
