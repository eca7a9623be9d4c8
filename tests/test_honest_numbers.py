"""Honest numbers (issue 18): waiting is not request time, a Retry-After that does not fit is not
a timeout, a TotalTimeout keeps what was known, a cancelled request counts, a deadline says so.

``fetched_at`` is when a URL's first request was sent, ``elapsed_ms`` runs from there to the end
of the body, and ``queued_ms`` is the wait before (politeness, a concurrency slot, a pooled
connection). The server's own arrival times are the reference.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from fetchcli.models import FetchResult
from fetchcli.settings import (
    Backend,
    PolitenessSettings,
    PoolSettings,
    RequestSettings,
    RetrySettings,
    Settings,
    TimeoutSettings,
)
from tests.helpers import fetchcli_in_clean_env, run
from tests.server import LoopbackServer

FAST_MS = 150  # a loopback answer of ~1 ms, generously: the point is that waits are not in it


def _epoch(fetched_at: str) -> float:
    return datetime.fromisoformat(fetched_at.replace("Z", "+00:00")).timestamp()


def _arrivals(server: LoopbackServer) -> list[float]:
    (times,) = server.stats.times_by_host.values()
    return times


def _on_wire(record: FetchResult | dict[str, Any]) -> float:
    """When a record's request reached the wire: its ``fetched_at`` (handed to a connection) plus
    the set-up of a new connection, which a busy machine can stretch to hundreds of ms."""
    data = record if isinstance(record, dict) else record.to_dict()
    timing = data.get("timing") or {}
    setup = sum(timing.get(phase) or 0 for phase in ("dns_ms", "connect_ms", "tls_ms")) / 1000
    return _epoch(data["fetched_at"]) + setup


def _follows(records: list[FetchResult] | list[dict[str, Any]], arrivals: list[float], slack: float = 0.15) -> None:
    """The records' send times are the server's arrival times (both taken from the first),
    within ``slack`` seconds each, not one shared moment."""
    sent = sorted(_on_wire(record) for record in records)
    seen = sorted(arrivals)
    assert len(sent) == len(seen)
    offsets = [(s - sent[0]) - (a - seen[0]) for s, a in zip(sent, seen, strict=True)]
    assert max(abs(o) for o in offsets) < slack, (sent, seen)


def _records(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


# --- 1. waiting is queued_ms, not elapsed_ms -------------------------------------------------------


def test_rate_waits_are_queued_not_elapsed(fresh_server: LoopbackServer, backend: Backend, tmp_path: Path) -> None:
    urls = [fresh_server.url(f"/ok/{n}") for n in range(10)]
    summary = tmp_path / "summary.json"
    done = fetchcli_in_clean_env(
        "--backend", backend.value, "--rate", "5", "-f", "jsonl", "--summary-json", str(summary), *urls
    )
    assert done.returncode == 0, done.stderr
    records = _records(done.stdout)
    assert len({r["fetched_at"] for r in records}) == 10  # not one shared moment
    _follows(records, _arrivals(fresh_server))
    assert all(r["elapsed_ms"] < FAST_MS for r in records), [r["elapsed_ms"] for r in records]
    queued = [r["queued_ms"] for r in records]
    assert queued == sorted(queued) and queued[-1] > 1200, queued  # 9 x 0.2 s of --rate 5 before the last
    p95 = json.loads(summary.read_text())["elapsed_ms"]["p95"]
    assert p95 < FAST_MS  # the percentiles are of the answers, not of the politeness schedule


@pytest.mark.slow  # seconds of timers
def test_max_time_does_not_count_the_politeness_wait(fresh_server: LoopbackServer, backend: Backend) -> None:
    # --rate 5 spaces 10 URLs over 1.8 s; each answers at once: none is a TotalTimeout at -m 1.
    urls = [fresh_server.url(f"/ok/{n}") for n in range(10)]
    settings = Settings(politeness=PolitenessSettings(rate=5), timeouts=TimeoutSettings(max_time=1))
    results = run(urls, settings, backend=backend)
    assert [r.status for r in results] == [200] * 10, [r.error for r in results]
    assert [r.attempts for r in results] == [1] * 10


def test_per_host_waits_are_queued_not_elapsed(fresh_server: LoopbackServer, backend: Backend) -> None:
    urls = [fresh_server.url(f"/slow/300?n={n}") for n in range(4)]
    results = run(urls, Settings(concurrency=4, politeness=PolitenessSettings(per_host=1)), backend=backend)
    assert [r.status for r in results] == [200] * 4
    _follows(results, _arrivals(fresh_server))
    # Each took its 300 ms (not 300, 600, 900, 1200: the wait for the host is queued).
    assert all(300 <= (r.elapsed_ms or 0) < 300 + FAST_MS * 2 for r in results), [r.elapsed_ms for r in results]
    queued = sorted(r.queued_ms or 0 for r in results)
    assert queued[-1] > 700, queued  # the last waited for three answers of 300 ms


def test_a_wait_for_a_pooled_connection_is_queued(fresh_server: LoopbackServer, backend: Backend) -> None:
    # -c 3 over one connection: two requests wait in the transport's pool, not in the engine.
    urls = [fresh_server.url(f"/slow/300?pool={n}") for n in range(3)]
    settings = Settings(concurrency=3, pool=PoolSettings(max_connections=1))
    results = run(urls, settings, backend=backend)
    assert [r.status for r in results] == [200] * 3
    assert fresh_server.stats.accepted == 1
    _follows(results, _arrivals(fresh_server))
    assert all(300 <= (r.elapsed_ms or 0) < 300 + FAST_MS * 2 for r in results), [r.elapsed_ms for r in results]
    assert sorted(r.queued_ms or 0 for r in results)[-1] > 500


def test_with_workers_the_politeness_wait_of_a_worker_is_queued(fresh_server: LoopbackServer) -> None:
    urls = [fresh_server.url(f"/ok/{n}?workers") for n in range(10)]
    done = fetchcli_in_clean_env("--workers", "2", "--rate", "5", "-f", "jsonl", *urls)
    assert done.returncode == 0, done.stderr
    records = _records(done.stdout)
    _follows(records, _arrivals(fresh_server))
    assert all(r["elapsed_ms"] < FAST_MS for r in records), [r["elapsed_ms"] for r in records]
    assert max(r["queued_ms"] for r in records) > 1200  # each worker paces at 2.5/s: 4 waits before its last


def test_queued_ms_is_in_every_format(server: LoopbackServer, tmp_path: Path) -> None:
    url = server.url("/ok/queued-formats")
    csv = fetchcli_in_clean_env("-f", "csv", url).stdout.splitlines()
    header = csv[0].rstrip("\r").split(",")
    at = header.index("queued_ms")  # the fields added since come after it, in this order
    assert header[at : at + 5] == ["queued_ms", "location", "method", "saved_path", "meta"]
    assert header[at + 5 :] == [
        "not_modified",
        "change.kind",
        "change.fields",
        "change.previous",
        "change.transition",
        "consecutive_failures",
    ]
    assert float(csv[1].rstrip("\r").split(",")[at]) >= 0
    picked = fetchcli_in_clean_env("-f", "jsonl", "--fields", "url,queued_ms,elapsed_ms", url)
    record = json.loads(picked.stdout)
    assert list(record) == ["url", "queued_ms", "elapsed_ms"] and record["queued_ms"] >= 0
    never_sent = run(["ftp://invalid"])[0]
    assert never_sent.queued_ms is None and never_sent.elapsed_ms is None and never_sent.attempts == 0


# --- 2. a Retry-After longer than the time left -----------------------------------------------------


def _key(name: str, backend: Backend) -> str:
    return f"{name}-{backend.value}-{time.monotonic_ns()}"


def test_a_retry_after_past_max_time_is_not_waited_for(server: LoopbackServer, backend: Backend) -> None:
    path = f"/fail/{_key('ra-max-time', backend)}/1"
    settings = Settings(retry=RetrySettings(retries=1), timeouts=TimeoutSettings(max_time=30))
    started = time.monotonic()
    [result] = run([server.url(f"{path}?retry_after=60")], settings, backend=backend)
    took = time.monotonic() - started
    assert result.status == 503 and result.reason == "Try Later" and result.snippet == "not yet"
    assert result.timing is not None and result.timing.ttfb_ms is not None  # the answer came whole
    assert result.error is not None and result.error.type == "RetryAfterTooLong"
    assert "asked to wait 60 s" in result.error.message and "--max-time" in result.error.message
    assert not result.ok and result.attempts == 1
    assert sum(p.startswith(path) for p in server.stats.paths) == 1
    assert took < 20  # not the 30 s of --max-time slept away (it is a few ms): generous for a busy machine


def test_a_retry_after_past_the_deadline_is_not_waited_for(server: LoopbackServer, backend: Backend) -> None:
    path = f"/fail/{_key('ra-deadline', backend)}/1"
    settings = Settings(retry=RetrySettings(retries=1), timeouts=TimeoutSettings(max_time=0), deadline=5)
    [result] = run([server.url(f"{path}?retry_after=10")], settings, backend=backend)
    assert result.status == 503 and result.attempts == 1
    assert result.error is not None and result.error.type == "RetryAfterTooLong"
    assert "--deadline" in result.error.message


def test_a_retry_after_that_fits_is_waited_for(server: LoopbackServer, backend: Backend) -> None:
    path = f"/fail/{_key('ra-fits', backend)}/1"
    settings = Settings(retry=RetrySettings(retries=1), timeouts=TimeoutSettings(max_time=10))
    [result] = run([server.url(f"{path}?retry_after=1")], settings, backend=backend)
    assert result.status == 200 and result.error is None and result.attempts == 2


def test_retry_after_too_long_on_the_command_line(server: LoopbackServer, backend: Backend) -> None:
    url = server.url(f"/fail/{_key('ra-cli', backend)}/1?retry_after=10")
    done = fetchcli_in_clean_env("--backend", backend.value, "--retries", "1", "-m", "4", "-f", "jsonl", url)
    assert done.returncode == 1, done.stderr
    [record] = _records(done.stdout)
    assert (record["status"], record["error"]["type"], record["attempts"]) == (503, "RetryAfterTooLong", 1)


# --- 3. a TotalTimeout keeps what was known ---------------------------------------------------------


def _assert_stalled_200(result: FetchResult, final_path: str, attempts: int = 1) -> None:
    assert result.error is not None and result.error.type == "TotalTimeout"
    assert not result.ok and result.attempts == attempts  # every request sent, redirects included
    assert (result.status, result.reason, result.http_version) == (200, "OK", "HTTP/1.1")
    assert result.content_length == 100 and result.remote_ip == "127.0.0.1"
    assert result.final_url is not None and result.final_url.endswith(final_path)
    assert result.timing is not None and result.timing.ttfb_ms is not None
    assert result.elapsed_ms is not None and result.elapsed_ms >= 900


def test_a_total_timeout_keeps_the_status_of_a_stalled_body(server: LoopbackServer, backend: Backend) -> None:
    settings = Settings(timeouts=TimeoutSettings(timeout=5, max_time=1))
    [result] = run([server.url("/trickle")], settings, backend=backend)
    _assert_stalled_200(result, "/trickle")
    assert result.redirects == ()


def test_a_total_timeout_keeps_the_redirect_trail(server: LoopbackServer, backend: Backend) -> None:
    inner = "/location?to=" + urllib.parse.quote("/trickle", safe="")
    outer = "/location?to=" + urllib.parse.quote(inner, safe="")
    settings = Settings(request=RequestSettings(follow_redirects=True), timeouts=TimeoutSettings(timeout=5, max_time=1))
    [result] = run([server.url(outer)], settings, backend=backend)
    _assert_stalled_200(result, "/trickle", attempts=3)
    assert [(hop.url, hop.status) for hop in result.redirects] == [(server.url(outer), 302), (server.url(inner), 302)]


def test_a_total_timeout_before_the_answer_keeps_the_redirects(server: LoopbackServer, backend: Backend) -> None:
    start = "/location?to=/hang"
    settings = Settings(request=RequestSettings(follow_redirects=True), timeouts=TimeoutSettings(timeout=5, max_time=1))
    [result] = run([server.url(start)], settings, backend=backend)
    assert result.error is not None and result.error.type == "TotalTimeout"
    assert result.status is None and result.final_url == server.url("/hang")  # where the redirects ended
    assert [(hop.url, hop.status) for hop in result.redirects] == [(server.url(start), 302)]


# --- 4. a cancelled request counts; a deadline says it stopped the run -------------------------------


def test_a_request_cancelled_by_the_deadline_counts_as_an_attempt(server: LoopbackServer, backend: Backend) -> None:
    # /hang is sent and cancelled; the second URL waits for --rate 1: never sent, NotStarted.
    urls = [server.url("/hang"), server.url("/ok/rate-cancelled")]
    settings = Settings(politeness=PolitenessSettings(rate=1), deadline=0.5)
    sent, unsent = run(urls, settings, backend=backend)
    assert sent.error is not None and sent.error.type == "Cancelled" and sent.attempts == 1
    assert sent.queued_ms is not None and sent.elapsed_ms is None  # cut short: not the URL's time
    assert unsent.error is not None and unsent.error.type == "NotStarted" and unsent.attempts == 0
    assert unsent.queued_ms is None


def test_the_summary_says_a_deadline_stopped_the_run(server: LoopbackServer, backend: Backend, tmp_path: Path) -> None:
    summary = tmp_path / "summary.json"
    done = fetchcli_in_clean_env(
        "--backend", backend.value, "--deadline", "0.5", "--summary-json", str(summary), "-f", "jsonl",
        server.url("/hang"),
    )  # fmt: skip
    assert json.loads(summary.read_text())["stopped_by"] == "deadline"
    [record] = _records(done.stdout)
    assert record["error"]["type"] == "Cancelled" and record["attempts"] == 1


def test_with_workers_a_cancelled_request_counts_too(server: LoopbackServer) -> None:
    done = fetchcli_in_clean_env("--workers", "2", "--deadline", "1", "-f", "jsonl", server.url("/hang"))
    [record] = _records(done.stdout)
    assert record["error"]["type"] == "Cancelled" and record["attempts"] == 1
