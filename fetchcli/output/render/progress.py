"""A live progress line on stderr while a run goes on: a spinner, done / total (or a live count
when the total is not known), a bar, the percentage, ok and failed counts, URLs per second,
elapsed time and ETA.

The line is drawn by fetchcli itself, as one line rewritten in place with a carriage return, so
that table rows written to the same terminal on stdout go *above* it: ``clear`` before a row,
``redraw`` after. It is redrawn a few times a second by the run's event loop, not by a thread,
and erased at the end. When the terminal is narrow, whole fields are left out, least useful
first (spinner, bar, elapsed time, rate, ETA, percentage), rather than each being cut; numbers are
written as in the table and the summary (``fetchcli.units``).

A frame is three columns narrower than the terminal: the terminal echoes ``^C`` after it when
Ctrl-C is pressed, and a frame reaching the last column would make that echo wrap, leaving the
frame on the line above where no carriage return can erase it. ``erase_now`` is for a signal
handler (a second Ctrl-C): it writes to the descriptor directly, never through the stream's
buffer, which the interrupted code may be in the middle of.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import TextIO

from rich.cells import cell_len
from rich.color import ColorSystem
from rich.style import Style

from fetchcli import units
from fetchcli.output.render.table import MAX_WIDTH, terminal_width
from fetchcli.summary import Summary
from fetchcli.text import can_write, stream_encoding

REFRESH_SECONDS = 0.2
BAR_WIDTH = 20
ECHO_ROOM = 3  # "^C" and the column a terminal wraps at
_SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
_BAR = "━─"
_ASCII_SPINNER, _ASCII_BAR = "|/-\\", "#-"  # for a stream whose encoding cannot write the others


class ProgressLine:
    def __init__(self, stream: TextIO, *, color: bool, width: int | None = None) -> None:
        self._stream = stream
        # The width as for the table: the terminal's, $COLUMNS, or 80; at most 1,000 columns.
        width = min(width or terminal_width(stream), MAX_WIDTH)
        self._blank = max(20, width - 1)  # what ``clear`` covers: never the last column
        self._width = max(17, width - ECHO_ROOM)  # what a frame fills
        self._color = ColorSystem.STANDARD if color else None
        self._styles: dict[str, Style] = {}
        unicode = can_write(_SPINNER + _BAR, stream_encoding(stream))
        self._spinner, self._bar = (_SPINNER, _BAR) if unicode else (_ASCII_SPINNER, _ASCII_BAR)
        self._total: int | None = None
        self._started = time.perf_counter()
        self._line = ""  # the line as last rendered (with its colours)
        self._shown = False
        self._gone = False  # its terminal went away (a write failed): nothing more is drawn
        self.frames = 0  # lines drawn: for tests
        try:
            self._fd: int | None = stream.fileno()
        except (AttributeError, OSError, ValueError):
            self._fd = None  # an in-memory stream (tests)

    def set_total(self, total: int | None) -> None:
        self._total = total

    def _styled(self, text: str, style: str) -> str:
        if self._color is None or not text or not style:
            return text
        parsed = self._styles.get(style)
        if parsed is None:
            parsed = self._styles[style] = Style.parse(style)
        return parsed.render(text, color_system=self._color)

    def _fields(self, summary: Summary, elapsed: float) -> list[tuple[int, str, str]]:
        """``(priority, plain text, styled text)`` of each field, in the order shown; the lowest
        priority is the first left out when they do not all fit."""
        # URLs a stop left unstarted are not progress: after Ctrl-C the line does not jump to 100%.
        done, total = summary.total - summary.not_started, self._total
        fields: list[tuple[int, str, str]] = []

        def add(priority: int, *parts: tuple[str, str]) -> None:
            fields.append((priority, "".join(t for t, _ in parts), "".join(self._styled(t, s) for t, s in parts)))

        add(1, (self._spinner[self.frames % len(self._spinner)], "green"))
        add(10, (f"{units.count(done)}/{units.count(total) if total is not None else '?'}", ""))
        fraction = min(done / total, 1.0) if total else None
        if fraction is not None:
            filled = round(fraction * BAR_WIDTH)
            add(2, (self._bar[0] * filled, "magenta"), (self._bar[1] * (BAR_WIDTH - filled), "bright_black"))
            add(7, (f"{fraction * 100:.0f}%", ""))
        counts = [
            (f"{units.count(summary.ok)} ok", "green"),
            (" ", ""),
            (f"{units.count(summary.failed)} failed", "red"),
        ]
        if summary.cancelled:
            counts += [(" ", ""), (f"{units.count(summary.cancelled)} cancelled", "yellow")]
        add(9, *counts)
        add(5, (units.rate(summary.finished / elapsed if elapsed > 0 else 0.0), ""))
        add(3, (units.seconds(elapsed), ""))
        if total is not None and done and elapsed > 0:
            add(6, (f"ETA {units.seconds(max(total - done, 0) * elapsed / done)}", ""))
        return fields

    def render(self, summary: Summary) -> str:
        """The frame for ``summary``: the fields that fit the width, padded to it."""
        elapsed = time.perf_counter() - self._started
        fields = self._fields(summary, elapsed)
        kept = list(fields)
        while len(kept) > 1 and sum(cell_len(plain) for _, plain, _ in kept) + len(kept) - 1 > self._width:
            kept.remove(min(kept, key=lambda field: field[0]))
        if len(kept) == 1 and cell_len(kept[0][1]) > self._width:  # not even the count fits
            plain = kept[0][1][: self._width]
            kept = [(0, plain, plain)]
        used = sum(cell_len(plain) for _, plain, _ in kept) + len(kept) - 1
        # Padded with spaces to the width, so each frame covers the one before without an erase
        # sequence: colours are the only escape sequences fetchcli writes.
        return " ".join(styled for _, _, styled in kept) + " " * max(0, self._width - used)

    def update(self, summary: Summary) -> None:
        """Render the counts of ``summary`` and draw them."""
        self._line = self.render(summary)
        self.redraw()

    def redraw(self) -> None:
        """Draw the last rendered line again (after a table row went above it). A terminal gone
        (a hangup: EIO) ends the line for good: it is only a display, and the run must still
        write its files (``_write``)."""
        if self._write("\r" + self._line):
            self._shown = True
            self.frames += 1

    def _write(self, text: str) -> bool:
        if self._gone:
            return False
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):
            self._gone, self._shown = True, False
            return False
        return True

    def clear(self) -> None:
        """Blank the line and go back to its start, so that what is written next starts there."""
        if self._shown and self._write("\r" + " " * self._blank + "\r"):
            self._shown = False

    def erase_now(self) -> None:
        """``clear`` for a signal handler: straight to the descriptor, whatever the stream's
        buffer holds; nothing when there is no descriptor, or the write fails."""
        if self._fd is None or not self._shown:
            return
        with contextlib.suppress(OSError):
            os.write(self._fd, ("\r" + " " * self._blank + "\r").encode())
