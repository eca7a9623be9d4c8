"""A stop a person can read (issue 18, items 9 and 16): the table's one line for the URLs not
started, a summary that counts cancelled and not started URLs apart and a rate over the URLs
finished, a progress line erased on every way a run stops (Ctrl-C echoed by a real terminal
included), a second Ctrl-C that leaves no temporary file, and the time at the start of the
summary line in a log."""

from __future__ import annotations

import dataclasses
import fcntl
import io
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest

from fetchcli.cli.runner import Environment, OutputOptions, execute
from fetchcli.cli.status import ExitStatus
from fetchcli.errortype import ErrorType
from fetchcli.models import ErrorInfo, FetchResult
from fetchcli.settings import Backend, ColorMode, OutputFormat, Settings
from fetchcli.summary import Summary
from tests.helpers import memory_environment
from tests.server import LoopbackServer

SGR = re.compile(r"\x1b\[[0-9;]*m")
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
FRAME = re.compile(r"\d[\d,]*/(?:[\d,]+|\?)\s")  # "6/300 " or "14/? ": the progress line's count
COLUMNS = 100


def _env(*, stderr_tty: bool = False, stdout_tty: bool = False) -> Environment:
    return memory_environment(stdout_tty=stdout_tty, stderr_tty=stderr_tty)


def _text(stream: object) -> str:
    assert isinstance(stream, io.StringIO)
    return stream.getvalue()


def _stopped_by_a_deadline(server: LoopbackServer, backend: Backend) -> tuple[list[str], Settings]:
    """Two URLs that hang (cancelled at the deadline) ahead of 30 that are never started."""
    urls = [server.url("/hang?stop-display"), server.url("/hang?stop-display-2")]
    urls += [server.url(f"/ok/not-started-{n}") for n in range(30)]
    return urls, Settings(concurrency=2, deadline=0.5, backend=backend)


def test_the_table_has_one_line_for_the_urls_not_started(server: LoopbackServer, backend: Backend) -> None:
    urls, settings = _stopped_by_a_deadline(server, backend)
    env = _env(stdout_tty=True)
    options = OutputOptions(format=OutputFormat.table, progress=False, color=ColorMode.never)
    status = execute(settings, urls, [], options, env)
    assert status == ExitStatus.FAILURES
    lines = _text(env.stdout).splitlines()
    assert not any("NotStarted" in line or "not-started-" in line for line in lines)  # no row each
    assert [line.strip() for line in lines if "not started" in line] == [
        "30 not started: stopped by --deadline 0.5 s (#2 to #31)"
    ]
    assert sum("Cancelled" in line for line in lines) == 2  # the URLs in flight keep their rows
    # JSON Lines keeps a record for each
    env = _env()
    execute(settings, urls, [], OutputOptions(format=OutputFormat.jsonl), env)
    records = [json.loads(line) for line in _text(env.stdout).splitlines()]
    assert [r["error"]["type"] for r in records] == ["Cancelled"] * 2 + ["NotStarted"] * 30


def test_the_summary_counts_cancelled_and_not_started_apart() -> None:
    summary = Summary()
    for n in range(300):
        if n < 60:
            result = FetchResult(index=n, url="u", ok=True, status=200, elapsed_ms=40.0, attempts=1)
        else:
            kind = ErrorType.Cancelled if n < 80 else ErrorType.NotStarted
            result = FetchResult(index=n, url="u", ok=False, error=ErrorInfo(kind, "stopped by SIGINT"))
        summary.add(result)
    summary.elapsed_s = 3.68
    assert summary.describe().startswith(
        "300 URLs: 60 ok, 0 failed, 20 cancelled, 220 not started in 3.68 s, 16.3 URLs/s; p50 40.0 ms"
    )
    data = summary.to_dict()
    assert data["schema_version"] == 2
    assert (data["total"], data["ok"], data["failed"], data["cancelled"], data["not_started"]) == (300, 60, 0, 20, 220)
    assert data["failures"] == {} and data["by_error_type"] == {"Cancelled": 20, "NotStarted": 220}
    assert data["urls_per_second"] == round(60 / 3.68, 3)  # over the URLs finished, not 300


