"""The inputs of one CLI run: files opened up front, pipes and terminals read by a thread
straight from their descriptor, and a stop that leaves unread input unread.

``fetchcli/urls.py`` turns lines into ``UrlItem``s; this module decides where the lines come from and
how far they were read.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import os
import select
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import BinaryIO, TypeVar

from fetchcli.input.jsonl import MAX_LINE_BYTES, is_request_line, iter_jsonl_items
from fetchcli.models import UrlItem
from fetchcli.settings import InputFormat, SettingProblem
from fetchcli.urls import MAX_URL_LENGTH, iter_binary_lines, iter_items, url_text

_T = TypeVar("_T")


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


_END = object()


class ThreadedSource:
    """Items from a blocking source (a pipe, a terminal), read by a thread ``prefetch`` items ahead.

    A pipe's writer may be slow; reading it on the event loop would freeze every request in
    flight. The thread blocks instead. ``poll`` takes an item already read without waiting, so
    a fast pipe costs no more than a file; ``anext`` waits for one.
    """

    def __init__(
        self, items: Iterator[UrlItem], *, prefetch: int = 256, stop_reading: Callable[[], None] | None = None
    ) -> None:
        self._items = items
        self._prefetch = prefetch
        self._stop_reading = stop_reading
        self._queue: asyncio.Queue[object] | None = None
        self._space = threading.Semaphore(prefetch)
        self._stopped = threading.Event()
        self._ended = False

    def __aiter__(self) -> ThreadedSource:
        return self

    def _start(self) -> asyncio.Queue[object]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()

        def hand_over(value: object) -> bool:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, value)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                return False
            return True

        def produce() -> None:
            try:
                for item in self._items:
                    self._space.acquire()
                    if self._stopped.is_set() or not hand_over(item):
                        return
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer, re-raised there
                hand_over(exc)
            hand_over(_END)

        threading.Thread(target=produce, name="fetchcli-input", daemon=True).start()
        self._queue = queue
        return queue

    def _take(self, value: object) -> UrlItem:
        self._space.release()
        if value is _END:
            self._ended = True
            raise StopAsyncIteration
        if isinstance(value, BaseException):
            raise value
        assert isinstance(value, UrlItem)
        return value

    def poll(self) -> UrlItem | None:
        """An item read already, or None when none is waiting (StopAsyncIteration at the end)."""
        if self._ended:
            raise StopAsyncIteration
        queue = self._queue if self._queue is not None else self._start()
        if queue.empty():
            return None
        return self._take(queue.get_nowait())

    async def __anext__(self) -> UrlItem:
        if self._ended:
            raise StopAsyncIteration
        queue = self._queue if self._queue is not None else self._start()
        return self._take(await queue.get())

    def stop_reading(self) -> None:
        """Read nothing more from the input: what was read already still comes out, then the end."""
        if self._stop_reading is not None:
            self._stop_reading()

    def close(self) -> None:
        self._stopped.set()
        self._space.release()


def _is_regular_file(stream: BinaryIO) -> bool:
    try:
        return stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (AttributeError, OSError, ValueError):
        return True  # an in-memory stream never blocks


def _can_hold_urls(stdin: BinaryIO) -> bool:
    """Whether stdin, read because nothing else was given, can be meant as the input: a pipe, a
    FIFO, a socket or a regular file (an empty one is an empty list: a warning). A character
    device (/dev/null, which is also what a closed stdin becomes) or a closed one cannot: cron
    runs a job with stdin on /dev/null, and a command line that lost its URLs must not pass."""
    try:
        mode = os.fstat(stdin.fileno()).st_mode
    except (AttributeError, ValueError, io.UnsupportedOperation):
        return True  # an in-memory stream (tests, an embedding program): read as given
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISREG(mode)


def _until(stop: threading.Event, lines: Iterator[_T]) -> Iterator[_T]:
    """``lines`` until ``stop`` is set; not a line is read after that."""
    while not stop.is_set():
        try:
            yield next(lines)
        except StopIteration:
            return


def _is_url_line(line: str) -> bool:
    return url_text(line) is not None


JSONL_SUFFIXES = (".jsonl", ".ndjson")


def is_jsonl(path: str, fmt: InputFormat) -> bool:
    """Whether the input ``path`` (``-`` for stdin) is read as JSON Lines: ``--input-format
    jsonl``, or ``auto`` and a file named ``*.jsonl`` or ``*.ndjson`` (stdin needs the flag)."""
    if fmt is not InputFormat.auto:
        return fmt is InputFormat.jsonl
    return path != "-" and path.lower().endswith(JSONL_SUFFIXES)


# An input's items from its index: the lines of a URL list, or of a JSON Lines input.
_Group = Callable[[int], Iterator[UrlItem]]


def reads_stdin(urls: Sequence[str], paths: Sequence[str], stdin_isatty: bool) -> bool:
    """Whether stdin is read without being named (``-i -``): when nothing else is given and it
    is not a terminal."""
    return not urls and not paths and not stdin_isatty


class Inputs:
    """Every URL source of a run, in order: the arguments, then each ``--input`` (``-`` for
    stdin, also read when nothing else is given and it is not a terminal), each a URL list or
    JSON Lines (``is_jsonl``: by ``fmt``, ``--input-format``, and the file's name).

    Files are opened up front, so a missing one is a usage error before any request; lines are
    read lazily. A pipe or terminal is read straight from its descriptor (``blocking``: the
    engine reads it in a thread). ``stop_reading`` ends the input where it is: nothing more is
    read, but what a pipe's reader already took still comes out; ``unread`` then says how much
    was left."""

    def __init__(
        self,
        urls: Sequence[str],
        paths: Sequence[str],
        stdin: BinaryIO,
        stdin_isatty: bool,
        opened: list[BinaryIO],
        fmt: InputFormat = InputFormat.auto,
    ) -> None:
        self._stop = threading.Event()
        self._left: list[Callable[[], int]] = []  # per input: how many URLs it still holds (-1: unknown)
        self._readers: list[FdLineReader] = []
        self._timer: threading.Timer | None = None
        self._sizes: list[Callable[[], int | None]] = []  # per input: its URL count, from its start
        groups: list[_Group] = []
        self.blocking = False
        if urls:
            args = iter(list(urls))
            groups.append(functools.partial(_text_items, _until(self._stop, args)))
            self._left.append(lambda: sum(1 for line in args if url_text(line) is not None))
            given = sum(1 for line in urls if url_text(line) is not None)
            self._sizes.append(lambda: given)
        implicit = reads_stdin(urls, paths, stdin_isatty)
        if implicit and not _can_hold_urls(stdin):
            raise SettingProblem(
                "urls",
                "missing: no URLs given: pass URLs, -i FILE, or pipe them in (stdin is neither a pipe nor a file)",
            )
        for path in [*paths, *(["-"] if implicit else [])]:
            stream = stdin if path == "-" else self._open(path, opened)
            jsonl = is_jsonl(path, fmt)
            counts = is_request_line if jsonl else _is_url_line
            lines: Iterator[str]
            if _is_regular_file(stream):
                lines = _until(self._stop, _lines_of(stream, jsonl))
                longest = MAX_LINE_BYTES if jsonl else MAX_URL_LENGTH
                self._left.append(functools.partial(_count_urls, stream, counts, longest))
                self._sizes.append(functools.partial(_count_urls_from_start, stream, counts))
            else:
                self.blocking = True  # a pipe or terminal: read in a thread, straight from the fd
                reader = FdLineReader(stream.fileno())
                self._readers.append(reader)
                lines = _lines_of(reader, jsonl)
            groups.append(functools.partial(iter_jsonl_items if jsonl else _text_items, lines))

        if not groups:
            raise SettingProblem("urls", "missing: give URLs as arguments, with --input FILE, or on stdin")
        self._groups = groups
        self.done = False  # every line of every input was read

    @staticmethod
    def _open(path: str, opened: list[BinaryIO]) -> BinaryIO:
        fd = -1
        try:
            # Without waiting: opening a FIFO waits for a writer, before --deadline or Ctrl-C's
            # handler is in place. Waiting for its lines is the reader's (``FdLineReader``), which
            # the run's stop and deadline end.
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            os.set_blocking(fd, True)
            stream = open(fd, "rb")  # noqa: SIM115 - closed by the caller, with the others
        except OSError as exc:  # also a directory (EISDIR), found by open() once the fd is there
            if fd >= 0:
                os.close(fd)
            raise SettingProblem("input", f"cannot read {path!r}: {exc.strerror or exc}") from None
        opened.append(stream)
        return stream

    def items(self) -> Iterator[UrlItem]:
        index = 0
        for group in self._groups:
            for item in group(index):
                index = item.index + 1
                yield item
        self.done = not self._stop.is_set()  # an end because of stop_reading is not the end

    def stop_reading(self) -> None:
        self._stop.set()
        for reader in self._readers:
            reader.stop()

    def stop_reading_after(self, seconds: float) -> None:
        """``stop_reading`` in ``seconds`` (``--deadline`` where no run loop keeps the time: a
        dry run reading a pipe or a FIFO whose writer never comes); ``close`` cancels it."""
        self._timer = threading.Timer(seconds, self.stop_reading)
        self._timer.daemon = True
        self._timer.start()

    def cut(self) -> int:
        """After ``stop_reading``: bytes of a pipe's line that was begun but could not be finished
        (``FdLineReader``), and so was not passed on; 0 when none."""
        return sum(reader.cut for reader in self._readers)

    def unread(self) -> int:
        """After ``stop_reading``: URLs left in the input, or -1 when that cannot be known (a pipe
        was not read to its end, or a reading thread may still be between two lines)."""
        if self.blocking:
            return -1
        counts = [left() for left in self._left]
        return -1 if any(n < 0 for n in counts) else sum(counts)

    def count(self) -> int | None:
        """How many URLs the inputs hold in all, for a progress display; None when that is not
        cheap to know (a pipe, or more than ``COUNT_LIMIT`` bytes of files to scan). Reads with
        ``pread``: the position the run reads from is not moved. Safe in another thread."""
        if self.blocking:
            return None
        total = 0
        for size in self._sizes:
            n = size()
            if n is None:
                return None
            total += n
        return total

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for reader in self._readers:
            reader.close()


COUNT_LIMIT = 256 * 1024 * 1024  # bytes of input files a progress display's count may scan


def _text_items(lines: Iterable[str], start: int) -> Iterator[UrlItem]:
    return iter_items(lines, start=start)


def _lines_of(stream: BinaryIO | FdLineReader, jsonl: bool) -> Iterator[str]:
    """A URL list's lines; or a JSON Lines input's, longer (``MAX_LINE_BYTES``), and with a byte
    that is not UTF-8 kept as a surrogate, for ``jsonl`` to name."""
    if jsonl:
        return iter_binary_lines(stream, max_length=MAX_LINE_BYTES, errors="surrogateescape")
    return iter_binary_lines(stream)


def _count_urls_from_start(stream: BinaryIO, counts: Callable[[str], bool] = _is_url_line) -> int | None:
    """URL lines in a regular file, counted with ``pread`` from offset 0 (the file's read
    position is left alone); None for a file over ``COUNT_LIMIT`` or an error."""
    try:
        fd = stream.fileno()
        if os.fstat(fd).st_size > COUNT_LIMIT:
            return None
        count, offset, rest = 0, 0, b""
        while True:
            chunk = os.pread(fd, 1 << 20, offset)
            if not chunk:
                break
            offset += len(chunk)
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            count += sum(1 for line in lines if counts(line.decode("utf-8", "replace")))
        return count + counts(rest.decode("utf-8", "replace"))
    except (OSError, ValueError):
        return None


def _count_urls(stream: BinaryIO, counts: Callable[[str], bool] = _is_url_line, longest: int = MAX_URL_LENGTH) -> int:
    try:
        return sum(1 for line in iter_binary_lines(stream, max_length=longest) if counts(line))
    except (OSError, ValueError):
        return -1
