"""A stop while URLs wait their politeness turn (``--rate``, ``--per-host``, ``--host-rate``):
a URL whose request was never sent is ``NotStarted``, not ``Cancelled``; ``Cancelled`` is only a
URL with a request in flight. Counted against what the server saw."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fetchcli.settings import Backend
from tests.helpers import fetchcli_in_clean_env
from tests.server import LoopbackServer, running_server


def _summary(path: Path) -> dict[str, int]:
    data = json.loads(path.read_text())
    return {k: data[k] for k in ("total", "ok", "failed", "cancelled", "not_started")}


def _types(stdout: str) -> list[str | None]:
    return [(r["error"] or {}).get("type") for r in map(json.loads, stdout.splitlines())]


def _check(server: LoopbackServer, summary: dict[str, int], types: list[str | None], total: int) -> None:
    seen = server.stats.requests
    assert summary["total"] == total == len(types)
    assert summary["failed"] == 0
    # Every request the server saw was answered (ok) or cut short by the stop (cancelled); every
    # URL the server never saw is "not started".
    assert summary["ok"] + summary["cancelled"] == seen
    assert summary["not_started"] == total - seen
    assert summary["not_started"] == types.count("NotStarted") > 0


@pytest.mark.live
def test_deadline_during_rate_reports_waiting_urls_as_not_started(backend: Backend, tmp_path: Path) -> None:
    with running_server() as server:
        urls = [server.url(f"/ok?{n}") for n in range(40)]
        out = tmp_path / "summary.json"
        done = fetchcli_in_clean_env(
            "--backend", backend.value, "-f", "jsonl", "--rate", "4", "--deadline", "1.5",
            "--summary-json", str(out), *urls,
        )  # fmt: skip
        assert done.returncode != 0, done.stderr
        summary = _summary(out)
        _check(server, summary, _types(done.stdout), 40)
        assert summary["cancelled"] <= 1  # /ok answers at once: at most one in flight at the stop
        assert "40 not started" not in done.stderr


@pytest.mark.live
def test_deadline_during_per_host_reports_queued_urls_as_not_started(backend: Backend, tmp_path: Path) -> None:
    with running_server(extra_hosts=("127.0.0.2",)) as server:
        hosts = ("127.0.0.1", "127.0.0.2")
        urls = [server.url(f"/slow/400?{n}", host=hosts[n % 2]) for n in range(40)]
        out = tmp_path / "summary.json"
        done = fetchcli_in_clean_env(
            "--backend", backend.value, "-f", "jsonl", "--per-host", "1", "-c", "10", "--deadline", "1.5",
            "--summary-json", str(out), *urls,
        )  # fmt: skip
        summary = _summary(out)
        _check(server, summary, _types(done.stdout), 40)
        assert summary["cancelled"] <= 2  # one request in flight per host at the stop, at most
        assert summary["cancelled"] == server.stats.requests - summary["ok"]


@pytest.mark.live
def test_interrupt_during_host_rate_counts_not_started(tmp_path: Path) -> None:
    with running_server() as server:
        urls = [server.url(f"/ok?{n}") for n in range(30)]
        out = tmp_path / "summary.json"
        proc = subprocess.Popen(
            [sys.executable, "-m", "fetchcli", "-f", "jsonl", "--host-rate", "4", "-c", "10",
             "--summary-json", str(out), *urls],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        limit = time.monotonic() + 30
        while server.stats.requests < 3:
            assert time.monotonic() < limit, "fetchcli never reached the server"
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 130, stderr
        summary = _summary(out)
        assert summary["ok"] + summary["cancelled"] == server.stats.requests
        assert summary["cancelled"] <= 1
        # Interrupted: the URLs read (the look-ahead, the tasks waiting their turn) are reported.
        assert summary["not_started"] == _types(stdout).count("NotStarted") > 0
        assert "not started" in stderr


@pytest.mark.live
@pytest.mark.parametrize("rate", ["--rate", "--host-rate"])
def test_table_not_started_line_after_a_stop_while_waiting(rate: str) -> None:
    with running_server() as server:
        urls = [server.url(f"/ok?{n}") for n in range(20)]
        done = fetchcli_in_clean_env("-f", "table", rate, "4", "--deadline", "1", *urls, env={"COLUMNS": "100"})
        seen = server.stats.requests
        assert f"{20 - seen} not started" in done.stdout + done.stderr
        assert done.stdout.count("Cancelled") <= 1


@pytest.mark.live
def test_deadline_during_rate_with_workers(tmp_path: Path) -> None:
    """With --workers the parent cancels and the worker answers with the tries it made: none for
    a URL still waiting for its turn, which is then NotStarted too."""
    with running_server() as server:
        urls = [server.url(f"/ok?{n}") for n in range(30)]
        out = tmp_path / "summary.json"
        done = fetchcli_in_clean_env(
            "--workers", "2", "-f", "jsonl", "--rate", "4", "--deadline", "1.5", "--summary-json", str(out), *urls
        )
        summary = _summary(out)
        _check(server, summary, _types(done.stdout), 30)
        assert summary["cancelled"] <= 1
