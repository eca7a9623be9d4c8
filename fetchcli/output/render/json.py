"""One JSON array, streamed: each record is written and flushed as it comes (as JSON Lines are),
so a reader sees it at once and a reader that went away is noticed at the next record; the
array is closed at the end."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from fetchcli.models import FetchResult
from fetchcli.output.render.jsonline import record_json
from fetchcli.summary import Summary


class JsonArraySink:
    def __init__(self, stream: TextIO, *, fields: Sequence[str] | None = None) -> None:
        self._stream = stream
        self._count = 0
        self._fields = fields

    def write(self, result: FetchResult) -> None:
        line = record_json(result, self._fields)
        prefix = "[\n  " if self._count == 0 else ",\n  "
        self._stream.write(prefix + line)
        self._stream.flush()
        self._count += 1

    def close(self, summary: Summary) -> None:
        self._stream.write("\n]\n" if self._count else "[]\n")
        self._stream.flush()
