"""SIGHUP (the terminal or the ssh session a run was started from closed) stops a run as SIGTERM
does: what finished is written, `-o` and `--metrics` committed, no temporary file left, exit 129.
Under ``nohup`` (SIGHUP ignored) the run goes on. Found by review r7u: SIGHUP's default action
killed the run, leaving `.NAME.XXXX.tmp` files and no metrics."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from fetchcli.cli.status import ExitStatus
from tests.server import LoopbackServer, running_server

REPO = Path(__file__).resolve().parent.parent


def _start(args: list[str], *, ignore_hangup: bool = False) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FETCHCLI_") and "proxy" not in k.lower()}
    env["PYTHONPATH"] = str(REPO)

    def hangup_ignored() -> None:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as nohup leaves it

    return subprocess.Popen(
        [sys.executable, "-m", "fetchcli", "-c", "1", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=hangup_ignored if ignore_hangup else None,
    )


def _both_requests_seen(server: LoopbackServer, proc: subprocess.Popen[str]) -> None:
    for _ in range(1200):  # -c 1: the first URL answered, the second's request is hanging
        if server.stats.requests >= 2:
            return
        assert proc.poll() is None
        time.sleep(0.05)
    raise AssertionError("the server never saw the second request")


def _hang_up_once_both_requests_are_sent(server: LoopbackServer, proc: subprocess.Popen[str]) -> str:
    """SIGHUP once the run is waiting on the hanging URL; its stderr once it has ended."""
    try:
        _both_requests_seen(server, proc)
        proc.send_signal(signal.SIGHUP)
        return proc.communicate(timeout=60)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sighup_stops_the_run_cleanly(tmp_path: Path) -> None:
    records, prom = tmp_path / "r.jsonl", tmp_path / "m.prom"
    records.write_text("old\n")  # replaced by the run's records
    with running_server() as server:
        urls = [server.url("/ok/done"), server.url("/hang")]
        proc = _start(["-o", str(records), "--metrics", str(prom), *urls])
        stderr = _hang_up_once_both_requests_are_sent(server, proc)
    assert proc.returncode == ExitStatus.HANGUP, stderr
    lines = [json.loads(line) for line in records.read_text().splitlines()]
    assert [(r["url"], r["ok"]) for r in lines] == [(urls[0], True), (urls[1], False)]
    assert lines[1]["error"]["type"] == "Cancelled"
    assert "fetchcli_run_complete 0" in prom.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.prom", "r.jsonl"]  # no temporary file left
    assert "interrupted by SIGHUP" in stderr


def test_under_nohup_sighup_changes_nothing(tmp_path: Path) -> None:
    records = tmp_path / "r.jsonl"
    with running_server() as server:
        urls = [server.url("/ok/done"), server.url("/hang")]
        proc = _start(["--max-time", "3", "-o", str(records), *urls], ignore_hangup=True)
        stderr = _hang_up_once_both_requests_are_sent(server, proc)
    assert proc.returncode == ExitStatus.FAILURES, stderr  # the hanging URL's --max-time, not the signal
    lines = [json.loads(line) for line in records.read_text().splitlines()]
    assert [r["error"] and r["error"]["type"] for r in lines] == [None, "TotalTimeout"]


def test_a_real_hangup_with_the_progress_line_still_commits_the_files(tmp_path: Path) -> None:
    """The terminal itself goes away (its master side closed): stderr, where the progress line
    is drawn, then fails with EIO. The line must end quietly and the run commit its files as for
    ``kill -HUP`` (review r8a: the progress line's failed write lost `-o` and exited 1)."""
    import fcntl
    import pty
    import select
    import termios

    records = tmp_path / "r.jsonl"
    master, slave = pty.openpty()

    def own_terminal() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)  # the pty (stdin) becomes the controlling terminal

    env = {k: v for k, v in os.environ.items() if not k.startswith("FETCHCLI_") and "proxy" not in k.lower()}
    env["PYTHONPATH"] = str(REPO)
    with running_server() as server:
        urls = [server.url("/ok/done"), server.url("/hang")]
        proc = subprocess.Popen(
            [sys.executable, "-m", "fetchcli", "-c", "1", "-o", str(records), *urls],
            stdin=slave, stdout=subprocess.DEVNULL, stderr=slave, env=env, preexec_fn=own_terminal,
        )  # fmt: skip
        os.close(slave)
        try:
            drawn = b""
            for _ in range(1200):  # both requests sent, and the progress line drawn
                if select.select([master], [], [], 0.05)[0]:
                    drawn += os.read(master, 65536)
                if server.stats.requests >= 2 and b"/" in drawn:
                    break
                assert proc.poll() is None
            os.close(master)  # the hangup: SIGHUP, and stderr now fails
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == ExitStatus.HANGUP
    lines = [json.loads(line) for line in records.read_text().splitlines()]
    assert [r["error"] and r["error"]["type"] for r in lines] == [None, "Cancelled"]
