"""What reaches a terminal: one sanitiser, a table that streams in fixed columns, and a real pty
that sees only colour sequences (none with NO_COLOR), whatever the input and the server send."""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from rich.cells import cell_len

from fetchcli.errortype import ErrorType
from fetchcli.models import ErrorInfo, FetchResult
from fetchcli.output.render.table import Layout, TableSink, _middle
from fetchcli.summary import Summary
from fetchcli.text import for_terminal
from tests.helpers import read_pty
from tests.server import LoopbackServer

HOSTILE_LINES = [
    "http://\x1b]0;pwned\x07example.com/",  # OSC: retitle the window
    "http://example.com/\x1b[2J",  # CSI: clear the screen
    "http://\x1b[41mexample.com/",  # SGR: colours
    "http://example.com/\x9b31m",  # C1 CSI
]


def test_for_terminal_escapes_what_could_act_and_keeps_the_rest() -> None:
    assert for_terminal("plain café 日本 ✓") == "plain café 日本 ✓"
    assert for_terminal("a\x1b]0;t\x07b") == "a\\x1b]0;t\\x07b"
    assert for_terminal("x\u202ey\u2066z\u200b") == "x\\u202ey\\u2066z\\u200b"
    assert for_terminal("\x9b\x7f\r\n\t") == "\\x9b\\x7f\\x0d\\x0a\\x09"
    assert for_terminal("line\u2028sep") == "line\\u2028sep"


def test_middle_ellipsis_keeps_both_ends() -> None:
    url = "https://example.com/" + "a" * 100 + "/end.html"
    short = _middle(url, 30)
    assert cell_len(short) == 30 and short.startswith("https://exampl") and short.endswith("end.html")
    assert "…" in short
    assert _middle("日本語のドメイン.jp/パス", 10).count("…") == 1
    assert cell_len(_middle("日本語のドメイン.jp/パス", 10)) <= 10


def _result(index: int, url: str, **kwargs: object) -> FetchResult:
    return FetchResult(index=index, url=url, ok=True, elapsed_ms=12.0, fetched_at="", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("width", [60, 80, 120, 200])
def test_rows_fit_the_terminal_and_the_url_is_always_shown(width: int) -> None:
    out = io.StringIO()
    sink = TableSink(out, width=width)
    long_url = "https://very.long.example.com/" + "segment/" * 20 + "page.html"
    sink.write(_result(0, long_url, status=200, snippet="x" * 300, bytes_read=300))
    sink.write(
        FetchResult(
            index=1, url="http://e/", ok=False, error=ErrorInfo(ErrorType.RemoteProtocolError, "m" * 300), fetched_at=""
        )
    )
    sink.write(_result(2, "http://e/b", status=200, binary=True, bytes_read=10))
    sink.write(_result(3, "http://e/c", status=200, snippet="", bytes_read=3))
    sink.close(Summary())  # the rows were held to measure them: written now
    lines = out.getvalue().splitlines()
    assert all(cell_len(line) <= width for line in lines), [cell_len(line) for line in lines]
    assert "https://ve" in lines[2] and "page.html" in lines[2] and "…" in lines[2]
    assert len(lines) == 6  # header, rule, one line per row: nothing wraps
    assert Layout(width).url >= 20
    if Layout(width).detail:  # the snippet column is shown from 80 columns
        assert "(binary)" in lines[4] and "(binary)" not in lines[5]  # an empty snippet is not "binary"
        assert "RemoteProtocolError"[:10] in lines[3]


def test_each_row_is_written_as_it_arrives() -> None:
    out = io.StringIO()
    sink = TableSink(out, width=100, held=1)  # the first screenful is a row
    sink.write(_result(0, "http://e/a", status=200))
    first = out.getvalue()
    assert "http://e/a" in first
    sink.write(_result(1, "http://e/b", status=404))
    assert out.getvalue().startswith(first) and "http://e/b" in out.getvalue()


def _run_on_a_pty(args: list[str], env: dict[str, str], columns: int = 160) -> bytes:
    """Run fetchcli with stdout and stderr on a pty; everything it wrote there, raw."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "fetchcli", *args],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    raw = read_pty(master)
    proc.wait(timeout=60)
    os.close(master)
    return raw


SGR = re.compile(rb"\x1b\[[0-9;]*m")


@pytest.mark.parametrize("no_color", [True, False], ids=["NO_COLOR", "colour"])
def test_a_pty_sees_only_colour_sequences(server: LoopbackServer, tmp_path: Path, no_color: bool) -> None:
    listing = tmp_path / "urls.txt"
    valid_rlo = server.url("/ok/\u202etxt.exe")  # a valid URL with a right-to-left override
    listing.write_text("\n".join([*HOSTILE_LINES, valid_rlo, server.url("/evil-location"), server.url("/escape")]))
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS", "TERM")}
    env["TERM"] = "xterm-256color"
    if no_color:
        env["NO_COLOR"] = "1"
    raw = _run_on_a_pty(["-L", "-i", str(listing)], env)
    text = raw.decode("utf-8", errors="replace")
    assert "evil-location" in text and "escape" in text  # the table and the summary are there
    assert "URLs:" in text  # the summary line, on the terminal's stderr
    if no_color:
        assert b"\x1b" not in raw
    else:
        assert SGR.search(raw) is not None
        assert b"\x1b" not in SGR.sub(b"", raw)
    assert "\u202e".encode() not in raw
    assert b"\x07" not in raw and "\x9b".encode() not in raw
    assert "\\x1b" in text and "\\u202e" in text  # shown, escaped, not dropped


def _written(folder: Path) -> str:
    """What the files in ``folder`` hold so far (a temporary file may be renamed meanwhile)."""
    text = ""
    for path in folder.iterdir():
        with contextlib.suppress(OSError):
            text += path.read_text(errors="replace")
    return text


def test_rows_are_written_before_the_last_url_is_fetched(server: LoopbackServer, tmp_path: Path) -> None:
    target = tmp_path / "table.txt"
    urls = [server.url(f"/ok/first-{n}") for n in range(50)] + [server.url("/hang?table")]
    proc = subprocess.Popen(
        # The last URL never answers, and never times out while the test looks (-t 600: with the
        # default 5 s, a loaded machine could finish the run before the rows were looked at).
        [sys.executable, "-m", "fetchcli", "-f", "table", "-o", str(target), "-c", "10", "-t", "600", *urls],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        limit = time.monotonic() + 30
        while "/hang?table" not in server.stats.paths and time.monotonic() < limit:
            time.sleep(0.02)
        assert "/hang?table" in server.stats.paths
        # -o is written atomically: the rows go to its temporary file beside it, renamed at the end
        while "first-49" not in _written(tmp_path) and time.monotonic() < limit:
            time.sleep(0.02)
        assert proc.poll() is None  # still waiting for the last URL
        assert "first-49" in _written(tmp_path)
        assert not target.exists()  # nothing under the final name before the run ends
    finally:
        proc.kill()
        proc.wait()
