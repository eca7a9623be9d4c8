"""``--state``'s batches under a full disk and a SIGTERM (found while moving the commits to a
thread, a change measured and not kept: docs/performance.md): a full disk ends the run with exit
74 and SQLite's own words, and a SIGTERM leaves every URL whose record was written in the file."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fetchcli.cli.app import main
from fetchcli.cli.status import ExitStatus
from fetchcli.output import statefile
from tests.test_state import Page, Site, _rows, serving

REPO = Path(__file__).resolve().parent.parent


def _wait_for(condition: Callable[[], bool]) -> bool:
    """Polls ``condition`` (a generous bound: a loaded machine), for events, not for a duration."""
    for _ in range(3000):
        if condition():
            return True
        time.sleep(0.01)
    return False


@pytest.mark.live
def test_a_full_disk_ends_the_run_with_74_and_sqlites_own_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """SQLite rolls a transaction back itself when the disk is full: the error said is that one
    (before, the ROLLBACK that followed failed too, and its words were said instead)."""
    monkeypatch.setattr(statefile, "BATCH_ROWS", 20)
    site = Site(pages={f"/f/{i}": Page() for i in range(60)})
    state = tmp_path / "state.db"
    out = str(tmp_path / "out.jsonl")
    with serving(site) as base:
        assert main(["-q", "-f", "jsonl", "-o", out, "--state", str(state), f"{base}/f/0"]) == 0
        connect = sqlite3.connect

        def full_disk(*args: Any, **kwargs: Any) -> sqlite3.Connection:
            db: sqlite3.Connection = connect(*args, **kwargs)
            db.execute("PRAGMA max_page_count = 1")  # as small as the file is now: no page more
            return db

        monkeypatch.setattr(sqlite3, "connect", full_disk)
        code = main(["-q", "-f", "jsonl", "-o", out, "--state", str(state), *(f"{base}/f/{i}" for i in range(60))])
    said = [line for line in capsys.readouterr().err.splitlines() if line.startswith("fetchcli")]
    assert code == ExitStatus.IO_ERROR  # (the test server's threads may say the connections were cut)
    assert said == [f"fetchcli: error: cannot write --state '{state}': database or disk is full"]
    rows = _rows(state)
    assert len(rows) < 60 and len(rows) % 20 == 0  # whole batches (the first ones fit in the file's pages)


@pytest.mark.live
def test_sigterm_mid_run_leaves_every_written_record_in_the_state_file(tmp_path: Path) -> None:
    n = 400
    site = Site(pages={f"/s/{i}": Page() for i in range(n)}, delay=0.01)
    state, out = tmp_path / "state.db", tmp_path / "out.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FETCHCLI_") and "proxy" not in k.lower()}
    env["PYTHONPATH"] = str(REPO)
    with serving(site) as base:
        (tmp_path / "urls.txt").write_text("".join(f"{base}/s/{i}\n" for i in range(n)))
        command = [
            sys.executable,
            "-m",
            "fetchcli",
            "-q",
            "-c",
            "4",
            "-f",
            "jsonl",
            "-o",
            str(out),
            "--state",
            str(state),
        ]
        process = subprocess.Popen([*command, "-i", str(tmp_path / "urls.txt")], env=env, stderr=subprocess.PIPE)
        try:
            assert _wait_for(lambda: (out.exists() and out.read_text().count("\n") >= 50) or process.poll() is not None)
            assert process.poll() is None, "the run ended before the signal"
            process.send_signal(signal.SIGTERM)
            _, err = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert process.returncode == ExitStatus.TERMINATED, err
    records = [json.loads(line) for line in out.read_text().splitlines()]
    answered = {
        r["url"] for r in records if r["error"] is None or r["error"]["type"] not in ("Cancelled", "NotStarted")
    }
    assert 50 <= len(answered) < n
    assert set(_rows(state)) == answered  # the last batch too: committed while the run's files were written
