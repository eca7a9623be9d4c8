"""Issue 18 item 7: the exit status and summary of a ``--resume`` run count every URL of the
file, as if the run had not been interrupted; ``--resume-failed`` leaves the file in input order."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fetchcli.input.resume import ResumeFile
from fetchcli.settings import Backend
from fetchcli.summary import Summary
from tests.server import LoopbackServer

FETCHCLI = [sys.executable, "-m", "fetchcli"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FETCHCLI, *args], capture_output=True, text=True, timeout=60)


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_finished_resume_with_failures_inside_exits_1_and_counts_them(
    server: LoopbackServer, tmp_path: Path, backend: Backend
) -> None:
    results, summary_json = tmp_path / "results.jsonl", tmp_path / "summary.json"
    key = f"finished-{backend.value}"
    urls = [server.url(f"/ok/{key}"), server.url(f"/status/404?{key}"), server.url(f"/status/503?{key}")]
    first = _run("--backend", backend.value, "--resume", str(results), *urls)
    assert first.returncode == 1 and [r["status"] for r in _lines(results)] == [200, 404, 503]
    requests = server.stats.requests
    again = _run(
        "--backend", backend.value, "--resume", str(results), "--summary", "--summary-json", str(summary_json), *urls
    )
    assert server.stats.requests == requests  # nothing fetched: every URL was done
    assert again.returncode == 1, again.stderr  # today: 0
    assert "3 URLs: 1 ok, 2 failed (1 404, 1 503)" in again.stderr and "3 done before (--resume)" in again.stderr
    totals = json.loads(summary_json.read_text())
    assert (totals["total"], totals["ok"], totals["failed"]) == (3, 1, 2)
    assert totals["failures"] == {"404": 1, "503": 1} and totals["by_status_class"] == {"2xx": 1, "4xx": 1, "5xx": 1}
    assert totals["resumed"] == 3 and totals["elapsed_ms"]["max"] is not None  # the file's times count
    within = _run("--backend", backend.value, "--resume", str(results), "--max-failures", "2", *urls)
    assert within.returncode == 0, within.stderr  # the same policy as for one uninterrupted run
    assert len(_lines(results)) == 3


def test_a_resumed_run_counts_the_file_and_what_it_fetched(server: LoopbackServer, tmp_path: Path) -> None:
    results, summary_json = tmp_path / "results.jsonl", tmp_path / "summary.json"
    urls = [server.url("/status/404?part"), server.url("/ok/part")]
    first = _run("--resume", str(results), urls[0])  # a file of one record, index 0: a run stopped there
    assert first.returncode == 1
    rest = _run("--resume", str(results), "--summary", "--summary-json", str(summary_json), *urls)
    assert rest.returncode == 1, rest.stderr
    assert "2 URLs: 1 ok, 1 failed (1 404)" in rest.stderr
    totals = json.loads(summary_json.read_text())
    assert (totals["total"], totals["ok"], totals["failed"], totals["resumed"]) == (2, 1, 1, 1)


@pytest.mark.parametrize("redo_failed", [False, True])
def test_the_file_is_counted_last_record_wins(tmp_path: Path, redo_failed: bool) -> None:
    """A file holding an index twice (a --resume-failed run stopped before compacting): the last
    record counts; with --resume-failed, a failed last record is fetched again, so not counted."""
    path = tmp_path / "r.jsonl"
    records = [
        {"index": 0, "url": "https://a/", "ok": True, "status": 200, "elapsed_ms": 5.0, "attempts": 1},
        {"index": 1, "url": "https://b/", "ok": False, "status": 503, "elapsed_ms": 7.0, "attempts": 1},
        {"index": 2, "url": "https://c/", "ok": False, "status": 404, "elapsed_ms": 9.0, "attempts": 1},
        {"index": 1, "url": "https://b/", "ok": True, "status": 200, "elapsed_ms": 6.0, "attempts": 1},
        {"index": 3, "url": "https://d/", "ok": False, "error": {"type": "NotStarted", "message": ""}},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    earlier = ResumeFile.load(str(path), redo_failed=redo_failed).earlier
    assert (earlier.total, earlier.ok, earlier.failed) == ((2, 2, 0) if redo_failed else (3, 2, 1))
    assert earlier.by_status_class == ({"2xx": 2} if redo_failed else {"2xx": 2, "4xx": 1})
    assert sorted(earlier.times_ms) == ([5.0, 6.0] if redo_failed else [5.0, 6.0, 9.0])
    assert earlier.failures == ({} if redo_failed else {"404": 1})


def test_resume_failed_keeps_the_file_in_input_order(server: LoopbackServer, tmp_path: Path, backend: Backend) -> None:
    results = tmp_path / "results.jsonl"
    key = f"order-{backend.value}"
    urls = [
        server.url(f"/ok/{key}-0"),
        server.url(f"/fail/{key}-1/1"),
        server.url(f"/ok/{key}-2"),
        server.url(f"/fail/{key}-3/1"),
        server.url(f"/ok/{key}-4"),
    ]
    first = _run("--backend", backend.value, "--resume", str(results), *urls)
    assert first.returncode == 1 and [r["ok"] for r in _lines(results)] == [True, False, True, False, True]
    redo = _run("--backend", backend.value, "--resume", str(results), "--resume-failed", "--summary", *urls)
    assert redo.returncode == 0, redo.stderr
    records = _lines(results)
    assert [r["index"] for r in records] == [0, 1, 2, 3, 4]  # today: 0, 2, 4, 1, 3
    assert [r["url"] for r in records] == urls and all(r["ok"] for r in records)
    assert "5 URLs: 5 ok" in redo.stderr and "3 done before (--resume)" in redo.stderr


def test_merge_adds_every_count_and_urls_per_second_stays_the_runs() -> None:
    from fetchcli.models import FetchResult

    run = Summary()
    run.add(FetchResult(0, "https://a/", True, status=200, elapsed_ms=5.0, attempts=1))
    run.elapsed_s = 1.0
    earlier = Summary()
    earlier.add(FetchResult(1, "https://b/", False, status=404, elapsed_ms=7.0, attempts=1))
    run.merge(earlier, times=3)
    assert (run.total, run.ok, run.failed, run.earlier) == (4, 1, 3, 3)
    assert run.failures == {"404": 3} and run.by_status_class == {"2xx": 1, "4xx": 3}
    assert run.times_ms == {5.0: 1, 7.0: 3} and run.urls_per_second == 1.0
