"""Renderers: turn ``FetchResult``s into table, JSON, JSON Lines, CSV or TSV. They only format."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TextIO

from fetchcli.models import FetchResult
from fetchcli.settings import OutputFormat
from fetchcli.summary import Summary


class Sink(Protocol):
    def write(self, result: FetchResult) -> None: ...

    def close(self, summary: Summary) -> None: ...


def make_sink(
    fmt: OutputFormat,
    stream: TextIO,
    *,
    color: bool = False,
    width: int | None = None,
    fsync: bool = False,
    fields: Sequence[str] | None = None,
    header: bool = True,
    addresses: bool = False,
) -> Sink:
    """The renderer for ``fmt`` writing to ``stream`` (imports only what that format needs);
    ``fields`` selects and orders the fields of structured formats (``--fields``); ``header``:
    CSV and TSV begin with a header row (``--header-row/--no-header``); ``addresses``: the table
    shows each row's ``remote_ip`` after its URL (``--all-ips``: a URL's rows differ by it)."""
    if fmt in (OutputFormat.csv, OutputFormat.tsv):
        from fetchcli.output.render.csv import DelimitedSink
        from fetchcli.output.render.fields import all_fields

        delimiter = "," if fmt is OutputFormat.csv else "\t"
        return DelimitedSink(stream, fields or all_fields(flat=True), delimiter=delimiter, header=header)
    if fmt is OutputFormat.jsonl:
        from fetchcli.output.render.jsonl import JsonLinesSink

        return JsonLinesSink(stream, fsync=fsync, fields=fields)
    if fmt is OutputFormat.json:
        from fetchcli.output.render.json import JsonArraySink

        return JsonArraySink(stream, fields=fields)
    from fetchcli.output.render.table import TableSink

    return TableSink(stream, color=color, width=width, addresses=addresses)


__all__ = ["Sink", "make_sink"]
