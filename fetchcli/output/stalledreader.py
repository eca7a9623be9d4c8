"""Records written to a pipe or a socket whose reader may stop reading: once a signal has stopped
the run, a reader that takes nothing for ``GRACE_SECONDS`` is given up, so that SIGTERM (a cron
job's ``timeout``) ends fetchcli even when nobody reads its output.

Without this, a write to a full pipe blocks in the kernel; the signal's handler runs (Python
retries the interrupted ``write``, PEP 475) and the write blocks again, for ever: the loop that
would act on the stop is the thread that is blocked. So each write here first waits, in slices,
for the pipe to have room (``poll``), and writes at most ``PIPE_BUF`` bytes, which a pipe with
room takes without blocking. While the run goes on, the wait has no end (a slow reader is
waited for, as before); after a stop, a reader that takes nothing for ``GRACE_SECONDS`` makes
the write fail with ``ReaderStalled`` (an ``OSError``: the documented write error, worded by
the runner), and whatever is written after that is dropped.

Regular files, terminals and anything that is not a pipe or a socket are left as they are.
"""

from __future__ import annotations

import errno
import io
import os
import select
import stat
import time
from collections.abc import Callable
from typing import Any, TextIO

GRACE_SECONDS = 5.0  # after a stop: how long a reader may take nothing before it is given up
_SLICE_MS = 250  # how often a write waiting for room looks whether the run was stopped


class ReaderStalled(OSError):
    """After a stop, the reader of the output took nothing for ``GRACE_SECONDS``."""

    def __init__(self) -> None:
        super().__init__(errno.ETIMEDOUT, f"its reader took nothing for {GRACE_SECONDS:g} s after the stop")


class _PipeWriter(io.RawIOBase):
    """The raw layer under the output's text stream: see the module docstring. ``stream``, the
    stream it replaces, is kept (and closed by ``close``) so that its descriptor is closed once."""

    def __init__(self, stream: TextIO, stopped: Callable[[], bool], *, owned: bool) -> None:
        super().__init__()
        self._stream, self._owned = stream, owned
        self._fd = stream.fileno()
        self._stopped = stopped
        self._poll = select.poll()
        self._poll.register(self._fd, select.POLLOUT)
        self.given_up = False

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        if self.given_up:
            return len(view)  # dropped: nobody reads it
        stalled_since: float | None = None
        while not self._poll.poll(_SLICE_MS):  # POLLERR (reader gone) ends the wait too: write says EPIPE
            if not self._stopped():
                continue
            now = time.monotonic()
            if stalled_since is None:
                stalled_since = now
            elif now - stalled_since >= GRACE_SECONDS:
                self.given_up = True
                raise ReaderStalled
        return os.write(self._fd, view[: select.PIPE_BUF])

    def close(self) -> None:
        if not self.closed and self._owned:
            self._stream.close()
        super().close()


def watch_reader(stream: TextIO, stopped: Callable[[], bool], *, owned: bool) -> TextIO:
    """``stream`` itself unless it writes to a pipe or a socket; else a stream writing the same
    descriptor through ``_PipeWriter``, in the same encoding. ``owned``: closing the new stream
    closes ``stream`` (an ``-o`` FIFO); else the descriptor stays open (stdout)."""
    try:
        fd = stream.fileno()
        mode = os.fstat(fd).st_mode
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return stream  # in memory (tests), or closed: as it is
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
        return stream
    stream.flush()
    raw = _PipeWriter(stream, stopped, owned=owned)
    return io.TextIOWrapper(
        io.BufferedWriter(raw),
        encoding=getattr(stream, "encoding", None) or "utf-8",
        errors=getattr(stream, "errors", None) or "strict",
        newline="\n",
    )


def give_up(stream: TextIO) -> None:
    """A write to ``stream`` failed (its reader gone): drop what it still holds, so that nothing
    tries to write it again (the interpreter's flush at exit)."""
    raw = getattr(getattr(stream, "buffer", None), "raw", None)
    if isinstance(raw, _PipeWriter):
        raw.given_up = True
