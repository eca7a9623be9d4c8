"""JSON Lines: one object per line, written whole and flushed as each result is ready."""

from __future__ import annotations

import json
from typing import TextIO

from fetchcli.models import FetchResult, Summary


class JsonLinesSink:
    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, result: FetchResult) -> None:
        # One write per record, so a reader never sees half a line from us.
        self._stream.write(json.dumps(result.to_dict()) + "\n")
        self._stream.flush()

    def close(self, summary: Summary) -> None:
        self._stream.flush()
