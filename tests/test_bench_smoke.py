"""The benchmark still runs end to end (built-in server, small sizes): bench/ must not rot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_bench_quick_run(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [
            sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--server", "builtin",
            "--workloads", "small,large,startup", "--clients", "httpx textbook", "--out", str(out),
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["server"].startswith("built-in")
    small = {row["client"]: row for row in report["workloads"]["small"]["rows"]}
    assert set(small) == {"fetchcli", "httpx textbook"}
    assert small["fetchcli"]["connections"] <= 100
    assert report["workloads"]["large"]["rows"][0]["max_bytes_read"] == 65536
    assert "| fetchcli --version |" in report["markdown"]
