"""The live progress line: on a terminal's stderr while a run goes on, below the streaming table
when both share the terminal, gone at the end; nothing of it in a pipe or a file."""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fetchcli.output.render.progress import ProgressLine
from fetchcli.summary import Summary
from tests.helpers import read_pty
from tests.server import LoopbackServer

SGR = re.compile(r"\x1b\[[0-9;]*m")


def _screen(raw: str) -> list[str]:
    """What a terminal shows: each line after its carriage returns overwrote it from column 0."""
    shown = []
    for line in SGR.sub("", raw).split("\n"):
        buffer = ""
        for segment in line.split("\r"):
            buffer = segment + buffer[len(segment) :]
        shown.append(buffer.rstrip())
    return shown


def _pty_run(args: list[str], *, stdout_on_pty: bool = True) -> tuple[str, str]:
    """Run fetchcli with stderr (and stdout, unless told) on a pty, to its end; returns what the
    pty got and stdout when it was a pipe."""
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TERM")}
    env |= {"TERM": "xterm-256color", "COLUMNS": "120"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "fetchcli", *args],
        stdin=subprocess.DEVNULL,
        stdout=slave if stdout_on_pty else subprocess.PIPE,
        stderr=slave,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    raw = read_pty(master)
    out = proc.stdout.read().decode() if proc.stdout is not None else ""
    proc.wait(timeout=60)
    os.close(master)
    return raw.decode("utf-8", "replace"), out


def test_the_progress_line_shows_counts_and_the_total(server: LoopbackServer, tmp_path: Path) -> None:
    """Output to a file, stderr a terminal: the line counts up to the input's total, which is
    counted from the file; the last frame is erased before the summary."""
    listing = tmp_path / "urls.txt"
    listing.write_text("# two URLs\n" + server.url("/ok/p1") + "\n\n" + server.url("/slow/1500?progress") + "\n")
    raw, _ = _pty_run(["-i", str(listing), "-o", str(tmp_path / "out.jsonl")])
    plain = SGR.sub("", raw)
    assert "1/2" in plain and "URLs/s" in plain and "ETA" in plain and "1 ok" in plain
    screen = [line for line in _screen(raw) if line]
    assert screen == [screen[-1]] and screen[-1].startswith("2 URLs: 2 ok")  # the line is gone, the summary stays
    assert "\r" not in (tmp_path / "out.jsonl").read_text()


def test_a_slow_first_url_does_not_hold_the_count(server: LoopbackServer, tmp_path: Path) -> None:
    """Input order, the slow URL first: the line counts the fast one as done while the slow one
    is still going (it counted records written, and read 0/2 until the slow one ended)."""
    listing = tmp_path / "urls.txt"
    listing.write_text(server.url("/slow/1500?first") + "\n" + server.url("/ok/second") + "\n")
    raw, _ = _pty_run(["-i", str(listing), "-o", str(tmp_path / "out.jsonl")])
    plain = SGR.sub("", raw)
    assert "1/2" in plain and "1 ok" in plain
    assert [line.split('"index": ')[1][0] for line in (tmp_path / "out.jsonl").read_text().splitlines()] == ["0", "1"]


def test_table_rows_go_above_the_progress_line(server: LoopbackServer) -> None:
    urls = [server.url(f"/slow/{n * 100}?row={n}") for n in range(1, 6)]
    raw, _ = _pty_run(["-c", "1", "--snippet-length", "10", *urls])
    assert "ETA" in SGR.sub("", raw)  # it was drawn
    screen = [line for line in _screen(raw) if line]
    rows = [line for line in screen if "?row=" in line]
    assert len(rows) == 5
    assert all("ETA" not in line and "URLs/s" not in line for line in rows)  # no frame left in a row
    assert not any("ETA" in line for line in screen)  # and none left at the end
    assert screen[-1].startswith("5 URLs: 5 ok")


def test_nothing_of_it_reaches_a_pipe_or_a_file(server: LoopbackServer, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fetchcli", "--summary", "-o", str(tmp_path / "t.txt"), "-f", "table",
         server.url("/ok/a"), server.url("/slow/300?b")],
        capture_output=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0
    for raw in (done.stderr, done.stdout, (tmp_path / "t.txt").read_bytes()):
        assert b"\r" not in raw and b"\x1b" not in raw and b"ETA" not in raw
    assert re.match(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ 2 URLs: 2 ok", done.stderr)  # a log line says when


def test_no_progress_and_quiet_keep_a_terminal_quiet(server: LoopbackServer) -> None:
    for flags in (["--no-progress"], ["-q"]):
        raw, out = _pty_run([*flags, server.url("/ok/quiet"), server.url("/slow/500?quiet")], stdout_on_pty=False)
        assert "ETA" not in raw and "\r" not in raw.replace("\r\n", "\n")
        assert out.count("\n") == 2  # the records, in the pipe


def test_progress_can_be_forced_into_a_pipe(server: LoopbackServer) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fetchcli", "--progress", "--color", "never", server.url("/ok/forced")],
        capture_output=True, timeout=60,
    )  # fmt: skip
    assert b"URLs/s" in done.stderr and b"\r" in done.stderr and b"\x1b" not in done.stderr


def test_a_frame_fits_its_width_and_is_cleared_with_spaces() -> None:
    out = io.StringIO()
    line = ProgressLine(out, color=False, width=60)
    line.set_total(10)
    summary = Summary()
    line.update(summary)
    line.clear()
    frame, cleared = out.getvalue().split("\r")[1:3]
    assert len(frame) == 57 and "0/10" in frame and "\x1b" not in frame  # room for an echoed ^C
    assert cleared == " " * 59
    assert line.frames == 1


@pytest.mark.parametrize("color", [True, False])
def test_colour_follows_the_setting(color: bool) -> None:
    out = io.StringIO()
    ProgressLine(out, color=color, width=100).update(Summary())
    assert ("\x1b[" in out.getvalue()) is color


def test_color_always_and_never_override_the_terminal_test(server: LoopbackServer) -> None:
    """--color always colours a table even in a pipe; never (or NO_COLOR with auto) never does."""
    base = [sys.executable, "-m", "fetchcli", "-f", "table", server.url("/ok/colour"), server.url("/status/404")]
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    always = subprocess.run([*base, "--color", "always"], capture_output=True, timeout=60, env=env)
    assert re.search(rb"\x1b\[[0-9;]*m", always.stdout)
    for flags, extra in ((["--color", "never"], {}), ([], {"NO_COLOR": "1"}), ([], {})):
        plain = subprocess.run([*base, *flags], capture_output=True, timeout=60, env={**env, **extra})
        assert b"\x1b" not in plain.stdout and b"404" in plain.stdout
