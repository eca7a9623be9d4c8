"""Retries that respect the server: --retries, --retry-on, backoff, Retry-After."""

from __future__ import annotations

import email.utils
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from fetchcli.engine.retry import retry_after_seconds
from fetchcli.settings import Backend, Order, RequestSettings, RetrySettings, Settings
from tests.helpers import run
from tests.server import LoopbackServer, running_server

FAST = RetrySettings(retries=3, backoff=0.01, max_wait=0.05)


def key() -> str:
    return uuid.uuid4().hex


def test_success_after_failures(server: LoopbackServer, backend: Backend) -> None:
    [result] = run([server.url(f"/fail/{key()}/2")], Settings(retry=FAST), backend=backend)
    assert result.ok and result.status == 200 and result.attempts == 3
    assert result.snippet == "ok after 2"


def test_retries_exhausted_keep_the_last_answer(server: LoopbackServer, backend: Backend) -> None:
    [result] = run([server.url(f"/fail/{key()}/9")], Settings(retry=FAST), backend=backend)
    assert not result.ok and result.status == 503 and result.attempts == 4


def test_no_retries_by_default(server: LoopbackServer) -> None:
    [result] = run([server.url(f"/fail/{key()}/1")])
    assert result.status == 503 and result.attempts == 1


def test_retry_on_chooses_statuses(server: LoopbackServer) -> None:
    only_500 = RetrySettings(retries=3, backoff=0.01, retry_on=frozenset({500}))
    [result] = run([server.url(f"/fail/{key()}/1?status=503")], Settings(retry=only_500))
    assert result.status == 503 and result.attempts == 1
    [result] = run([server.url(f"/fail/{key()}/1?status=500")], Settings(retry=only_500))
    assert result.status == 200 and result.attempts == 2


def test_dropped_connections_are_retried(server: LoopbackServer, backend: Backend) -> None:
    [result] = run([server.url(f"/drop/{key()}/2")], Settings(retry=FAST), backend=backend)
    assert result.ok and result.snippet == "ok after 2"
    # Every request sent is an attempt, on both backends: aiohttp's own silent resend is off.
    assert result.attempts == 3


def test_a_refused_connection_is_retried(server: LoopbackServer) -> None:
    [result] = run(["http://127.0.0.1:9/"], Settings(retry=FAST))
    assert result.error is not None and result.error.type == "ConnectionRefused"
    assert result.attempts == 4  # nothing was sent: safe to try again, and it may come back


def test_errors_that_a_retry_cannot_fix_are_not_retried(server: LoopbackServer, backend: Backend) -> None:
    follow = Settings(retry=FAST, request=RequestSettings(follow_redirects=True, max_redirects=2))
    before = server.stats.requests
    loop, to_file = run([server.url("/loop"), server.url("/location?to=file:///etc/passwd")], follow, backend=backend)
    assert loop.error is not None and loop.error.type == "TooManyRedirects" and loop.attempts == 3  # each request
    assert to_file.error is not None and to_file.error.type == "UnsupportedRedirect" and to_file.attempts == 1
    assert server.stats.requests - before == 3 + 1  # the loop's three requests, the redirect's one
    [result] = run(["ftp://x"], Settings(retry=FAST))
    assert result.attempts == 0  # invalid input: no request at all


def test_retry_after_is_honoured_and_capped(server: LoopbackServer) -> None:
    settings = Settings(retry=RetrySettings(retries=1, backoff=0.01, max_wait=5))
    started = time.monotonic()
    [result] = run([server.url(f"/fail/{key()}/1?status=429&retry_after=1")], settings)
    assert result.ok and result.attempts == 2
    assert time.monotonic() - started >= 0.9
    capped = Settings(retry=RetrySettings(retries=1, backoff=0.01, max_wait=0.2))
    started = time.monotonic()
    [result] = run([server.url(f"/fail/{key()}/1?status=503&retry_after=120")], capped)
    assert result.ok and time.monotonic() - started < 60  # capped at 0.2 s, not the 120 asked


def test_retry_after_forms() -> None:
    assert retry_after_seconds("7") == 7
    future = datetime.now(timezone.utc) + timedelta(seconds=30)
    seconds = retry_after_seconds(email.utils.format_datetime(future, usegmt=True))
    assert seconds is not None and 25 < seconds <= 30
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_max_time_bounds_all_tries(server: LoopbackServer) -> None:
    from fetchcli.settings import TimeoutSettings

    slow_retries = RetrySettings(retries=10, backoff=0.5, max_wait=0.5)
    path = f"/fail/{key()}/99"
    [result] = run([server.url(path)], Settings(retry=slow_retries, timeouts=TimeoutSettings(max_time=1)))
    # Not 11 tries: the tries stop when the next wait would pass --max-time, and the record is the
    # last answer (or, should the last try itself be slow on a busy machine, a TotalTimeout).
    timed_out = result.error is not None and result.error.type == "TotalTimeout"
    assert (result.status == 503 and result.error is None) or timed_out, result
    assert server.stats.paths.count(path) == result.attempts < 11


@pytest.mark.live
@pytest.mark.slow  # seconds of timers
def test_a_host_backing_off_does_not_hold_up_others() -> None:
    with running_server(extra_hosts=("127.0.0.2",)) as srv:
        slow_host = srv.url(f"/fail/{key()}/1?status=503&retry_after=3")
        others = [srv.url(f"/slow/20?n={n}", host="127.0.0.2") for n in range(20)]
        settings = Settings(concurrency=1, order=Order.completion, retry=RetrySettings(retries=1, max_wait=5))
        results = run([slow_host, *others], settings)
        arrivals = srv.stats.times_by_host
        first_try, second_try = arrivals[f"127.0.0.1:{srv.port}"]
        others_arrived = arrivals[f"127.0.0.2:{srv.port}"]
    assert [r.index for r in results][-1] == 0  # the backing-off URL finished last...
    assert all(r.ok for r in results)
    # ...and every other URL reached the server while it waited, on its one slot: counted in
    # the order of arrivals, not in seconds.
    assert len(others_arrived) == 20 and all(first_try < t < second_try for t in others_arrived)


def test_fault_injection_every_url_once_and_ok(fresh_server: LoopbackServer, backend: Backend) -> None:
    fresh_server.fault_rate = 0.3
    urls = [fresh_server.url(f"/ok/{n}") for n in range(500)]
    settings = Settings(retry=RetrySettings(retries=5, backoff=0.005, max_wait=0.05), concurrency=20)
    results = run(urls, settings, backend=backend)
    assert [r.index for r in results] == list(range(500))
    assert all(r.ok for r in results), [r.error for r in results if not r.ok][:3]
    assert fresh_server.stats.dropped >= 100
    assert max(r.attempts for r in results) > 1
