"""A pipe or a terminal read straight from its descriptor, line by line, by the input's thread
(``FdLineReader``); a stop reads nothing more from it."""

from __future__ import annotations

import contextlib
import os
import select
import time


class FdLineReader:
    """``readline(limit)`` straight from a file descriptor with ``os.read``, for a pipe read by
    a background thread: a buffered file object would leave its lock held by that thread, and
    the interpreter, closing its own stdin at exit, would abort on it.

    ``stop`` makes it read nothing more from the descriptor: the lines it holds already (bytes
    taken from the pipe) are still returned, then end of input. A wait for data is woken up by
    ``stop``. A line it holds only in part (a read ends where the writer's write ended, not at a
    newline) is finished first: read on one byte at a time, so that nothing after its newline is
    taken, for at most ``FINISH_SECONDS`` in all and the caller's ``limit`` bytes. A line that
    cannot be finished so is dropped, not returned cut short (``…/ok?`` for ``…/ok?1567``), and
    ``cut`` says how many bytes of it were read. ``at_eof`` tells whether the pipe was really
    read to its end."""

    FINISH_SECONDS = 1.0

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = b""
        self.at_eof = False
        self.cut = 0  # bytes of a line begun but not finished when the reading stopped
        self._finish_by: float | None = None  # after stop: when finishing a begun line gives up
        self._stopped = False
        self._wake_r, self._wake_w = os.pipe()
        self._poll: select.poll | None = None
        if hasattr(select, "poll"):
            self._poll = select.poll()
            self._poll.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
            self._poll.register(self._wake_r, select.POLLIN)

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            os.write(self._wake_w, b"x")

    def close(self) -> None:
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _fill(self) -> None:
        """Read once more from the descriptor: wait until it has data (or ends) or ``stop`` is
        called, and in the second case read nothing."""
        if self._poll is not None and not self._stopped:
            self._poll.poll()
        if self._stopped:
            return
        chunk = os.read(self._fd, 65536)
        if not chunk:
            self.at_eof = True
        self._buffer += chunk

    def readline(self, limit: int = -1, /) -> bytes:
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0 and (limit < 0 or end < limit):
                line, self._buffer = self._buffer[: end + 1], self._buffer[end + 1 :]
                return line
            if 0 <= limit <= len(self._buffer):
                line, self._buffer = self._buffer[:limit], self._buffer[limit:]
                return line
            if self.at_eof:
                line, self._buffer = self._buffer, b""
                return line
            if self._stopped:
                return self._finish_line(limit)
            self._fill()

    def _finish_line(self, limit: int) -> bytes:
        """After ``stop``: the line begun in the buffer, read on to its newline (or the end of
        the input, or ``limit`` bytes); b"" (and ``cut`` set) when that takes too long."""
        if not self._buffer:
            return b""
        if self._finish_by is None:
            self._finish_by = time.monotonic() + self.FINISH_SECONDS
        waiting = None
        if hasattr(select, "poll"):
            waiting = select.poll()
            waiting.register(self._fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        while limit < 0 or len(self._buffer) < limit:
            left = self._finish_by - time.monotonic()
            try:
                if waiting is None or left <= 0 or not waiting.poll(max(1, int(left * 1000))):
                    raise TimeoutError
                byte = os.read(self._fd, 1)  # one at a time: nothing past the newline is taken
            except OSError:  # not finished in time (TimeoutError), or the input failed
                self.cut, self._buffer = len(self._buffer), b""
                return b""  # dropped, never passed on cut short
            if not byte:
                self.at_eof = True
                break
            self._buffer += byte
            if byte == b"\n":
                break
        line, self._buffer = self._buffer, b""
        return line