@pytest.mark.slow  # seconds of timers
def test_a_deadline_summary_and_exit_status(server: LoopbackServer, backend: Backend, tmp_path: Path) -> None:
    """The URLs a deadline left unanswered count apart in the summary, and still against
    --max-failures for the exit status, as the README's "Exit status" says (not checked is not
    ok)."""
    urls, settings = _stopped_by_a_deadline(server, backend)
    urls.append("ftp://invalid")  # a failure of its own, finished at once
    report = tmp_path / "summary.json"
    env = _env()
    status = execute(settings, urls, [], OutputOptions(summary=True, summary_json=str(report)), env)
    assert status == ExitStatus.FAILURES
    data = json.loads(report.read_text())
    assert (data["total"], data["ok"], data["failed"], data["cancelled"], data["not_started"]) == (33, 0, 1, 2, 30)
    assert data["failures"] == {"InvalidURL": 1}
    line = _text(env.stderr)
    # Says why it stopped, as "interrupted by SIGINT: " does for a signal.
    deadline = rf"stopped by --deadline {settings.deadline:g} s: "
    assert re.match(
        STAMP + " " + deadline + r"33 URLs: 0 ok, 1 failed \(1 InvalidURL\), 2 cancelled, 30 not started in ", line
    )
    lenient = dataclasses.replace(settings)
    assert execute(lenient, urls, [], OutputOptions(max_failures=33), _env()) == ExitStatus.OK
    assert execute(lenient, urls, [], OutputOptions(max_failures=32), _env()) == ExitStatus.FAILURES


def test_the_summary_line_in_a_log_starts_with_the_time(server: LoopbackServer) -> None:
    urls = [server.url("/ok/stamp"), server.url("/status/404?stamp")]
    log = _env(stderr_tty=False)
    execute(Settings(), urls, [], OutputOptions(summary=True), log)
    line = _text(log.stderr)
    assert re.fullmatch(STAMP + r" 2 URLs: 1 ok, 1 failed \(1 404\) in .*\n", line), line
    stamp = time.strptime(line.split(" ", 1)[0], "%Y-%m-%dT%H:%M:%SZ")
    assert abs(time.mktime(stamp) - time.mktime(time.gmtime())) < 600  # UTC, and now
    terminal = _env(stderr_tty=True)  # a person at a terminal knows when
    execute(Settings(), urls, [], OutputOptions(progress=False), terminal)
    assert _text(terminal.stderr).startswith("2 URLs: 1 ok, 1 failed (1 404) in ")


# --- on a real terminal: Ctrl-C typed on a pty, echoed as ^C by its line discipline ---------------


def _screen(raw: str, width: int = COLUMNS) -> list[str]:
    """What a terminal ``width`` columns wide shows: carriage returns overwrite from column 0, a
    character written in the last column leaves the cursor there until the next one wraps."""
    lines: list[list[str]] = [[]]
    col, pending = 0, False
    for ch in SGR.sub("", raw):
        if ch == "\r":
            col, pending = 0, False
        elif ch == "\n":
            lines.append([])
            col, pending = 0, False
        else:
            if pending:
                lines.append([])
                col, pending = 0, False
            line = lines[-1]
            line.extend(" " * (col + 1 - len(line)))
            line[col] = ch
            if col == width - 1:
                pending = True
            else:
                col += 1
    return ["".join(line).rstrip() for line in lines]


class _Terminal:
    """fetchcli on a pty that is its controlling terminal, as in a shell: typing Ctrl-C there
    sends SIGINT and echoes ``^C`` after whatever the progress line left the cursor at."""

    def __init__(self, args: list[str], cwd: Path, *, stdout_on_pty: bool = True) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, COLUMNS, 0, 0))
        env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS", "LINES")}
        env["TERM"] = "xterm-256color"

        def controlling_terminal() -> None:
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fetchcli", *args],
            stdin=slave,
            stdout=slave if stdout_on_pty else subprocess.PIPE,
            stderr=slave,
            env=env,
            cwd=cwd,
            preexec_fn=controlling_terminal,
        )
        os.close(slave)
        self.raw = b""

    def read_until(self, pattern: re.Pattern[str], timeout: float = 30) -> None:
        limit = time.monotonic() + timeout
        while not pattern.search(SGR.sub("", self.raw.decode("utf-8", "replace"))):
            assert time.monotonic() < limit, f"never saw {pattern.pattern!r}: {self.raw[-300:]!r}"
            self._read(0.1)

    def _read(self, wait: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], wait)
        if not ready:
            return True
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: the child closed its end
            return False
        self.raw += chunk
        return bool(chunk)

    def ctrl_c(self) -> None:
        os.write(self.master, b"\x03")

    def finish(self, timeout: float = 30) -> tuple[int, list[str]]:
        limit = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < limit:
            self._read(0.1)
        while self._read(0.1) and time.monotonic() < limit:  # what is left on the pty
            if not select.select([self.master], [], [], 0)[0]:
                break
        self.proc.wait(timeout=max(1.0, limit - time.monotonic()))
        os.close(self.master)
        return self.proc.returncode, [line for line in _screen(self.raw.decode("utf-8", "replace")) if line]


