"""Table columns and numbers a person can read (issue 18, item 10): error types never cut, URLs
shortened in their path, widths from the first screenful, one number format in the table, the
summary and the progress line, and a progress line that leaves fields out rather than cutting
each. Rendered into fixed widths (60, 100 and 200 columns), as on the terminals it was tried on."""

from __future__ import annotations

import io
import os
import re
import select
import subprocess
import sys
import time

import pytest
from rich.cells import cell_len

from fetchcli.errortype import ErrorType
from fetchcli.models import ErrorInfo, FetchResult
from fetchcli.output.render.progress import ProgressLine
from fetchcli.output.render.table import TableSink
from fetchcli.summary import Summary
from tests.server import LoopbackServer

HOST = "http://127.0.0.1:8080"


def _ok(index: int, url: str, ms: float = 12.5, **kwargs: object) -> FetchResult:
    return FetchResult(index=index, url=url, ok=True, status=200, elapsed_ms=ms, attempts=1, **kwargs)  # type: ignore[arg-type]


def _failed(index: int, url: str, kind: ErrorType, ms: float = 3.0) -> FetchResult:
    return FetchResult(
        index=index, url=url, ok=False, elapsed_ms=ms, attempts=1, error=ErrorInfo(kind, "what went wrong")
    )


def _first_screenful() -> list[FetchResult]:
    rows = [
        _ok(0, f"{HOST}/status/200", ms=5097.3, snippet="hello " * 40, bytes_read=1256),
        _failed(1, "https://127.0.0.1:9/refused", ErrorType.ConnectionRefused),
        _failed(2, f"{HOST}/tls/expired", ErrorType.CertificateError),
    ]
    return rows + [_ok(n, f"{HOST}/status/200?n={n}") for n in range(3, 25)]


def _table(width: int, results: list[FetchResult], held: int = 20) -> list[str]:
    out = io.StringIO()
    sink = TableSink(out, width=width, held=held)
    for result in results:
        sink.write(result)
    sink.close(Summary())
    lines = out.getvalue().splitlines()
    assert all(cell_len(line) <= width for line in lines), [cell_len(line) for line in lines]
    return lines


def _row(lines: list[str], index: int) -> str:
    return next(line for line in lines[2:] if line.split()[0] == str(index))


@pytest.mark.parametrize("width", [60, 100, 200])
def test_error_types_are_never_cut(width: int) -> None:
    later = [
        _failed(25, f"{HOST}/bad-chunk", ErrorType.RemoteProtocolError),
        _failed(26, f"{HOST}/later", ErrorType.UnsupportedRedirect),
    ]
    lines = _table(width, _first_screenful() + later)
    for index, kind in [(1, "ConnectionRefused"), (2, "CertificateError"), (25, "RemoteProtocolError")]:
        assert f" {kind} " in _row(lines, index) + " ", _row(lines, index)
    assert "UnsupportedRedirect" in _row(lines, 26)
    assert not any("…" in line.split("  ")[-1] and "Error…" in line for line in lines)


@pytest.mark.parametrize("width", [100, 200])
def test_a_wider_error_type_later_keeps_the_url_and_the_status_column_in_place(width: int) -> None:
    """(Issue 18 review, M3: it took the room from the URL, which was cut beside an empty
    snippet column.) It pushes only what is after it, and the snippet gives the room."""
    lines = _table(
        width,
        [_ok(n, f"{HOST}/ok/{n}") for n in range(20)]
        + [_failed(20, f"{HOST}/x/longer", ErrorType.RemoteProtocolError)],
    )
    late, earlier = _row(lines, 20), _row(lines, 19)
    assert f"{HOST}/x/longer " in late  # whole
    assert late.index("RemoteProtocolError") == earlier.index("200 ")  # the status column in place


@pytest.mark.parametrize("width", [60, 100, 200])
def test_a_url_is_shortened_in_its_path_keeping_scheme_and_host(width: int) -> None:
    long_path = f"{HOST}/" + "segment/" * 30 + "page.html"
    lines = _table(width, [*_first_screenful(), _ok(25, long_path)])
    row = _row(lines, 25)
    assert f"{HOST}/" in row and "…" in row and "tml" in row
    for index in (0, 2, 3):  # every loopback URL keeps its host, at 60 columns too
        assert HOST in _row(lines, index)


def test_shorten_url_rules() -> None:
    from fetchcli.output.render.table import shorten_url

    assert shorten_url(f"{HOST}/status/200", 40) == f"{HOST}/status/200"  # fits: as it is
    assert shorten_url(f"{HOST}/a/b/c/d/e/f/page.html", 30) == f"{HOST}/a/….html"
    assert shorten_url(f"{HOST}/status/200", 23) == f"{HOST}/…"  # the host before the path
    short = shorten_url("https://very.long.host.example.com/path", 20)  # the host cannot fit whole
    assert cell_len(short) == 20 and short.startswith("https://") and short.endswith("/path")
    assert cell_len(shorten_url("not a url at all, just text", 10)) == 10


