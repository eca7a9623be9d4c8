"""The table streams with bounded memory: 50,000 URLs through ``-f table -o FILE`` against the
loopback server peak within 30 MB of the same run in ``jsonl`` (it held every row until the end
before, 417 MB). Peak RSS is the child's own, from ``wait4``: counted, not timed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