@pytest.mark.parametrize("path", ["output-file", "resume", "pipe", "pipe-closed", "table"])
def test_ctrl_c_on_a_terminal_leaves_no_progress_line(server: LoopbackServer, tmp_path: Path, path: str) -> None:
    listing = tmp_path / "urls.txt"
    listing.write_text("".join(server.url(f"/slow/40?ctrl-c={n}") + "\n" for n in range(300)))
    args = ["-c", "2", "-i", str(listing)]
    args += {"output-file": ["-o", "out.json"], "resume": ["--resume", "done.jsonl"]}.get(path, [])
    terminal = _Terminal(args, tmp_path, stdout_on_pty=path in ("output-file", "resume", "table"))
    stdout = terminal.proc.stdout
    if stdout is not None and path == "pipe":  # a reader such as jq
        threading.Thread(target=stdout.read, daemon=True).start()
    terminal.read_until(FRAME)
    time.sleep(0.3)
    if stdout is not None and path == "pipe-closed":  # jq, killed by the same Ctrl-C
        stdout.close()
    terminal.ctrl_c()
    status, screen = terminal.finish()
    assert status == (ExitStatus.BROKEN_PIPE if path == "pipe-closed" else ExitStatus.INTERRUPTED)
    assert not [line for line in screen if FRAME.search(line)], screen[-4:]
    if path != "pipe-closed":
        summary = next(n for n, line in enumerate(screen) if line.startswith("interrupted by SIGINT: "))
        assert "not started" in screen[summary] + screen[summary + 1]
    if path == "table":
        assert len([line for line in screen if "not started" in line and "URLs:" not in line]) == 1
        assert not any("NotStarted" in line for line in screen)


def test_a_second_ctrl_c_erases_the_progress_line_and_the_temporary_file(
    fresh_server: LoopbackServer, tmp_path: Path
) -> None:
    """Nobody reads stdout, so the first Ctrl-C finds fetchcli blocked on a full pipe; the
    second ends it at once: no progress line left on the terminal, no temporary file of
    --summary-json or --metrics beside its target."""
    listing = tmp_path / "urls.txt"
    listing.write_text("".join(fresh_server.url(f"/size/3000?n={n}") + "\n" for n in range(3000)))
    args = ["--snippet-length", "3000", "-i", str(listing), "--summary-json", "summary.json", "--metrics", "m.prom"]
    terminal = _Terminal(args, tmp_path, stdout_on_pty=False)
    try:
        terminal.read_until(FRAME)
        while fresh_server.stats.requests < 40:  # 40 records of 3 KB fill a 64 KiB pipe
            terminal._read(0.05)
        time.sleep(1.0)
        assert any(name.endswith(".tmp") for name in os.listdir(tmp_path))  # being written
        terminal.ctrl_c()
        time.sleep(0.5)
        assert terminal.proc.poll() is None  # still blocked on the full pipe
        terminal.ctrl_c()
        status, screen = terminal.finish()
    finally:
        terminal.proc.kill()
    assert status == -signal.SIGINT  # killed by SIGINT, as without a handler: the shell says 130
    assert sorted(os.listdir(tmp_path)) == ["urls.txt"]
    assert not [line for line in screen if FRAME.search(line)], screen[-4:]


def test_a_second_sigint_leaves_the_output_file_as_it_was(fresh_server: LoopbackServer, tmp_path: Path) -> None:
    """-o FILE is written to a temporary file beside it; a second SIGINT while the run is stuck
    (here on a full stderr pipe that --progress writes to) removes it and leaves FILE whole."""
    target = tmp_path / "out.json"
    target.write_text('["previous complete result"]\n')
    urls = [fresh_server.url(f"/slow/200?second-sigint={n}") for n in range(200)]
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 4096)  # a few frames 1,000 columns wide fill it
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"} | {"COLUMNS": "1000"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "fetchcli", "--progress", "-c", "2", "-f", "json", "-o", str(target), *urls],
        stdout=subprocess.DEVNULL,
        stderr=write_end,
        env=env,
    )
    os.close(write_end)
    try:
        while fresh_server.stats.requests < 4:
            assert proc.poll() is None
            time.sleep(0.05)
        time.sleep(2.0)  # five frames a second: the pipe is full, fetchcli waits on it
        names = os.listdir(tmp_path)
        assert len(names) == 2 and any(name.startswith(".out.json.") for name in names)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.5)
        assert proc.poll() is None  # the first one could not finish the run
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == -signal.SIGINT
    finally:
        proc.kill()
        proc.wait()
        os.close(read_end)
    assert os.listdir(tmp_path) == ["out.json"]
    assert json.loads(target.read_text()) == ["previous complete result"]
