"""Renderers: turn ``FetchResult``s into table, JSON or JSON Lines. They only format."""

from __future__ import annotations

from typing import Protocol, TextIO

from fetchcli.models import FetchResult
from fetchcli.settings import OutputFormat
from fetchcli.summary import Summary


class Sink(Protocol):
    def write(self, result: FetchResult) -> None: ...

    def close(self, summary: Summary) -> None: ...


def make_sink(
    fmt: OutputFormat, stream: TextIO, *, color: bool = False, width: int | None = None, fsync: bool = False
) -> Sink:
    """The renderer for ``fmt`` writing to ``stream`` (imports only what that format needs)."""
    if fmt is OutputFormat.jsonl:
        from fetchcli.render.jsonl import JsonLinesSink

        return JsonLinesSink(stream, fsync=fsync)
    if fmt is OutputFormat.json:
        from fetchcli.render.json import JsonArraySink

        return JsonArraySink(stream)
    from fetchcli.render.table import TableSink

    return TableSink(stream, color=color, width=width)


__all__ = ["Sink", "make_sink"]
