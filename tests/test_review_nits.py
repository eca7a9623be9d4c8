"""Small things a new user saw (issue 18 review, LOW 7): after Ctrl-C the progress line does not
jump to ``300/300 100% ... ETA 0.00 s`` as the unstarted URLs are reported; a ``--resume`` run
that fetched nothing says no ``0.0 URLs/s``."""

from __future__ import annotations

import io

from fetchcli.output.render.progress import ProgressLine
from fetchcli.summary import Summary


def test_unstarted_urls_are_not_progress() -> None:
    line = ProgressLine(io.StringIO(), color=False, width=120)
    line.set_total(300)
    stopped = Summary(total=300, ok=60, cancelled=20, not_started=220)
    frame = line.render(stopped)
    assert "80/300" in frame and "27%" in frame and "100%" not in frame, frame


def test_a_resumed_run_that_fetched_nothing_gives_no_rate() -> None:
    summary = Summary(elapsed_s=0.05)
    summary.merge(Summary(total=3, ok=3, times_ms={12.0: 3}))  # all three recorded by an earlier run
    text = summary.describe()
    assert "URLs/s" not in text and text.startswith("3 URLs: 3 ok"), text
    fetched = Summary(total=1, ok=1, times_ms={5.0: 1}, elapsed_s=0.5)
    fetched.merge(Summary(total=3, ok=3, times_ms={12.0: 3}))
    assert "URLs/s" in fetched.describe()  # this run fetched one
