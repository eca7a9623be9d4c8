"""A table for people at a terminal, streamed: each row is written as its result arrives.

Column widths are fixed up front from the terminal width, so no row waits for the others and
memory does not grow with the number of URLs (Rich's ``Table`` measures every row before it
prints any, which is why this renderer lays out rows itself and uses Rich only for the width,
colours and cell widths). Every string from the input or a server passes
``fetchcli.terminal.for_terminal`` first; the only escape sequences written are the colours of
``Style.render``, and none at all without colour.

Columns, narrowest terminal first: ``#``, URL (shortened in the middle with ``…``, never
wrapped), status (the code, or the error type), time; then the snippet (or error message) from
80 columns, and the size from 120. The width is held between 40 and 1,000 columns whatever
``$COLUMNS`` says (``COLUMNS=20000000`` padded each row to 20 MB).
"""

from __future__ import annotations

from typing import TextIO

from rich.cells import cell_len
from rich.color import ColorSystem
from rich.console import Console
from rich.style import Style

from fetchcli.models import FetchResult
from fetchcli.summary import Summary
from fetchcli.terminal import for_terminal

GAP = "  "
MIN_WIDTH = 40
MAX_WIDTH = 1000  # wider is not a terminal but a mistake, or a way to make every row megabytes


def terminal_width(stream: TextIO) -> int:
    """The width Rich decides for ``stream`` (the terminal's, ``$COLUMNS``, or 80), at most
    ``MAX_WIDTH``: Rich takes any number in ``$COLUMNS`` as it is (it ignores what is not a
    number, such as ``-5``); 0 says nothing, so it is taken as 80 too."""
    width = Console(file=stream, force_terminal=False).width
    return min(width, MAX_WIDTH) if width > 0 else 80


_STATUS_STYLE = {2: "green", 3: "cyan", 4: "yellow", 5: "red"}


def _fit(text: str, width: int) -> str:
    """``text`` cut at the end to ``width`` cells, with ``…`` when cut."""
    if cell_len(text) <= width:
        return text
    out, used = [], 0
    for ch in text:
        w = cell_len(ch)
        if used + w > width - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "…"


def _middle(text: str, width: int) -> str:
    """``text`` shortened to ``width`` cells by replacing its middle with ``…``."""
    if cell_len(text) <= width:
        return text
    budget = width - 1
    head_budget = (budget + 1) // 2
    head, used = [], 0
    for ch in text:
        if used + cell_len(ch) > head_budget:
            break
        head.append(ch)
        used += cell_len(ch)
    tail, tail_used = [], 0
    for ch in reversed(text):
        if tail_used + cell_len(ch) > budget - used:
            break
        tail.append(ch)
        tail_used += cell_len(ch)
    return "".join(head) + "…" + "".join(reversed(tail))


def _pad(text: str, width: int, *, right: bool = False) -> str:
    fill = " " * max(0, width - cell_len(text))
    return fill + text if right else text + fill


class Layout:
    """Column widths for a terminal ``width`` cells wide; 0 means the column is not shown."""

    def __init__(self, width: int) -> None:
        width = min(max(width, MIN_WIDTH), MAX_WIDTH)
        self.index, self.time = 6, 8
        self.status = 19 if width >= 110 else 12  # 19: RemoteProtocolError
        self.size = 9 if width >= 120 else 0
        rest = width - self.index - self.status - self.time - 3 * len(GAP)
        if self.size:
            rest -= self.size + len(GAP)
        if rest - len(GAP) >= 40:  # room for both: the URL gets three fifths
            self.url = (rest - len(GAP)) * 3 // 5
            self.detail = rest - len(GAP) - self.url
        else:
            self.url, self.detail = rest, 0
        self.width = width


class TableSink:
    def __init__(self, stream: TextIO, *, color: bool = False, width: int | None = None) -> None:
        self._stream = stream
        self._layout = Layout(width if width is not None else terminal_width(stream))
        self._color = ColorSystem.STANDARD if color else None
        self._styles: dict[str, Style] = {}
        self._started = False

    def _styled(self, text: str, style: str) -> str:
        if self._color is None or not text:
            return text
        parsed = self._styles.get(style)
        if parsed is None:
            parsed = self._styles[style] = Style.parse(style)
        return parsed.render(text, color_system=self._color)

    def _line(self, cells: list[tuple[str, int, bool, str]]) -> str:
        """``(text, width, right-aligned, style)`` per shown column -> one line."""
        parts = [self._styled(_pad(text, width, right=right), style) for text, width, right, style in cells if width]
        return GAP.join(parts).rstrip() + "\n"

    def _header(self) -> str:
        lay = self._layout
        names = [("#", lay.index, True), ("URL", lay.url, False), ("status", lay.status, False)]
        names += [("time", lay.time, True), ("size", lay.size, True), ("snippet", lay.detail, False)]
        head = self._line([(name, width, right, "bold") for name, width, right in names])
        shown = [width for _, width, _ in names if width]
        used = sum(shown) + len(GAP) * (len(shown) - 1)
        return head + self._styled("─" * used, "dim") + "\n"

    def write(self, result: FetchResult) -> None:
        lay = self._layout
        if result.status is not None:
            status, status_style = str(result.status), _STATUS_STYLE.get(result.status // 100, "magenta")
        else:
            status, status_style = for_terminal(result.error.type if result.error else "?"), "bold red"
        if result.error is not None:
            detail, detail_style = for_terminal(result.error.message), "red"
        elif result.binary:
            detail, detail_style = "(binary)", "dim"
        else:
            detail, detail_style = for_terminal(result.snippet), ""
        size = ""
        if result.status is not None:
            shown = result.content_length if result.content_length is not None else result.bytes_read
            size = f"{shown:,}" + ("+" if result.truncated and result.content_length is None else "")
        line = self._line(
            [
                (str(result.index), lay.index, True, ""),
                (_middle(for_terminal(result.url), lay.url), lay.url, False, ""),
                (_fit(status, lay.status), lay.status, False, status_style),
                (f"{result.elapsed_ms:.0f} ms" if result.elapsed_ms is not None else "", lay.time, True, ""),
                (size, lay.size, True, ""),
                (_fit(detail, lay.detail), lay.detail, False, detail_style),
            ]
        )
        if not self._started:
            self._started = True
            line = self._header() + line
        self._stream.write(line)
        self._stream.flush()  # a row is for someone watching: show it now

    def close(self, summary: Summary) -> None:
        self._stream.flush()
