"""Table widths against later rows (issue 18 review, M3): a later row whose error type or time
is wider than its column does not take the URL's room while the snippet column has some, and the
columns before it stay in place; a URL is shortened in its path, its scheme and host whole.
Rendered into fixed widths, deterministic."""

from __future__ import annotations

import io

import pytest
from rich.cells import cell_len

from fetchcli.errortype import ErrorType
from fetchcli.models import ErrorInfo, FetchResult
from fetchcli.output.render.table import TableSink
from fetchcli.summary import Summary

HOST = "http://127.0.0.1:18001"


def _ok(index: int, path: str, ms: float = 3.5) -> FetchResult:
    return FetchResult(index=index, url=HOST + path, ok=True, status=200, elapsed_ms=ms, attempts=1, snippet="hi")


def _table(width: int, results: list[FetchResult], held: int) -> list[str]:
    out = io.StringIO()
    sink = TableSink(out, width=width, held=held)
    for result in results:
        sink.write(result)
    sink.close(Summary())
    lines = out.getvalue().splitlines()
    assert all(cell_len(line) <= width for line in lines), [cell_len(line) for line in lines]
    return lines


@pytest.mark.parametrize("width", [100, 200])
def test_a_later_timeout_keeps_the_urls_host_beside_a_free_snippet_column(width: int) -> None:
    """The reviewer's `fetchcli $B/ok $B/slow/6000 $B/ok?2`: widths settle on /ok alone."""
    timeout = FetchResult(
        index=1, url=HOST + "/slow/6000", ok=False, elapsed_ms=5004.0, attempts=1,
        error=ErrorInfo(ErrorType.ReadTimeout, "no data for 5 s"),
    )  # fmt: skip
    lines = _table(width, [_ok(0, "/ok"), timeout, _ok(2, "/ok?2")], held=1)
    row = lines[3]
    # the host whole (not http://127.…1/slow/6000); the URL shortened in its path at most
    assert f"{HOST}/" in row and "6000  ReadTimeout  5,004 ms" in row and "no data for 5 s" in row, row
    assert lines[3].index("ReadTimeout") == lines[2].index("200 ") == lines[4].index("200 ")


@pytest.mark.parametrize("width", [60, 100, 200])
def test_a_later_wider_time_does_not_shift_the_status_column(width: int) -> None:
    lines = _table(width, [_ok(0, "/ok/0"), _ok(1, "/ok/1", ms=3002.0), _ok(2, "/ok/2")], held=1)
    assert "3,002 ms" in lines[3]
    assert lines[3].index("200 ") == lines[2].index("200 ") == lines[4].index("200 ")
    assert f"{HOST}/ok/1 " in lines[3]


@pytest.mark.parametrize("width", [60, 100, 200])
def test_a_later_long_url_is_shortened_in_its_path_keeping_scheme_and_host(width: int) -> None:
    long_url = "/slow/6000/" + "segment/" * 20 + "?i=60"
    lines = _table(width, [_ok(0, "/ok"), _ok(1, long_url)], held=1)
    row = lines[3]
    assert f"{HOST}/" in row and "…" in row
    assert row.index("200 ") == lines[2].index("200 ")
