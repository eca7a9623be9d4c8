"""A live progress line on stderr while a run goes on: done / total (or a live count when the
total is not known), a bar, ok and failed counts, URLs per second, elapsed time and ETA.

Rich lays the line out (``rich.progress`` columns, rendered to a string); fetchcli draws it
itself, as one line rewritten in place with a carriage return, so that table rows written to
the same terminal on stdout go *above* it: ``clear`` before a row, ``redraw`` after. It is
redrawn a few times a second by the run's event loop, not by a thread, and erased at the end.
"""

from __future__ import annotations

import io
import re
import time
from typing import TextIO

from rich.cells import cell_len
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from fetchcli.render.table import MAX_WIDTH, terminal_width
from fetchcli.summary import Summary

REFRESH_SECONDS = 0.2
_SGR = re.compile("\x1b\\[[0-9;]*m")


class ProgressLine:
    def __init__(self, stream: TextIO, *, color: bool, width: int | None = None) -> None:
        self._stream = stream
        # The width as for the table: the terminal's, $COLUMNS, or 80; at most 1,000 columns.
        width = min(width or terminal_width(stream), MAX_WIDTH)
        self._width = max(20, width - 1)  # never the last column: some terminals wrap there
        self._color = color
        self._progress = Progress(
            SpinnerColumn(),
            MofNCompleteColumn(),
            BarColumn(bar_width=20),
            TaskProgressColumn(),
            TextColumn("[green]{task.fields[ok]:,} ok[/] [red]{task.fields[failed]:,} failed[/]"),
            TextColumn("{task.fields[rate]} URLs/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            auto_refresh=False,
            expand=False,
        )
        self._task = self._progress.add_task("fetch", total=None, ok=0, failed=0, rate="0.0")
        self._started = time.perf_counter()
        self._line = ""  # the line as last rendered (with its colours)
        self._shown = False
        self.frames = 0  # lines drawn: for tests

    def set_total(self, total: int | None) -> None:
        self._progress.update(self._task, total=total)

    def update(self, summary: Summary) -> None:
        """Render the counts of ``summary`` and draw them."""
        elapsed = time.perf_counter() - self._started
        rate = summary.total / elapsed if elapsed > 0 else 0.0
        self._progress.update(
            self._task, completed=summary.total, ok=summary.ok, failed=summary.failed, rate=f"{rate:,.1f}"
        )
        buffer = io.StringIO()
        console = Console(
            file=buffer,
            width=self._width,
            force_terminal=self._color,
            no_color=not self._color,
            color_system="standard" if self._color else None,
            highlight=False,
        )
        console.print(self._progress.get_renderable(), end="", no_wrap=True, overflow="crop")
        line = buffer.getvalue().split("\n", 1)[0]
        # Padded with spaces to the width, so each frame covers the one before without an erase
        # sequence: colours are the only escape sequences fetchcli writes.
        self._line = line + " " * max(0, self._width - cell_len(_SGR.sub("", line)))
        self.redraw()

    def redraw(self) -> None:
        """Draw the last rendered line again (after a table row went above it)."""
        self._stream.write("\r" + self._line)
        self._stream.flush()
        self._shown = True
        self.frames += 1

    def clear(self) -> None:
        """Blank the line and go back to its start, so that what is written next starts there."""
        if self._shown:
            self._stream.write("\r" + " " * self._width + "\r")
            self._stream.flush()
            self._shown = False
