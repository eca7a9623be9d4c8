"""Which worker process takes a URL (``--workers``): a pure choice over the workers' loads, so
it is tested with plain numbers and no processes (``tests/test_workers.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from fetchcli.engine.admission import host_of
from fetchcli.engine.selection import url_hash
from fetchcli.models import UrlItem
from fetchcli.settings import Settings


class Load(Protocol):
    """What routing reads of a worker."""

    @property
    def alive(self) -> bool: ...
    @property
    def inflight(self) -> int: ...  # URLs sent to it and not answered
    @property
    def routed(self) -> int: ...  # URLs sent to it so far


W = TypeVar("W", bound=Load)


class Router:
    """Routes by host, so connections to a host are reused within one worker: a URL goes to its
    host's worker unless that worker has no connection free or a quarter of its share more in
    flight than the least busy. Under ``--per-host``/``--host-rate`` always to the host's worker
    (one worker sees every request those limits are about); under ``--rate`` alone in turn
    (each worker paces its share of the rate, so each must get its share of the URLs)."""

    def __init__(self, settings: Settings, count: int, connections_each: int) -> None:
        politeness = settings.politeness
        self.by_host = politeness.per_host is not None or politeness.host_rate is not None
        self.in_turn = politeness.rate is not None and not self.by_host
        self.connections_each = connections_each
        self.slack = max(1, settings.effective_concurrency // count // 4)

    def choose(self, item: UrlItem, workers: Sequence[W]) -> W:
        alive = [w for w in workers if w.alive] or list(workers)
        least = min(alive, key=lambda w: w.inflight)
        if item.url is None:
            return least
        # The host as pools key connections and the worker's Gate counts (no port, no userinfo).
        home = alive[url_hash(host_of(item.url)) % len(alive)]
        if self.by_host:
            return home
        if self.in_turn:
            return min(alive, key=lambda w: w.routed)
        if home.inflight < self.connections_each and home.inflight <= least.inflight + self.slack:
            return home  # its connections to the host may be idle (admission.py starts such URLs)
        return least
