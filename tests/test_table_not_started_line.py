"""After a stop, the table's one line for the URLs never started names their indexes, also when
they are not one run (URLs of a slow host waiting their turn between those of a fast one)."""

from __future__ import annotations

import io

import pytest

from fetchcli.errortype import ErrorType
from fetchcli.models import ErrorInfo, FetchResult
from fetchcli.output.render.table import TableSink
from fetchcli.summary import Summary


def _line(not_started: list[int], total: int) -> str:
    out = io.StringIO()
    sink = TableSink(out, width=200, held=10, color=False)
    for n in range(total):
        if n in not_started:
            error = ErrorInfo(ErrorType.NotStarted, "not started: stopped by --deadline 1.5 s")
            sink.write(FetchResult(index=n, url=f"http://127.0.0.1:9/{n}", ok=False, error=error))
        else:
            sink.write(FetchResult(index=n, url=f"http://127.0.0.1:9/{n}", ok=True, status=200, elapsed_ms=1.0))
    sink.close(Summary())
    return out.getvalue().splitlines()[-1].strip()


@pytest.mark.parametrize(
    ("not_started", "shown"),
    [
        ([5], "(#5)"),
        (list(range(2, 32)), "(#2 to #31)"),
        ([2, 4, 6, 8], "(#2, #4, #6, #8)"),
        ([1, 3, 4, 5, 9], "(#1, #3 to #5, #9)"),
        ([1, 3, 5, 7, 9, 11, 12], "(#1, #3, #5, #7, … to #12)"),
    ],
)
def test_the_not_started_line_names_the_indexes(not_started: list[int], shown: str) -> None:
    line = _line(not_started, 40)
    assert line == f"{len(not_started)} not started: stopped by --deadline 1.5 s {shown}"
