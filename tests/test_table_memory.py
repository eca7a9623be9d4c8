"""The table streams with bounded memory: 50,000 URLs through ``-f table -o FILE`` against the
loopback server peak within 30 MB of the same run in ``jsonl`` (it held every row until the end
before, 417 MB). Peak RSS is the child's own, from ``wait4``: counted, not timed. That run is
100,000 requests (slow tier); the fast tier counts the renderer's own memory in process."""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from fetchcli.models import FetchResult
from fetchcli.output.render import Sink, make_sink
from fetchcli.settings import OutputFormat
from fetchcli.summary import Summary
from tests.server import LoopbackServer

URLS = 50_000


def _peak_rss_mb(args: list[str]) -> float:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fetchcli", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.stderr is not None
    assert proc.returncode == 0, proc.stderr.read()
    return usage.ru_maxrss / 1024  # KiB on Linux


@pytest.mark.slow
@pytest.mark.timeout(900)  # two runs of 50,000 requests: minutes on a busy two-core machine
def test_table_memory_is_flat_like_jsonl(fresh_server: LoopbackServer, tmp_path: Path) -> None:
    listing = tmp_path / "urls.txt"
    listing.write_text("".join(fresh_server.url(f"/ok/{n}") + "\n" for n in range(URLS)))
    common = ["-q", "-i", str(listing), "-c", "50"]
    jsonl = _peak_rss_mb(["-f", "jsonl", "-o", str(tmp_path / "out.jsonl"), *common])
    table = _peak_rss_mb(["-f", "table", "-o", str(tmp_path / "out.txt"), *common])
    assert fresh_server.stats.requests == 2 * URLS
    rows = (tmp_path / "out.txt").read_text().splitlines()
    assert len(rows) == URLS + 2  # header and rule
    assert table - jsonl < 30, (table, jsonl)


def test_the_table_renderer_holds_one_screenful_however_many_rows(tmp_path: Path) -> None:
    """14,000 rows through the table renderer as ``-f table -o FILE`` makes it, each result made
    as it is written (as the engine yields them). After the first 6,000 (the screenful measured
    and written; Rich's cache of 4,096 cell widths full), the next 8,000 add less than 1 MiB at
    their peak (a resize of that cache is ~300 KiB; holding the rows, as before, is several MiB:
    a row object each); the file has every row. Indexes from 10,000: every URL is cut alike."""
    out = tmp_path / "out.txt"

    def write(sink: Sink, rows: range) -> None:
        for n in rows:
            url = f"http://127.0.0.1:8080/ok/{n}"
            sink.write(FetchResult(n, url, ok=True, status=200, elapsed_ms=1.5, bytes_read=2, snippet="ok"))

    with out.open("w", encoding="utf-8") as stream:
        sink = make_sink(OutputFormat.table, stream)
        tracemalloc.start()
        try:
            write(sink, range(10_000, 16_000))
            settled = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            write(sink, range(16_000, 24_000))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        sink.close(Summary())
    assert len(out.read_text(encoding="utf-8").splitlines()) == 14_000 + 2  # header and rule
    assert peak - settled < 2**20, (settled, peak)
