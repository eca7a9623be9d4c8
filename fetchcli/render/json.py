"""One JSON array, streamed: each record is written as it comes, the array closed at the end."""

from __future__ import annotations

import json
from typing import TextIO

from fetchcli.models import FetchResult
from fetchcli.summary import Summary


class JsonArraySink:
    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._count = 0

    def write(self, result: FetchResult) -> None:
        prefix = "[\n  " if self._count == 0 else ",\n  "
        self._stream.write(prefix + json.dumps(result.to_dict()))
        self._count += 1

    def close(self, summary: Summary) -> None:
        self._stream.write("\n]\n" if self._count else "[]\n")
        self._stream.flush()
