"""With ``--summary`` and stderr not a terminal (the README's crontab: ``2>> summary.log``), a
run with no URLs to fetch writes its line dated as the summary line is, so the log keeps a dated
line per run (review r7u: an empty list left an undated warning in the log)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.helpers import fetchcli_in_clean_env


def test_an_empty_list_leaves_a_dated_line_in_the_log(tmp_path: Path) -> None:
    empty = tmp_path / "urls.txt"
    empty.write_text("# nothing this time\n")
    done = fetchcli_in_clean_env("-q", "--summary", "-i", str(empty))
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ fetchcli: warning: no URLs to fetch\n", done.stderr), (
        done.stderr
    )


def test_without_summary_the_warning_is_as_before(tmp_path: Path) -> None:
    empty = tmp_path / "urls.txt"
    empty.write_text("")
    done = fetchcli_in_clean_env("-q", "-i", str(empty))
    assert (done.returncode, done.stderr) == (0, "fetchcli: warning: no URLs to fetch\n")
