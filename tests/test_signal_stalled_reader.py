"""SIGTERM ends a run whose stdout nobody reads (a cron job's ``timeout``). Before, the write to
the full pipe was retried after the handler ran (PEP 475) and blocked for ever: only a second
Ctrl-C or SIGKILL ended it. Now, once a signal has stopped the run, a reader that takes nothing
for ``GRACE_SECONDS`` is given up (``output/stalledreader.py``); one that reads, however late
within that time, still gets every record (the stop guarantee)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fetchcli.cli.status import ExitStatus
from fetchcli.output.stalledreader import GRACE_SECONDS
from tests.server import LoopbackServer, running_server

REPO = Path(__file__).resolve().parent.parent


def _start_filling_the_pipe(server: LoopbackServer, tmp_path: Path, *args: str) -> subprocess.Popen[bytes]:
    """fetchcli writing 3 KB records to a stdout pipe the test does not read (yet)."""
    listing = tmp_path / "urls.txt"
    listing.write_text("".join(server.url(f"/size/3000?n={n}") + "\n" for n in range(3000)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FETCHCLI_") and "proxy" not in k.lower()}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.Popen(
        [sys.executable, "-m", "fetchcli", "-c", "4", "--snippet-length", "3000", *args, "-i", str(listing)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip


def _wait_until_blocked(server: LoopbackServer, proc: subprocess.Popen[bytes]) -> None:
    """Until the server has answered about what a 64 KiB pipe holds (20 records of 3 KB): fetchcli is
    blocked writing (4 in flight at most, so the requests stop coming)."""
    for _ in range(1200):
        if server.stats.requests >= 16:
            seen = server.stats.requests
            time.sleep(0.5)
            if server.stats.requests == seen:  # no request for a while: the loop is blocked
                assert proc.poll() is None
                return
        time.sleep(0.05)
    raise AssertionError("fetchcli never blocked on its full stdout")


@pytest.mark.live
def test_sigterm_ends_a_run_nobody_reads(tmp_path: Path) -> None:
    with running_server() as server:
        proc = _start_filling_the_pipe(server, tmp_path)
        try:
            _wait_until_blocked(server, proc)
            proc.send_signal(signal.SIGTERM)
            status = proc.wait(timeout=GRACE_SECONDS + 60)  # still blocked, before the fix
        finally:
            if proc.poll() is None:
                proc.kill()
            _, err = proc.communicate()
    assert status == ExitStatus.TERMINATED, err
    assert err.decode().strip() == (
        f"fetchcli: error: cannot write stdout: its reader took nothing for {GRACE_SECONDS:g} s after the stop"
    )


@pytest.mark.live
def test_a_reader_that_reads_after_sigterm_gets_every_record(tmp_path: Path) -> None:
    """The pipe is full when SIGTERM comes; the reader then reads: nothing is given up, every URL
    read has its record, in order, and the JSON Lines are whole."""
    with running_server() as server:
        proc = _start_filling_the_pipe(server, tmp_path)
        try:
            _wait_until_blocked(server, proc)
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == ExitStatus.TERMINATED, err
    records = [json.loads(line) for line in out.decode().splitlines()]
    assert [r["index"] for r in records] == list(range(len(records)))
    assert len(records) >= 16 and "cannot write" not in err.decode()


@pytest.mark.live
def test_the_deadline_ends_a_run_nobody_reads(tmp_path: Path) -> None:
    """--deadline too (review r11a): its timer runs on the event loop, which the blocked write
    holds, so the write looks at the clock; the run ends with a write error (74), as the
    records could not be delivered."""
    with running_server() as server:
        proc = _start_filling_the_pipe(server, tmp_path, "--deadline", "1")
        try:
            _wait_until_blocked(server, proc)
            status = proc.wait(timeout=GRACE_SECONDS + 60)  # blocked for ever, before the fix
        finally:
            if proc.poll() is None:
                proc.kill()
            _, err = proc.communicate()
    assert status == ExitStatus.IO_ERROR, err
    assert err.decode().strip() == (
        f"fetchcli: error: cannot write stdout: its reader took nothing for {GRACE_SECONDS:g} s after the stop"
    )