def test_at_200_columns_the_url_column_is_as_wide_as_the_urls() -> None:
    lines = _table(200, _first_screenful())
    header = lines[0]
    url_column = header.index("status") - header.index("URL") - 2
    longest = max(len(r.url) for r in _first_screenful())
    assert longest <= url_column <= longest + max(4, longest // 10)  # not 90 columns for 36-character URLs
    assert "hello hello" in _row(lines, 0)  # the room went to the snippet


def test_at_100_columns_the_time_column_is_as_wide_as_the_times() -> None:
    lines = _table(100, _first_screenful())
    # status as wide as its widest ("ConnectionRefused"), time as wide as "5,097 ms": no padding
    assert re.search(r" ConnectionRefused   3\.00 ms ", _row(lines, 1) + " "), _row(lines, 1)
    assert "5,097 ms" in _row(lines, 0)


def test_widths_are_chosen_from_the_first_screenful_then_rows_stream() -> None:
    out = io.StringIO()
    sink = TableSink(out, width=100, held=3)
    sink.write(_ok(0, f"{HOST}/a"))
    sink.write(_ok(1, f"{HOST}/b"))
    assert out.getvalue() == ""  # held, to measure them
    sink.write(_ok(2, f"{HOST}/c"))
    assert out.getvalue().count("\n") == 5  # header, rule, three rows
    sink.write(_ok(3, f"{HOST}/d"))
    assert out.getvalue().count("\n") == 6 and f"{HOST}/d" in out.getvalue()  # at once, from here on


def test_one_number_format_in_the_table_the_summary_and_the_progress_line() -> None:
    from fetchcli import units

    assert [units.ms(v) for v in (0.4213, 5.0, 52.14, 99.96, 5097.3, 1234567.0)] == [
        "0.42 ms", "5.00 ms", "52.1 ms", "100 ms", "5,097 ms", "1,234,567 ms",
    ]  # fmt: skip
    assert [units.seconds(v) for v in (0.05, 3.684, 12.34, 65.2, 3725.0)] == [
        "0.05 s", "3.68 s", "12.3 s", "1 min 05 s", "1 h 02 min",
    ]  # fmt: skip
    assert units.count(1234567) == "1,234,567" and units.rate(1234.56) == "1,234.6 URLs/s"
    row = _row(_table(200, [_ok(0, f"{HOST}/big", ms=5097.3, bytes_read=1234567)]), 0)
    assert "5,097 ms" in row and "1,234,567" in row
    summary = Summary()
    for n in range(1234):
        summary.add(_ok(n, "u", ms=5097.3 if n == 0 else 52.14))
    summary.elapsed_s = 1.0
    line = summary.describe()
    assert line.startswith("1,234 URLs: 1,234 ok, 0 failed in 1.00 s, 1,234.0 URLs/s; p50 52.1 ms")
    assert line.endswith("max 5,100 ms")  # kept to three significant digits, written alike
    out = io.StringIO()
    progress = ProgressLine(out, color=False, width=200)
    progress.set_total(5000)
    progress.update(summary)
    assert "1,234/5,000" in out.getvalue() and "1,234 ok" in out.getvalue()


@pytest.mark.parametrize("width", [40, 60, 80, 100, 200])
def test_the_progress_line_leaves_fields_out_rather_than_cutting_them(width: int) -> None:
    summary = Summary()
    for n in range(1234):
        summary.add(_ok(n, "u") if n % 10 else _failed(n, "u", ErrorType.ReadTimeout))
    out = io.StringIO()
    progress = ProgressLine(out, color=False, width=width)
    progress.set_total(5000)
    progress.update(summary)
    frame = out.getvalue().split("\r")[1]
    assert cell_len(frame) < width and "…" not in frame
    assert "1,234/5,000" in frame
    text = frame.strip()
    if width >= 60:
        assert "1,110 ok 124 failed" in text
    if width >= 100:
        assert re.search(r"ETA \d+(\.\d+)? s", text) and "URLs/s" in text and "%" in text
    # what is shown is whole: a time, a rate, a percentage
    for field in re.findall(r"ETA \S+", text):
        assert re.fullmatch(r"ETA \d+(\.\d+)?", field)


def test_rows_before_a_slow_url_are_shown_within_a_second(server: LoopbackServer) -> None:
    """Fewer rows than a screenful, then a URL that hangs: the rows held to measure them are
    written after a second, not when the run ends."""
    urls = [server.url(f"/ok/held-{n}") for n in range(3)] + [server.url("/hang?held")]
    proc = subprocess.Popen(
        [sys.executable, "-m", "fetchcli", "-f", "table", "--max-time", "60", *urls],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    seen = b""
    try:
        limit = time.monotonic() + 30
        while b"held-2" not in seen and time.monotonic() < limit:
            if select.select([proc.stdout], [], [], 0.1)[0]:
                seen += os.read(proc.stdout.fileno(), 65536)
        assert b"held-0" in seen and b"held-2" in seen
        assert proc.poll() is None  # still waiting for the URL that hangs
    finally:
        proc.kill()
        proc.wait()
