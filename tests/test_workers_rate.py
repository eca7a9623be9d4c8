"""``--rate R`` with ``--workers P``: the workers split the rate and their rates add up to R, so
the whole run sends R requests a second, as with one process (it was R/2 with two workers: the
URLs of one host all went to one worker, which sent them at its half). Measured by the server's
arrival times, with generous bounds."""

from __future__ import annotations

import pytest

from fetchcli.settings import Backend
from tests.helpers import fetchcli_in_clean_env
from tests.server import running_server


@pytest.mark.live
@pytest.mark.parametrize("workers", ["1", "2"])
def test_rate_is_the_whole_runs_with_workers(backend: Backend, workers: str) -> None:
    with running_server() as server:
        urls = [server.url(f"/ok?{n}") for n in range(20)]
        done = fetchcli_in_clean_env(
            "--backend", backend.value, "--workers", workers, "--rate", "10", "-f", "jsonl", *urls
        )
        assert done.returncode == 0, done.stderr
        arrivals = sorted(t for times in server.stats.times_by_host.values() for t in times)
    assert len(arrivals) == 20
    spread = arrivals[-1] - arrivals[0]
    # 20 requests at 10 a second: 1.9 s from the first to the last (each of two workers sends its
    # 10 at 5 a second: 1.8 s). At half the rate it was 3 s or more.
    assert 1.5 <= spread < 2.5, spread


@pytest.mark.live
@pytest.mark.parametrize("limit", [("--per-host", "4"), ("--host-rate", "50")])
def test_rate_with_hosts_routed_to_one_worker(limit: tuple[str, str]) -> None:
    """With --per-host or --host-rate each host goes to one worker: the parent paces --rate."""
    with running_server() as server:
        urls = [server.url(f"/ok?{n}") for n in range(20)]
        done = fetchcli_in_clean_env("--workers", "2", "--rate", "10", *limit, "-f", "jsonl", *urls)
        assert done.returncode == 0, done.stderr
        arrivals = sorted(t for times in server.stats.times_by_host.values() for t in times)
    assert len(arrivals) == 20
    spread = arrivals[-1] - arrivals[0]
    assert 1.5 <= spread < 2.7, spread  # 1.9 s at 10 a second; one worker at 5 a second: 3.8 s
