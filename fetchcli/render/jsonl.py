"""JSON Lines: one object per line, written whole and flushed as each result is ready."""

from __future__ import annotations

import json
import os
from typing import TextIO

from fetchcli.models import FetchResult
from fetchcli.summary import Summary


class JsonLinesSink:
    def __init__(self, stream: TextIO, *, fsync: bool = False) -> None:
        self._stream = stream
        self._fsync = fsync

    def write(self, result: FetchResult) -> None:
        # One write per record, so a reader never sees half a line from us.
        self._stream.write(json.dumps(result.to_dict()) + "\n")
        self._stream.flush()
        if self._fsync:
            os.fsync(self._stream.fileno())

    def close(self, summary: Summary) -> None:
        self._stream.flush()
