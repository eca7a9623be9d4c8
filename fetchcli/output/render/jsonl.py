"""JSON Lines: one object per line, written whole and flushed as each result is ready."""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence
from typing import TextIO

from fetchcli.models import FetchResult
from fetchcli.output.render.jsonline import record_json
from fetchcli.summary import Summary

# What fsync(2) answers for what cannot be synced (a pipe, a socket, a character device such as
# /dev/null, a file system without it); any other error is a real one.
CANNOT_SYNC = frozenset({errno.EINVAL, errno.EROFS, errno.ENOTSUP, errno.EOPNOTSUPP})


class JsonLinesSink:
    def __init__(self, stream: TextIO, *, fsync: bool = False, fields: Sequence[str] | None = None) -> None:
        self._stream = stream
        self._fsync = fsync
        self._fields = fields

    def write(self, result: FetchResult) -> None:
        line = record_json(result, self._fields)
        # One write per record, so a reader never sees half a line from us.
        self._stream.write(line + "\n")
        self._stream.flush()
        if self._fsync:
            try:
                os.fsync(self._stream.fileno())
            except OSError as exc:
                if exc.errno not in CANNOT_SYNC:
                    raise  # a real failure (EIO): a write error
                self._fsync = False  # a pipe, a socket, a character device: nothing to sync

    def close(self, summary: Summary) -> None:
        self._stream.flush()
