"""A table for people at a terminal, streamed: rows are written as their results arrive.

Column widths follow what the first screenful holds: the first rows (as many as the terminal
has lines, between 10 and 50) are held until there are that many, until a second has passed
since the first of them (the runner calls ``settle``), or until the run ends; the widths are
then chosen from them and kept, so no later row waits for the others and memory does not grow
with the number of URLs (Rich's ``Table`` measures every row before it prints any, which is why
this renderer lays out rows itself and uses Rich only for the width, colours and cell widths).

Columns, narrowest terminal first: ``#``, URL, status (the code, or the error type of a failure,
even one with a code: a ``TotalTimeout`` after a 200 is not shown as a 200), time; then
the snippet (or error message) from 80 columns, and the size from 120. A URL too long for its
column is shortened in its path (``http://127.0.0.1:8080/…/status/200``), its scheme and host
kept whole while they fit; a snippet is cut at its end. Numbers and error types are never cut: a
later row whose error type or time is wider than its column pushes only the columns after it,
taking the room from the snippet (else from what is unused at the end of a narrow line, and
only then from the URL), so the URL and the columns before the wider cell stay in place. URLs reported ``NotStarted`` by a stop get one
line at the end (``220 not started: stopped by SIGINT (#80 to #299)``), not a row each; the
other formats keep every record. Numbers are written as everywhere else (``fetchcli.units``).

Every string from the input or a server passes ``fetchcli.text.for_terminal`` first; the
only escape sequences written are the colours of ``Style.render``, and none at all without
colour. The width is held between 40 and 1,000 columns whatever ``$COLUMNS`` says
(``COLUMNS=20000000`` padded each row to 20 MB).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TextIO

from rich.cells import cell_len
from rich.color import ColorSystem
from rich.console import Console
from rich.style import Style

from fetchcli import units
from fetchcli.errortype import ErrorType
from fetchcli.models import FetchResult
from fetchcli.summary import Summary
from fetchcli.text import can_write, encodable, for_terminal, stream_encoding

GAP = "  "
MIN_WIDTH = 40
MAX_WIDTH = 1000  # wider is not a terminal but a mistake, or a way to make every row megabytes
SETTLE_SECONDS = 1.0  # the longest the first rows are held to measure them
MIN_HELD, MAX_HELD = 10, 50  # rows measured: the terminal's height, within these
MIN_DETAIL = 10  # the snippet column lends a wider cell its room down to this

_HEADERS = ("#", "URL", "status", "time", "size", "snippet")
_SCHEME_AND_HOST = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")


def terminal_width(stream: TextIO) -> int:
    """The width Rich decides for ``stream`` (the terminal's, ``$COLUMNS``, or 80), at most
    ``MAX_WIDTH``: Rich takes any number in ``$COLUMNS`` as it is (it ignores what is not a
    number, such as ``-5``); 0 says nothing, so it is taken as 80 too."""
    width = Console(file=stream, force_terminal=False).width
    return min(width, MAX_WIDTH) if width > 0 else 80


def screenful(stream: TextIO) -> int:
    """How many rows the first screenful holds: the terminal's height (``$LINES``, or 25 when
    it is not a terminal) less the header, rule and summary, between 10 and 50."""
    height = Console(file=stream, force_terminal=False).height
    return min(max(height - 4, MIN_HELD), MAX_HELD)


_STATUS_STYLE = {2: "green", 3: "cyan", 4: "yellow", 5: "red"}


def _fit(text: str, width: int, ellipsis: str = "…") -> str:
    """``text`` cut at the end to ``width`` cells, with ``ellipsis`` when cut."""
    if cell_len(text) <= width:
        return text
    out, used = [], 0
    room = width - len(ellipsis)
    for ch in text:
        w = cell_len(ch)
        if used + w > room:
            break
        out.append(ch)
        used += w
    return "".join(out) + ellipsis if room >= 0 else ellipsis[:width]


def _middle(text: str, width: int, head_share: float = 0.5, ellipsis: str = "…") -> str:
    """``text`` shortened to ``width`` cells by replacing its middle with ``ellipsis``; the start
    keeps ``head_share`` of the room, the end the rest."""
    if cell_len(text) <= width:
        return text
    budget = width - len(ellipsis)
    if budget < 1:
        return _fit(text, width, ellipsis)
    head_budget = max(1, round(budget * head_share)) if head_share != 0.5 else (budget + 1) // 2
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
    return "".join(head) + ellipsis + "".join(reversed(tail))


def shorten_url(url: str, width: int, ellipsis: str = "…") -> str:
    """``url`` in ``width`` cells: shortened in its path (``http://host:8080/a…/page.html``),
    keeping more of the path's end than of its start, the scheme and host whole; in the middle when even they do not fit (or it has no scheme)."""
    if cell_len(url) <= width:
        return url
    found = _SCHEME_AND_HOST.match(url)
    if found is not None:
        origin = found.group()
        room = width - cell_len(origin)
        if room >= 1 + len(ellipsis):  # "/…" at least
            return origin + _middle(url[len(origin) :], room, 1 / 3, ellipsis)  # the end says most
    return _middle(url, max(width, 1), ellipsis=ellipsis)


def _pad(text: str, width: int, *, right: bool = False) -> str:
    fill = " " * max(0, width - cell_len(text))
    return fill + text if right else text + fill


_RANGES_SHOWN = 4  # runs of consecutive indexes the not-started line names, then '… to #N'


@dataclass(frozen=True)
class _Row:
    """One result as the cells the table shows, before the column widths are known."""

    index: str
    url: str
    status: str
    status_style: str
    time: str
    size: str
    detail: str
    detail_style: str


def _row(result: FetchResult, encoding: str = "utf-8", address: bool = False) -> _Row:
    """The cells of ``result``; what ``encoding`` cannot write is shown escaped (``encodable``);
    ``address``: the URL followed by the address it was fetched from (``--all-ips``)."""
    if result.error is not None:  # a failure shows as one, even with a status (TotalTimeout after a 200)
        status, status_style = for_terminal(result.error.type), "bold red"
    elif result.status is not None:
        status, status_style = str(result.status), _STATUS_STYLE.get(result.status // 100, "magenta")
    else:
        status, status_style = "?", "bold red"
    if result.error is not None:
        detail, detail_style = for_terminal(result.error.message), "red"
    elif result.location is not None:  # a 3xx: where it points, not its (mostly boilerplate) body
        detail, detail_style = f"→ {for_terminal(result.location)}", "cyan"
    elif result.binary:
        detail, detail_style = "(binary)", "dim"
    else:
        detail, detail_style = for_terminal(result.snippet), ""
    size = ""
    if result.status is not None:
        shown = result.content_length if result.content_length is not None else result.bytes_read
        size = units.count(shown) + ("+" if result.truncated and result.content_length is None else "")
    elapsed = units.ms(result.elapsed_ms) if result.elapsed_ms is not None else ""
    url = for_terminal(result.url)
    if address and result.remote_ip:
        url = f"{url} [{result.remote_ip}]"
    if not encoding.startswith("utf-"):
        url, status, detail = (encodable(text, encoding) for text in (url, status, detail))
    return _Row(str(result.index), url, status, status_style, elapsed, size, detail, detail_style)


class Layout:
    """Column widths for a terminal ``width`` cells wide, from the rows of the first screenful
    (``rows``; none: what a few short rows would need); 0 means the column is not shown.

    Numbers, statuses and error types get the width of the widest seen (the header's at least);
    the URL gets what its longest needs and a tenth more, up to three fifths of what is left when the snippet is
    shown; the snippet the rest (from 80 columns), the size its own column from 120."""

    def __init__(self, width: int, rows: list[_Row] | tuple[_Row, ...] = ()) -> None:
        width = min(max(width, MIN_WIDTH), MAX_WIDTH)

        def widest(cells: list[str], header: str, least: int = 0) -> int:
            return max([cell_len(header), least, *(cell_len(cell) for cell in cells)])

        self.index = widest([row.index for row in rows], "#", 3)
        self.status = widest([row.status for row in rows], "status")
        self.time = widest([row.time for row in rows], "time", len("99.9 ms"))
        self.size = widest([row.size for row in rows], "size", len("99,999")) if width >= 120 else 0
        url_needs = widest([row.url for row in rows], "URL", 20)
        url_needs += max(4, url_needs // 10)  # later URLs may be a little longer (?n=9, then ?n=10)
        rest = width - self.index - self.status - self.time - 3 * len(GAP)
        if self.size:
            rest -= self.size + len(GAP)
        if rest - len(GAP) >= 40 and width >= 80:  # room for both: the URL gets up to three fifths
            self.url = min(url_needs, (rest - len(GAP)) * 3 // 5)
            self.detail = rest - len(GAP) - self.url
            self.spare = 0
        else:
            self.url, self.detail = max(min(url_needs, rest), 1), 0
            self.spare = max(0, rest - self.url)  # unused at the end of the line
        self.width = width


class TableSink:
    def __init__(
        self,
        stream: TextIO,
        *,
        color: bool = False,
        width: int | None = None,
        held: int | None = None,
        addresses: bool = False,
    ) -> None:
        self._stream = stream
        self._addresses = addresses
        self.width = min(max(width if width is not None else terminal_width(stream), MIN_WIDTH), MAX_WIDTH)
        self._hold = held if held is not None else screenful(stream)
        self._held: list[_Row] = []  # the first screenful, until the widths are chosen
        self._layout: Layout | None = None
        self._color = ColorSystem.STANDARD if color else None
        self._styles: dict[str, Style] = {}
        self._not_started = 0
        # Their indexes, as up to _RANGES_SHOWN runs of consecutive ones, and the highest.
        self._not_started_runs: list[list[int]] = []
        self._not_started_more = False
        self._not_started_high = 0
        self._stop_reason = ""
        # A stream in a legacy encoding (PYTHONIOENCODING=latin-1, ascii) gets ASCII for the
        # rule and the ellipsis when it cannot write them, and escapes for what else it cannot.
        self._encoding = stream_encoding(stream)
        unicode = can_write("─…", self._encoding)
        self._rule, self._ellipsis = ("─", "…") if unicode else ("-", "...")

    @property
    def settled(self) -> bool:
        """Whether the column widths are chosen (rows are then written as they come)."""
        return self._layout is not None

    @property
    def holding(self) -> bool:
        """Whether rows are held (the first screenful has begun and is not written yet)."""
        return bool(self._held)

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

    def _header(self, lay: Layout) -> str:
        widths = (lay.index, lay.url, lay.status, lay.time, lay.size, lay.detail)
        right = (True, False, False, True, True, False)
        head = self._line([(name, w, r, "bold") for name, w, r in zip(_HEADERS, widths, right, strict=True)])
        shown = [w for w in widths if w]
        used = sum(shown) + len(GAP) * (len(shown) - 1)
        return head + self._styled(self._rule * used, "dim") + "\n"

    def _render(self, row: _Row, lay: Layout) -> str:
        # A cell that is never cut (a number, a status, an error type) but is wider than its
        # column pushes only the columns after it: the room comes from the snippet (cut at its
        # end, down to MIN_DETAIL), else from what is unused at the end of a narrow line, and
        # only then from the URL. So the URL and the columns before the wide cell stay in place.
        index_w = max(lay.index, cell_len(row.index))
        status_w = max(lay.status, cell_len(row.status))
        time_w = max(lay.time, cell_len(row.time))
        size_w = max(lay.size, cell_len(row.size)) if lay.size else 0
        over = index_w - lay.index + status_w - lay.status + time_w - lay.time + size_w - lay.size
        detail_w, url_w = lay.detail, lay.url
        if over:
            taken = min(over, max(0, detail_w - MIN_DETAIL)) if detail_w else min(over, lay.spare)
            detail_w -= taken if detail_w else 0
            url_w = max(1, url_w - (over - taken))
        return self._line(
            [
                (row.index, index_w, True, ""),
                (shorten_url(row.url, url_w, self._ellipsis), url_w, False, ""),
                (row.status, status_w, False, row.status_style),
                (row.time, time_w, True, ""),
                (row.size, size_w, True, ""),
                (_fit(row.detail, detail_w, self._ellipsis), detail_w, False, row.detail_style),
            ]
        )

    def write(self, result: FetchResult) -> None:
        if result.error is not None and result.error.type == ErrorType.NotStarted:
            self._count_not_started(result)
            return
        row = _row(result, self._encoding, self._addresses)
        if self._layout is None:
            self._held.append(row)
            if len(self._held) >= self._hold:
                self.settle()
            return
        self._stream.write(self._render(row, self._layout))
        self._stream.flush()  # a row is for someone watching: show it now

    def settle(self) -> None:
        """Choose the column widths from the rows held and write them (with the header): from
        here on each row is written as it arrives. Nothing is written before the first row."""
        if self._layout is not None or not self._held:
            return
        lay = self._layout = Layout(self.width, self._held)
        held, self._held = self._held, []
        self._stream.write(self._header(lay))
        for row in held:
            self._stream.write(self._render(row, lay))
        self._stream.flush()

    def _count_not_started(self, result: FetchResult) -> None:
        index, runs = result.index, self._not_started_runs
        if not self._not_started:
            message = result.error.message if result.error is not None else ""
            reason = for_terminal(message.removeprefix("not started").lstrip(": "))
            self._stop_reason = encodable(reason, self._encoding)
        if runs and runs[-1][0] <= index <= runs[-1][1] + 1 and not self._not_started_more:
            runs[-1][1] = max(runs[-1][1], index)  # (--all-ips: a URL's probes share its index)
        elif len(runs) < _RANGES_SHOWN:  # (once there are more, there are _RANGES_SHOWN runs)
            runs.append([index, index])
        else:
            self._not_started_more = True
        self._not_started_high = max(self._not_started_high, index)
        self._not_started += 1

    def _not_started_indexes(self) -> str:
        """``#80 to #299``; ``#2, #4, #6``; ``#2, #4 to #9, #12, #14, … to #99`` (bounded)."""
        shown = ", ".join(f"#{low}" if low == high else f"#{low} to #{high}" for low, high in self._not_started_runs)
        return shown + (f", … to #{self._not_started_high}" if self._not_started_more else "")

    def close(self, summary: Summary) -> None:
        self.settle()
        if self._not_started:
            if self._layout is None:  # nothing but URLs not started: still a table
                self._layout = Layout(self.width)
                self._stream.write(self._header(self._layout))
            line = f"{units.count(self._not_started)} not started"
            if self._stop_reason:
                line += f": {self._stop_reason}"
            line += f" ({self._not_started_indexes()})"
            lay = self._layout
            text = _fit(line, max(1, lay.width - lay.index - len(GAP)), self._ellipsis)
            self._stream.write(" " * lay.index + GAP + self._styled(text, "yellow") + "\n")
        self._stream.flush()
