"""The table never shows a failed URL as a plain success: a record with an error and a status
(``TotalTimeout`` after a 200, ``ExpectFailed``, ``RetryAfterTooLong`` on a 503) shows its error
type in the status column, in red, at every width (below 80 columns there is no message column)."""

from __future__ import annotations

import io
import re

import pytest

from fetchcli.errortype import ErrorType
from fetchcli.models import ErrorInfo, FetchResult
from fetchcli.output.render.table import TableSink
from fetchcli.settings import Backend
from fetchcli.summary import Summary
from tests.helpers import fetchcli_in_clean_env
from tests.server import running_server

RED = "\x1b[1;31m"
GREEN = "\x1b[32m"


def _render(results: list[FetchResult], width: int) -> str:
    out = io.StringIO()
    sink = TableSink(out, width=width, held=10, color=True)
    for result in results:
        sink.write(result)
    sink.close(Summary())
    return out.getvalue()


@pytest.mark.parametrize("width", [60, 79, 100])
@pytest.mark.parametrize(("status", "kind"), [(200, "TotalTimeout"), (200, "ExpectFailed"), (503, "RetryAfterTooLong")])
def test_failure_with_a_status_shows_its_error_type_in_red(width: int, status: int, kind: str) -> None:
    failed = FetchResult(
        index=0, url="http://127.0.0.1:8080/stall", ok=False, status=status, elapsed_ms=2002.0,
        error=ErrorInfo(ErrorType[kind], "what went wrong"), attempts=1,
    )  # fmt: skip
    good = FetchResult(index=1, url="http://127.0.0.1:8080/ok", ok=True, status=200, elapsed_ms=3.0, attempts=1)
    lines = _render([failed, good], width).splitlines()
    row, ok_row = lines[2], lines[3]
    assert f"{RED}{kind}" in row
    cells = re.split(r"\s{2,}", re.sub(r"\x1b\[[0-9;]*m", "", row).strip())
    assert kind in cells and str(status) not in cells, cells
    assert GREEN not in row
    assert f"{GREEN}200" in ok_row  # a success is still a green 200


@pytest.mark.live
def test_a_stall_after_the_headers_is_not_a_200_in_the_table(backend: Backend) -> None:
    """Real runs, both backends: the server answers 200 and then sends nothing more; --max-time
    ends it (TotalTimeout, status 200 kept in the record)."""
    with running_server() as server:
        for columns in ("60", "100"):
            done = fetchcli_in_clean_env(
                "--backend", backend.value, "-f", "table", "-m", "1", server.url("/trickle"), server.url("/ok"),
                env={"COLUMNS": columns},
            )  # fmt: skip
            rows = done.stdout.splitlines()[2:4]
            assert "TotalTimeout" in rows[0] and " 200 " not in rows[0], done.stdout
            assert " 200 " in rows[1] + " "
        assert server.stats.paths.count("/trickle") == 2
