"""A Rich table for people at a terminal. Every server string goes in as ``rich.text.Text``,
so markup in a body is shown, never interpreted (escape characters were removed by the core)."""

from __future__ import annotations

from typing import TextIO

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from fetchcli.models import FetchResult, Summary

_STATUS_STYLE = {2: "green", 3: "cyan", 4: "yellow", 5: "red"}


def _status_cell(result: FetchResult) -> Text:
    if result.status is not None:
        return Text(str(result.status), style=_STATUS_STYLE.get(result.status // 100, "magenta"))
    return Text(result.error.type if result.error else "?", style="bold red")


def _size_cell(result: FetchResult) -> Text:
    if result.status is None:
        return Text("")
    size = result.content_length if result.content_length is not None else result.bytes_read
    return Text(f"{size:,}" + ("+" if result.truncated and result.content_length is None else ""))


def _detail_cell(result: FetchResult) -> Text:
    if result.error is not None:
        return Text(result.error.message, style="red")
    if not result.snippet and result.bytes_read:
        return Text("(binary)", style="dim")
    return Text(result.snippet)


class TableSink:
    def __init__(self, stream: TextIO, *, color: bool = False, width: int | None = None) -> None:
        self._console = Console(
            file=stream,
            width=width,
            color_system="auto" if color else None,
            force_terminal=color,
            highlight=False,
            markup=False,
            emoji=False,
        )
        self._rows: list[FetchResult] = []

    def write(self, result: FetchResult) -> None:
        self._rows.append(result)

    def close(self, summary: Summary) -> None:
        rows = [
            (
                Text(str(result.index)),
                Text(result.url),
                _status_cell(result),
                Text(f"{result.elapsed_ms:.0f} ms" if result.elapsed_ms is not None else ""),
                _size_cell(result),
                _detail_cell(result),
            )
            for result in self._rows
        ]
        # Give the snippet what the other columns leave; long URLs fold rather than squeeze it.
        width = self._console.width
        natural = [max([len(row[i].plain) for row in rows] + [len(name)]) for i, name in enumerate(_COLUMNS)]
        url_width = min(natural[1], max(20, width // 3))
        fixed = natural[0] + url_width + sum(natural[2:5]) + 3 * (len(_COLUMNS) - 1)
        snippet_width = max(10, width - fixed)
        table = Table(show_edge=False, pad_edge=False, box=box.SIMPLE_HEAD)
        table.add_column("#", justify="right", no_wrap=True)
        table.add_column("URL", overflow="fold", max_width=url_width)
        table.add_column("status", no_wrap=True)
        table.add_column("time", justify="right", no_wrap=True)
        table.add_column("size", justify="right", no_wrap=True)
        table.add_column("snippet", overflow="ellipsis", no_wrap=True, max_width=snippet_width)
        for row in rows:
            table.add_row(*row)
        self._console.print(table)
        self._console.file.flush()


_COLUMNS = ("#", "URL", "status", "time", "size", "snippet")
