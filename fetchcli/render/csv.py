"""CSV and TSV: a header row, then one row per record (RFC 4180 quoting; TSV uses a tab).

Nested values are flattened (``error.type``, ``tls.days_left``); a list is one cell, its items
separated by spaces (``tls.san``); ``null`` is an empty cell. A text
cell that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return: URLs, snippets and error messages come from the input and from servers) is
prefixed with ``'``, as OWASP advises against CSV injection."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from typing import Any, TextIO

from fetchcli.models import FetchResult
from fetchcli.render.fields import project
from fetchcli.summary import Summary

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):  # tls.san: names; redirects: "status url" per hop
        value = " ".join(f"{item['status']} {item['url']}" if isinstance(item, dict) else str(item) for item in value)
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


class DelimitedSink:
    def __init__(self, stream: TextIO, fields: Sequence[str], *, delimiter: str = ",") -> None:
        self._stream = stream
        self._fields = tuple(fields)
        self._writer = csv.writer(stream, delimiter=delimiter, lineterminator="\r\n")
        self._writer.writerow(self._fields)

    def write(self, result: FetchResult) -> None:
        row = project(result.to_dict(), self._fields)
        self._writer.writerow([_cell(row[name]) for name in self._fields])
        self._stream.flush()

    def close(self, summary: Summary) -> None:
        self._stream.flush()
