"""The shard table of the sharded httpx pool (``pool.py``): which shard serves a request.

Synchronous bookkeeping only (no I/O, no event loop): ``size`` one-connection shards, each
busy or idle, an idle one either without a connection (fresh) or with a connection kept alive
to an origin. ``pick`` chooses in constant time:

1. an idle shard whose connection is to the same origin (keep-alive reuse), the most recently
   idle (the likeliest still open);
2. a shard with no connection;
3. the least useful idle shard (its connection is closed and a new one opened by the pool): the
   longest idle of those whose host has no URL waiting in the engine's look-ahead (``demand``,
   ``hints.least_needed``), else the one whose host's next URL comes last; without a look-ahead,
   the longest idle;
4. otherwise none (the pool's caller waits for a shard to be released: ``handoff.py``).

Entries in the idle queues are ``(shard, generation)``: every change of a shard's state bumps its
generation, so an entry left behind when its shard was taken by another route goes stale and is
skipped cheaply (and dropped once they outnumber the shards: memory stays bounded however many
URLs and hosts pass). ``routing_steps`` counts the entries examined, so tests can guard that
routing stays O(1) per request.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sized

from fetchcli.transport.hints import EVICTION_CANDIDATES, least_needed

Origin = tuple[bytes, bytes, int | None]  # (scheme, host, port), as httpx's URL gives them raw
Demand = Callable[[str], "int | None"]  # a host's next waiting URL (hints.DEMAND), or None


class ShardTable:
    """Which of ``size`` one-connection shards is busy, idle without a connection, or idle with
    one kept alive to an origin; at most ``max_keepalive`` of them kept (``keeps_another``).
    ``demand`` is asked, when a full table must give an idle shard to another origin, for the
    engine's look-ahead (``hints.DEMAND.get``), or None."""

    __slots__ = (
        "_busy",
        "_demand",
        "_fresh",
        "_generation",
        "_idle_by_origin",
        "_idle_lru",
        "_kept",
        "_kept_host",
        "_limit",
        "idle_count",
        "max_keepalive",
        "routing_steps",
        "size",
    )

    def __init__(self, size: int, max_keepalive: int, demand: Callable[[], Demand | None] | None = None) -> None:
        self.size = size
        self.max_keepalive = max_keepalive
        self._demand = demand
        self._busy = [False] * size
        self._kept = [False] * size  # idle, with a kept-alive connection
        # Bumped on every change of a shard's state, so stale entries below are skipped cheaply.
        self._generation = [0] * size
        self._fresh: list[int] = list(reversed(range(size)))  # idle, no connection
        self._idle_by_origin: dict[Origin, list[tuple[int, int]]] = {}
        self._kept_host: list[str] = [""] * size  # host of a shard's kept connection
        self._idle_lru: deque[tuple[int, int]] = deque()
        self._limit = 2 * size + 16  # stale entries kept before the queues are compacted
        self.idle_count = 0  # idle shards with a kept connection
        self.routing_steps = 0  # entries examined while routing: tests guard that it stays O(1)

    # --- questions ------------------------------------------------------------------------------

    def is_busy(self, index: int) -> bool:
        return self._busy[index]

    def is_kept(self, index: int) -> bool:
        """Shard ``index`` is idle with a connection kept alive."""
        return self._kept[index]

    def host(self, index: int) -> str:
        """The host (lower case) of the connection shard ``index`` keeps, or last kept."""
        return self._kept_host[index]

    def keeps_another(self) -> bool:
        """Whether one more released connection may be kept alive (fewer than ``max_keepalive``
        are kept); else the pool closes it."""
        return self.idle_count < self.max_keepalive

    def queued(self) -> int:
        """Entries in the idle queues, stale ones included: bounded by the shards, not by the
        requests or origins that passed."""
        return len(self._idle_lru) + sum(len(stack) for stack in self._idle_by_origin.values())

    # --- transitions ----------------------------------------------------------------------------

    def pick(self, origin: Origin, reuse: bool = True) -> int | None:
        """A shard for a request to ``origin``, now busy (see the module docstring), or None when
        every shard is busy. ``reuse`` False (a resend that asks for a new connection): no idle
        shard of the origin is taken for its connection."""
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
        demand = None if self._demand is None else self._demand()
        if demand is None:
            return self._pop_idle(self._idle_lru, self._idle_lru.popleft)
        return self._least_useful(demand)

    def release(self, index: int, origin: Origin | None) -> None:
        """Shard ``index`` is idle again: its connection kept alive to ``origin``, or (None) it
        has none (closed, failed, or its response not read to the end)."""
        self._busy[index] = False
        generation = self._generation[index] = self._generation[index] + 1
        if origin is None:
            self._fresh.append(index)
            return
        self._kept[index] = True
        self._kept_host[index] = origin[1].decode("ascii", "replace").lower()
        self.idle_count += 1
        entry = (index, generation)
        stack = self._idle_by_origin.setdefault(origin, [])
        stack.append(entry)
        self._idle_lru.append(entry)
        # Entries go stale when their shard is taken by another route; drop them once they
        # outnumber the shards, so memory stays bounded however many URLs and hosts pass.
        if len(stack) > self._limit:
            stack[:] = [e for e in stack if self._is_valid(e)]
        if len(self._idle_lru) > self._limit:
            self._idle_lru = deque(e for e in self._idle_lru if self._is_valid(e))

    # --- inside ---------------------------------------------------------------------------------

    def _take(self, index: int) -> int:
        if self._kept[index]:
            self._kept[index] = False
            self.idle_count -= 1
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

    def _least_useful(self, demand: Demand) -> int | None:
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

    def _is_valid(self, entry: tuple[int, int]) -> bool:
        index, generation = entry
        return not self._busy[index] and self._generation[index] == generation
