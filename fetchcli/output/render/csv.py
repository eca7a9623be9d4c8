"""CSV and TSV: a header row (unless ``--no-header``), then one row per record, each on one line.

Nested values are flattened (``error.type``, ``tls.days_left``), also an object named whole by
``--fields`` (``--fields error`` writes ``error.type`` and ``error.message``); a list is one cell, its items
separated by spaces (``tls.san``); ``null`` is an empty cell. Every text cell passes the one
terminal sanitiser (``fetchcli.text.for_terminal``): URLs, snippets, messages and certificate
names come from the input and from servers, and a CSV printed to a terminal or read by a
line-based tool must not run escape sequences or split a record. So no cell holds a control,
bidi or other invisible format character; they are shown escaped (``\\x1b``, ``\\u202e``), CR and
LF included, and a record is always one line.

CSV keeps RFC 4180 quoting (a cell with ``,`` or ``"`` is quoted) and line ends (CRLF). TSV
follows the usual convention of tab-separated files (IANA ``text/tab-separated-values``,
PostgreSQL ``COPY``, jq's ``@tsv``): lines end with LF, as ``awk``, ``cut`` and ``read`` expect (a
CR would stay in the last field: ``200\\r``); no quoting; a backslash is written ``\\\\`` and a
tab, CR and LF ``\\t``, ``\\r`` and ``\\n``, so a cell never holds a tab or a line end.

A text cell that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``)
is prefixed with ``'``, as OWASP advises against CSV injection (a tab or a carriage return, also
on OWASP's list, is escaped, so it never starts a cell)."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from fetchcli.models import FetchResult
from fetchcli.output.render.fields import flat_fields, project
from fetchcli.summary import Summary
from fetchcli.text import for_terminal

_FORMULA_STARTS = ("=", "+", "-", "@")
_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\r": "\\r", "\n": "\\n"})


def tsv_text(text: str) -> str:
    """``text`` as a TSV cell: backslash, tab, CR and LF escaped (``\\\\ \\t \\r \\n``), then
    every other control, bidi or invisible character escaped by ``for_terminal``."""
    if text.isprintable() and "\\" not in text:
        return text
    return for_terminal(text.translate(_TSV_ESCAPES))


def _cell(value: Any, escape: Callable[[str], str]) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):  # tls.san: names; redirects: "status url" per hop
        value = " ".join(f"{item['status']} {item['url']}" if isinstance(item, dict) else str(item) for item in value)
    if isinstance(value, dict):  # change.previous: its fields as JSON
        value = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, str):
        value = escape(value)
        if value.startswith(_FORMULA_STARTS):
            return "'" + value
    return value


class DelimitedSink:
    def __init__(self, stream: TextIO, fields: Sequence[str], *, delimiter: str = ",", header: bool = True) -> None:
        """``header``: write the header row (the field names) first. An object among ``fields``
        (``error``) is written as its fields (``error.type``, ``error.message``)."""
        self._stream = stream
        self._fields = flat_fields(fields)
        self._tsv = delimiter == "\t"
        self._escape = tsv_text if self._tsv else for_terminal
        self._writer = csv.writer(stream, delimiter=delimiter, lineterminator="\r\n")
        if header:
            self._write_row(self._fields)

    def _write_row(self, cells: Sequence[Any]) -> None:
        if self._tsv:  # cells hold no tab, CR or LF: nothing to quote
            self._stream.write("\t".join(map(str, cells)) + "\n")
        else:
            self._writer.writerow(cells)

    def write(self, result: FetchResult) -> None:
        row = project(result.to_dict(), self._fields)
        self._write_row([_cell(row[name], self._escape) for name in self._fields])
        self._stream.flush()

    def close(self, summary: Summary) -> None:
        self._stream.flush()
