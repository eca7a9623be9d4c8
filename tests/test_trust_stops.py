"""Issue 17, stops and the standard streams: --deadline ends a run whatever its input pipe does
(item 11), a stop never turns a line read in part into a URL, and closed standard streams are
handled at start (item 14)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest

from fetchcli.input.pipereader import FdLineReader
from fetchcli.settings import Backend
from tests.server import LoopbackServer

FETCHCLI = [sys.executable, "-m", "fetchcli"]


def _records(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


def _error_type(record: dict[str, object]) -> str | None:
    error = record["error"]
    return error["type"] if isinstance(error, dict) else None


# --- item 11: --deadline whatever the input does ------------------------------------------------


def test_deadline_ends_the_run_while_a_pipe_trickles(server: LoopbackServer, backend: Backend) -> None:
    lines = [server.url(f"/ok/{n}?trickle-{backend.value}") + "\n" for n in range(120)]
    read_end, write_end = os.pipe()  # the test holds the writing end: no end of input from it
    proc = subprocess.Popen(
        [*FETCHCLI, "--deadline", "2", "--summary", "--backend", backend.value],
        stdin=read_end, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    os.close(read_end)
    ended = threading.Event()

    def trickle() -> None:  # a line every 0.5 s for 60 s, as `tail -f log` would
        for line in lines:
            if ended.wait(0.5):
                return
            try:
                os.write(write_end, line.encode())
            except OSError:  # the reader is gone
                return

    writer = threading.Thread(target=trickle, daemon=True)
    started = time.monotonic()
    writer.start()
    try:
        out, err = proc.communicate(timeout=40)
    finally:
        ended.set()
        proc.kill()
        writer.join(5)
        os.close(write_end)
    took = time.monotonic() - started
    assert took < 30, f"the run went on for {took:.1f} s with --deadline 2"  # the writer goes on for 60 s
    records = _records(out)
    assert [r["index"] for r in records] == list(range(len(records)))
    assert [f"{r['url']}\n" for r in records] == lines[: len(records)]
    assert records and records[0]["ok"]  # what came before the deadline was fetched
    assert {_error_type(r) for r in records} <= {None, "Cancelled", "NotStarted"}
    assert "the input was not read to its end" in err
    assert "Traceback" not in err


# --- a stop while a pipe is mid-line ------------------------------------------------------------


def test_a_line_begun_at_a_stop_is_finished_and_nothing_after_it_taken() -> None:
    read_end, write_end = os.pipe()
    reader = FdLineReader(read_end)
    try:
        os.write(write_end, b"http://h/a\nhttp://h/ok?15")
        assert reader.readline(8194) == b"http://h/a\n"  # the rest of that read is half a line
        os.write(write_end, b"67\nhttp://h/next\n")
        reader.stop()
        assert reader.readline(8194) == b"http://h/ok?1567\n"  # finished, not "http://h/ok?15"
        assert reader.readline(8194) == b""
        assert reader.cut == 0
        os.set_blocking(read_end, False)
        assert os.read(read_end, 100) == b"http://h/next\n"  # still there for the next reader
    finally:
        reader.close()
        os.close(read_end)
        os.close(write_end)


def test_a_line_that_cannot_be_finished_is_dropped_not_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(FdLineReader, "FINISH_SECONDS", 0.05)
    read_end, write_end = os.pipe()
    reader = FdLineReader(read_end)
    try:
        os.write(write_end, b"http://h/a\nhttp://h/ok?15")
        assert reader.readline(8194) == b"http://h/a\n"
        reader.stop()
        assert reader.readline(8194) == b""  # the writer never finished it: not passed on
        assert reader.cut == len(b"http://h/ok?15")
    finally:
        reader.close()
        os.close(read_end)
        os.close(write_end)


def test_deadline_with_a_line_half_written_reports_no_cut_url(server: LoopbackServer) -> None:
    whole = [server.url("/ok/half-0"), server.url("/ok/half-1")]
    half = server.url("/ok/half?15")  # ...67 never comes
    read_end, write_end = os.pipe()
    os.write(write_end, ("\n".join(whole) + "\n" + half).encode())  # and left open, the line unfinished
    try:
        done = subprocess.run(
            [*FETCHCLI, "--deadline", "1"], stdin=read_end, capture_output=True, text=True, timeout=40
        )
    finally:
        os.close(read_end)
        os.close(write_end)
    records = _records(done.stdout)
    assert [r["url"] for r in records] == whole  # not a third record for "…/ok/half?15"
    assert all(r["ok"] for r in records)
    assert f"its first {len(half)} bytes were read, the rest did not come in time" in done.stderr
    assert "Traceback" not in done.stderr


# --- item 14: closed standard streams ---------------------------------------------------------


def _closing(*fds: int) -> Callable[[], None]:
    def close() -> None:  # in the child, after its 0/1/2 are set up: as `>&-` leaves them
        for fd in fds:
            os.close(fd)

    return close


def _run_with_closed(fds: tuple[int, ...], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*FETCHCLI, *args], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        preexec_fn=_closing(*fds),
    )  # fmt: skip


def _no_crash(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode >= 0, f"killed by signal {-done.returncode}"  # no SIGABRT inside uvloop
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr


def test_closed_stdout_is_the_documented_write_error(server: LoopbackServer, backend: Backend) -> None:
    done = _run_with_closed((1,), "--backend", backend.value, server.url("/ok/closed-stdout"))
    _no_crash(done)
    assert done.returncode == 74  # ExitStatus.IO_ERROR: the results could not be written
    assert done.stderr == "fetchcli: error: cannot write stdout: Bad file descriptor\n"


def test_closed_stdout_with_dry_run_is_the_documented_write_error(server: LoopbackServer) -> None:
    done = _run_with_closed((1,), "--dry-run", server.url("/ok/closed-dry-run"))
    _no_crash(done)
    assert done.returncode == 74
    assert done.stderr == "fetchcli: error: cannot write stdout: Bad file descriptor\n"


@pytest.mark.parametrize("closed", [(2,), (1, 2)])
def test_closed_stderr_runs_quietly(server: LoopbackServer, backend: Backend, closed: tuple[int, ...]) -> None:
    urls = [server.url(f"/ok/closed-stderr-{n}") for n in range(3)] + [server.url("/status/404")]
    done = _run_with_closed(closed, "--backend", backend.value, "--summary", *urls)
    _no_crash(done)
    assert done.stderr == ""  # it went to /dev/null
    if closed == (2,):
        assert done.returncode == 1  # the 404: the run itself went as usual
        records = _records(done.stdout)
        assert [r["ok"] for r in records] == [True, True, True, False]
    else:
        assert done.returncode == 74


def test_closed_stdin_is_no_input(server: LoopbackServer) -> None:
    done = _run_with_closed((0,))  # and nothing else given: no URLs at all, as curl says (exit 2)
    _no_crash(done)
    assert done.returncode == 2
    assert done.stderr.startswith("fetchcli: error: URL missing: no URLs given")
    done = _run_with_closed((0,), server.url("/ok/closed-stdin"))  # URLs as arguments: as usual
    _no_crash(done)
    assert done.returncode == 0 and _records(done.stdout)[0]["ok"]


def test_without_a_summary_line_a_deadline_still_says_the_input_was_not_read(server: LoopbackServer) -> None:
    """cron: no --summary, stderr a log file. The URLs the pipe had not yet given have no record;
    a warning says so (it used to be written only inside the summary line)."""
    read_end, write_end = os.pipe()  # held open: the input never ends
    proc = subprocess.Popen(
        [*FETCHCLI, "--deadline", "2"],
        stdin=read_end, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    os.close(read_end)
    try:
        os.write(write_end, (server.url("/ok/a") + "\n").encode())
        out, err = proc.communicate(timeout=40)
    finally:
        proc.kill()
        os.close(write_end)
    assert len(_records(out)) == 1
    assert "fetchcli: warning: --deadline stopped the run before the end of its input, which no record reports" in err
    assert "Traceback" not in err


def test_without_a_summary_line_a_signal_is_named_as_what_stopped_the_run(server: LoopbackServer) -> None:
    """-q after SIGTERM: no summary line, so the warning about the input left unread says what
    stopped the run: the signal, not a --deadline that was never given."""
    read_end, write_end = os.pipe()  # held open: the input never ends
    proc = subprocess.Popen(
        [*FETCHCLI, "-q"],
        stdin=read_end, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    os.close(read_end)
    try:
        os.write(write_end, (server.url("/ok/a") + "\n").encode())
        assert proc.stdout is not None
        first = proc.stdout.readline()  # its record is out: the run is waiting for more input
        proc.send_signal(15)
        out, err = proc.communicate(timeout=40)
    finally:
        proc.kill()
        os.close(write_end)
    assert len(_records(first + out)) == 1
    assert "fetchcli: warning: SIGTERM stopped the run before the end of its input, which no record reports" in err
    assert "--deadline" not in err and "Traceback" not in err
