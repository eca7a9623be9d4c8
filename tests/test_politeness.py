"""--per-host, --rate, --host-rate, and name lookups that do not queue behind a few threads."""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from fetchcli.settings import Backend, Order, PolitenessSettings, Settings
from tests.helpers import collect, run
from tests.server import LoopbackServer, running_server

OTHER = "127.0.0.2"


@pytest.fixture
def two_hosts() -> Iterator[LoopbackServer]:
    with running_server(extra_hosts=(OTHER,)) as server:
        yield server


def test_per_host_limit(two_hosts: LoopbackServer, backend: Backend) -> None:
    """--per-host 2 at concurrency 10: the busy host never has more than two requests in flight,
    and its waiting URLs do not hold the other host up. The busy host's first two requests are
    answered only once the other host's twelve have arrived (/hold), so the order of arrivals
    shows it, whatever the machine's speed: held behind the busy host, the other host would have
    waited out the hold's 10 s and its requests come after the busy host's third."""
    busy = [two_hosts.url(f"/hold/12/{OTHER}?n={n}") for n in range(12)]
    other = [two_hosts.url(f"/ok/{n}", host=OTHER) for n in range(12)]
    settings = Settings(concurrency=10, politeness=PolitenessSettings(per_host=2), order=Order.completion)
    results = run(busy + other, settings, backend=backend)
    assert all(r.ok for r in results)
    stats = two_hosts.stats
    assert stats.max_inflight_by_host[f"127.0.0.1:{two_hosts.port}"] <= 2
    busy_times = stats.times_by_host[f"127.0.0.1:{two_hosts.port}"]
    other_times = stats.times_by_host[f"{OTHER}:{two_hosts.port}"]
    assert len(busy_times) == len(other_times) == 12
    assert max(other_times) < busy_times[2]  # all twelve in before the busy host's third request


def test_overall_rate(server: LoopbackServer, backend: Backend) -> None:
    started = time.monotonic()
    results = run(
        [server.url(f"/ok/{n}") for n in range(11)], Settings(politeness=PolitenessSettings(rate=20)), backend=backend
    )
    elapsed = time.monotonic() - started
    assert all(r.ok for r in results)
    assert elapsed >= 0.45  # ten intervals of 50 ms between eleven requests


def test_host_rate_paces_each_host_separately(two_hosts: LoopbackServer, backend: Backend) -> None:
    """Six URLs of each of two hosts at --host-rate 10 (one request every 100 ms per host).
    Times are the server's arrivals, from each host's second request on: the first one's
    connection set-up (and whatever a busy machine adds to it) would shorten the first gap, so it
    is left out. Without pacing all six arrive within a few ms; the bounds are generous."""
    urls = [two_hosts.url(f"/ok/a{n}") for n in range(6)] + [two_hosts.url(f"/ok/b{n}", host=OTHER) for n in range(6)]
    results = run(urls, Settings(politeness=PolitenessSettings(host_rate=10)), backend=backend)
    assert all(r.ok for r in results)
    a_times, b_times = two_hosts.stats.times_by_host.values()
    for times in (a_times, b_times):
        assert len(times) == 6
        paced = times[1:]
        assert min(b - a for a, b in itertools.pairwise(paced)) >= 0.02  # each one held back
        assert paced[-1] - paced[0] >= 0.3  # four intervals of 100 ms, less a generous 100 ms
    # The two hosts were paced side by side, not one after the other: their arrivals interleave.
    assert min(b_times) < max(a_times) and min(a_times) < max(b_times)


def test_rate_accepts_fractions(server: LoopbackServer) -> None:
    started = time.monotonic()
    run([server.url("/ok/1"), server.url("/ok/2")], Settings(politeness=PolitenessSettings(rate=2.5)))
    assert time.monotonic() - started >= 0.38


def test_name_lookups_run_in_parallel(server: LoopbackServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """50 distinct host names at concurrency 50: the lookups must run side by side (close to 50
    at once), not a few at a time on the default thread pool. Each lookup holds its thread until
    40 are in progress (or 2 s pass: then the count stays short and the test fails), so a busy
    machine that starts the threads slowly cannot make the count miss."""
    real = socket.getaddrinfo
    lock = threading.Condition()
    state = {"now": 0, "peak": 0}

    def slow_lookup(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith(".fetchcli.test"):
            with lock:
                state["now"] += 1
                state["peak"] = max(state["peak"], state["now"])
                lock.notify_all()
                lock.wait_for(lambda: state["peak"] >= 40, timeout=2)
                state["now"] -= 1
            host = "127.0.0.1"
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", slow_lookup)
    urls = [f"http://h{n}.fetchcli.test:{server.port}/ok/{n}" for n in range(50)]
    results = asyncio.run(collect(urls, Settings(concurrency=50)))
    assert all(r.ok for r in results), results[0].error
    assert state["peak"] >= 40  # counted: lookups side by side
