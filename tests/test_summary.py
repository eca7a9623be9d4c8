"""The end-of-run summary: counts by cause, p50/p95/max, URLs/s; --summary and --summary-json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from fetchcli.errortype import ErrorType
from fetchcli.models import ErrorInfo, FetchResult
from fetchcli.summary import Summary
from tests.server import LoopbackServer


def test_percentiles_from_bounded_counts() -> None:
    summary = Summary()
    for ms in range(1, 101):  # 1..100 ms
        summary.add(FetchResult(index=ms, url="u", ok=True, status=200, elapsed_ms=float(ms), attempts=1))
    summary.add(FetchResult(index=0, url="u", ok=False, error=ErrorInfo(ErrorType.InvalidURL, "m")))  # no time
    assert (summary.percentile(0.5), summary.percentile(0.95), max(summary.times_ms)) == (50, 95, 100)
    for n in range(10_000):  # a million distinct times would still be a few thousand keys
        summary.add(FetchResult(index=n, url="u", ok=True, status=200, elapsed_ms=n / 7, attempts=1))
    assert len(summary.times_ms) < 3000
    summary.elapsed_s = 2.0
    line = summary.describe()
    assert "URLs/s; p50 " in line and " ms, p95 " in line and ", max " in line


def test_summary_flag_and_json(server: LoopbackServer, tmp_path: Path) -> None:
    report = tmp_path / "summary.json"
    urls = [server.url("/ok/1"), server.url("/ok/2"), server.url("/status/503"), "ftp://x"]
    done = subprocess.run(
        [sys.executable, "-m", "fetchcli", "--summary", "--summary-json", str(report), *urls],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    # stderr is a pipe here, as in cron: --summary prints the line all the same
    assert done.stderr[len("2025-03-14T06:05:00Z ") :].startswith("4 URLs: 2 ok, 2 failed (1 503, 1 InvalidURL) in ")
    assert done.stderr.count("\n") == 1
    data = json.loads(report.read_text())
    assert data["schema_version"] == 2
    assert (data["total"], data["ok"], data["failed"]) == (4, 2, 2)
    assert data["failures"] == {"503": 1, "InvalidURL": 1}
    assert data["by_status_class"] == {"2xx": 2, "5xx": 1}
    assert data["elapsed_ms"]["p50"] > 0 and data["elapsed_ms"]["max"] >= data["elapsed_ms"]["p95"]
    assert data["urls_per_second"] > 0 and data["stopped_by"] is None and data["unread"] is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]


def test_summary_json_to_a_directory_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fetchcli", "--summary-json", str(tmp_path), "http://127.0.0.1:9/"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and done.stderr.startswith("fetchcli: error: --summary-json")
