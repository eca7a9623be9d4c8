"""The three parts of the sharded httpx pool, without a network: the shard table (which shard
serves a request, synchronous), the hand-off to waiting requests, and HTTP/2 sharing.

The pool's behaviour against real servers is pinned in test_perf_guards.py, test_backends.py,
test_engine_live.py, test_connection_options.py and test_fidelity_http2.py; the choice of the
idle connection to close in test_admission.py."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from fetchcli.transport import h2sharing
from fetchcli.transport.h2sharing import STREAMS_PER_CONNECTION, Http2Sharing
from fetchcli.transport.handoff import HandOff
from fetchcli.transport.hints import CURRENT, EVICTION_CANDIDATES, PhaseClock
from fetchcli.transport.shardtable import Origin, ShardTable


def origin(host: str, scheme: bytes = b"http", port: int | None = None) -> Origin:
    return (scheme, host.encode(), port)


A, B, C, D = (origin(h) for h in ("a.test", "b.test", "c.test", "d.test"))


def held(table: ShardTable, *origins: Origin) -> list[int]:
    """Take a shard for each origin and release it kept alive to that origin, in order."""
    shards = [table.pick(o) for o in origins]
    for index, o in zip(shards, origins, strict=True):
        assert index is not None
        table.release(index, o)
    return [index for index in shards if index is not None]


# --- the shard table ------------------------------------------------------------------------------


def test_unused_shards_are_taken_in_order_and_none_when_all_are_busy() -> None:
    table = ShardTable(3, max_keepalive=3)
    assert [table.pick(o) for o in (A, B, C)] == [0, 1, 2]
    assert all(table.is_busy(n) for n in range(3))
    assert table.pick(D) is None
    assert table.pick(A) is None  # busy shards of the same origin are not shared


def test_an_idle_shard_of_the_same_origin_is_reused_before_an_unused_one() -> None:
    table = ShardTable(4, max_keepalive=4)
    a, b = held(table, A, B)
    assert table.is_kept(a) and not table.is_busy(a) and table.idle_count == 2
    assert table.pick(B) == b
    assert table.pick(A) == a
    assert table.idle_count == 0 and not table.is_kept(a) and table.is_busy(a)
    assert table.pick(A) == 2  # A's kept shard is busy: an unused one


def test_the_most_recently_idle_shard_of_an_origin_is_reused_first() -> None:
    table = ShardTable(3, max_keepalive=3)
    first, second = table.pick(A), table.pick(A)
    assert first is not None and second is not None
    table.release(first, A)
    table.release(second, A)
    assert table.pick(A) == second  # likeliest still open
    assert table.pick(A) == first


def test_a_shard_released_without_a_connection_is_unused_again() -> None:
    table = ShardTable(2, max_keepalive=2)
    index = table.pick(A)
    assert index is not None
    table.release(index, None)  # failed, or its answer not read to the end
    assert not table.is_busy(index) and not table.is_kept(index) and table.idle_count == 0
    assert table.pick(A) == index  # unused shards are a stack: the last released first
    assert table.pick(B) == 1


def test_a_resend_asking_for_a_new_connection_takes_no_idle_shard_of_its_origin() -> None:
    table = ShardTable(2, max_keepalive=2)
    (a,) = held(table, A)
    assert table.pick(A, reuse=False) == 1
    assert table.pick(A, reuse=False) == a  # no unused one left: an idle one is given away


def test_a_full_table_gives_the_longest_idle_shard_away_without_a_look_ahead() -> None:
    table = ShardTable(3, max_keepalive=3)
    a, b, c = held(table, A, B, C)
    assert table.pick(D) == a
    assert table.host(a) == "a.test"  # the host whose connection it held
    assert table.idle_count == 2
    assert table.pick(A) == b  # A's entry went stale with its shard: the next longest idle
    table.release(a, D)
    assert table.pick(D) == a
    assert table.pick(C) == c
    assert table.pick(B) is None  # all busy


def test_a_full_table_gives_away_the_shard_least_needed_by_the_look_ahead() -> None:
    def chosen(demand: dict[str, int | None]) -> str:
        table = ShardTable(3, max_keepalive=3, demand=lambda: lambda host: demand[host[0]])
        held(table, A, B, C)
        index = table.pick(D)
        assert index is not None
        return table.host(index)

    assert chosen({"a": 5, "b": None, "c": 9}) == "b.test"  # b has no URL waiting
    assert chosen({"a": 5, "b": 7, "c": 9}) == "c.test"  # c's next URL comes last


def test_the_look_ahead_is_only_asked_when_an_idle_shard_must_be_given_away() -> None:
    asked = [0]

    def demand() -> None:
        asked[0] += 1

    table = ShardTable(2, max_keepalive=2, demand=demand)
    held(table, A, B)
    table.pick(A)
    assert asked[0] == 0  # reuse and unused shards: no question
    table.pick(C)
    assert asked[0] == 1


def test_the_keepalive_bound_counts_idle_kept_shards() -> None:
    table = ShardTable(3, max_keepalive=1)
    assert table.keeps_another()
    held(table, A)
    assert not table.keeps_another()  # one kept: the pool closes the next released connection
    index = table.pick(B)
    assert index is not None
    table.release(index, None)
    assert not table.keeps_another()
    assert table.pick(A) == 0
    assert table.keeps_another()


@pytest.mark.parametrize("size", [4, 64])
@pytest.mark.parametrize("spread", [0.5, 2])
def test_routing_stays_constant_and_the_queues_bounded_whatever_the_origins(size: int, spread: float) -> None:
    """Origins cycled in turn: half as many as shards (every request reuses a kept connection,
    stale entries pile up in the longest-idle queue), or twice as many (every request gives the
    longest idle shard away, stale entries pile up in the origins' queues). The work per request
    stays the same, and the entries kept stay bounded by the shards, not the requests."""
    table = ShardTable(size, max_keepalive=size)
    origins = [origin(f"h{n}.test") for n in range(int(size * spread))]
    picks = 40 * size + 1000
    for n in range(picks):
        o = origins[n % len(origins)]
        index = table.pick(o)
        assert index is not None
        table.release(index, o)
        assert table.queued() <= 2 * (2 * size + 16)
    assert table.routing_steps / picks <= 3


def test_the_walk_for_the_least_needed_shard_is_bounded() -> None:
    table = ShardTable(200, max_keepalive=200, demand=lambda: lambda host: 1)  # every host wanted
    held(table, *(origin(f"h{n}.test") for n in range(200)))
    before = table.routing_steps
    assert table.pick(origin("new.test")) is not None
    assert table.routing_steps - before <= 4 * EVICTION_CANDIDATES


# --- the hand-off to waiting requests -------------------------------------------------------------


async def _nothing(index: int) -> None:
    raise AssertionError(f"shard {index} passed on")


def test_released_shards_go_to_the_waiting_requests_first_come_first_served() -> None:
    async def main() -> list[int]:
        handoff = HandOff(5.0, _nothing)
        assert not handoff.give(7)  # no one waits
        tasks = [asyncio.create_task(handoff.wait()) for _ in range(3)]
        await asyncio.sleep(0)
        assert len(handoff.waiting) == 3
        for index in (4, 5, 6):
            assert handoff.give(index)
        return list(await asyncio.gather(*tasks))

    assert asyncio.run(main()) == [4, 5, 6]


def test_a_waiter_that_gave_up_is_skipped() -> None:
    async def main() -> int:
        handoff = HandOff(5.0, _nothing)
        gone = asyncio.create_task(handoff.wait())
        staying = asyncio.create_task(handoff.wait())
        await asyncio.sleep(0)
        gone.cancel()
        await asyncio.gather(gone, return_exceptions=True)
        assert handoff.give(3)
        assert not handoff.give(4)
        return await staying

    assert asyncio.run(main()) == 3


def test_the_wait_is_bounded_by_the_pool_timeout_and_counted_as_queued() -> None:
    async def main() -> PhaseClock:
        clock = PhaseClock()
        CURRENT.set(clock)
        with pytest.raises(httpx.PoolTimeout):
            await HandOff(0.05, _nothing).wait()
        return clock

    clock = asyncio.run(main())
    assert clock.pool_s > 0 and clock.unsent  # it never left the pool


def test_a_shard_handed_to_a_request_that_gives_up_is_passed_on() -> None:
    passed: list[int] = []

    async def abandoned(index: int) -> None:
        passed.append(index)

    async def main() -> None:
        handoff = HandOff(5.0, abandoned)
        task = asyncio.create_task(handoff.wait())
        await asyncio.sleep(0)
        task.cancel()  # it gives up, and a shard is handed to it before it could notice
        assert handoff.give(9)
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert passed == [9]


# --- HTTP/2 sharing -----------------------------------------------------------------------------

H = origin("h2.test", b"https", 443)


def test_the_first_request_of_an_origin_probes_and_the_others_share_its_http2_connection() -> None:
    async def main() -> None:
        sharing = Http2Sharing(4)
        assert sharing.share(H) is None and not sharing.awaits_probe(H)  # nothing known: a shard of its own
        sharing.opened(H, 0)
        assert sharing.probing(H, 0)
        assert sharing.share(H) is None and sharing.awaits_probe(H)
        follower = asyncio.create_task(sharing.wait_for_probe(H))
        await asyncio.sleep(0)
        assert not follower.done()  # waits for the probe's answer
        sharing.learnt(H, 0, http2=True)
        assert await follower  # answered: ask again
        assert sharing.share(H) == 0 and sharing.speaks_h2(0, H)
        assert not sharing.end_stream(0, H)  # one stream still open
        assert sharing.end_stream(0, H)  # the last: the pool releases the shard, kept for H
        assert sharing.share(H) is None and not sharing.awaits_probe(H)  # taken again through the table
        sharing.opened(H, 0)  # its kept connection is HTTP/2: shared at once, no probe
        assert not sharing.probing(H, 0)
        assert sharing.share(H) == 0

    asyncio.run(main())


def test_an_http2_shard_carries_at_most_the_streams_per_connection() -> None:
    async def main() -> None:
        sharing = Http2Sharing(2)
        sharing.opened(H, 0)
        sharing.learnt(H, 0, http2=True)
        for _ in range(STREAMS_PER_CONNECTION - 1):
            assert sharing.share(H) == 0
        assert sharing.share(H) is None and not sharing.awaits_probe(H)  # full: a shard of its own
        sharing.opened(H, 1)
        assert sharing.probing(H, 1) and not sharing.awaits_probe(H)  # a new connection: no one waits for it
        sharing.learnt(H, 1, http2=True)
        assert sharing.share(H) == 1  # the one with room
        assert sharing.end_stream(0, H) is False  # 99 streams left on shard 0

    asyncio.run(main())


def test_an_origin_that_answered_http1_is_not_probed_again() -> None:
    async def main() -> None:
        sharing = Http2Sharing(3)
        sharing.opened(H, 0)
        follower = asyncio.create_task(sharing.wait_for_probe(H))
        await asyncio.sleep(0)
        sharing.learnt(H, 0, http2=False)
        sharing.alone(0)
        assert await follower
        assert sharing.share(H) is None and not sharing.awaits_probe(H)  # goes its own way
        sharing.opened(H, 1)
        assert not sharing.probing(H, 1)
        assert sharing.end_stream(1, H) and not sharing.speaks_h2(1, H)

    asyncio.run(main())


def test_a_failed_probe_lets_the_waiters_try_again() -> None:
    async def main() -> None:
        sharing = Http2Sharing(2)
        sharing.opened(H, 0)
        follower = asyncio.create_task(sharing.wait_for_probe(H))
        await asyncio.sleep(0)
        sharing.failed(H, 0)
        assert await follower
        assert sharing.share(H) is None and not sharing.awaits_probe(H)
        assert sharing.end_stream(0, H) and not sharing.speaks_h2(0, H)

    asyncio.run(main())


def test_a_slow_probe_is_waited_on_only_briefly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(h2sharing, "PROBE_WAIT", 0.05)

    async def main() -> PhaseClock:
        sharing = Http2Sharing(2)
        sharing.opened(H, 0)
        clock = PhaseClock()
        CURRENT.set(clock)
        assert sharing.awaits_probe(H)
        assert not await sharing.wait_for_probe(H)  # gave up waiting
        assert not sharing.awaits_probe(H) and not sharing.probing(H, 0)  # and no one else waits
        return clock

    clock = asyncio.run(main())
    assert clock.pool_s > 0 and not clock.unsent
