"""The inputs of one CLI run: files opened up front, pipes and terminals read by a thread
straight from their descriptor (``pipereader``, ``threadedsource``), and a stop that leaves unread
input unread.

``fetchcli/urls.py`` turns lines into ``UrlItem``s; this module decides where the lines come from and
how far they were read. ``fetchcli.input.jsonl`` is imported only when a JSON Lines input is read:
a run of a URL list never loads it.
"""

from __future__ import annotations

import functools
import io
import os
import stat
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import BinaryIO, TypeVar

from fetchcli.input.pipereader import FdLineReader
from fetchcli.models import UrlItem
from fetchcli.settings import InputFormat, SettingProblem
from fetchcli.urls import MAX_URL_LENGTH, iter_binary_lines, iter_items, url_text

_T = TypeVar("_T")


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
            counts: Callable[[str], bool] = _is_url_line
            longest, group = MAX_URL_LENGTH, _file_items
            if jsonl:  # imported here: a run of a URL list never loads it (start-up)
                from fetchcli.input import jsonl as jsonl_input

                counts, longest = jsonl_input.is_request_line, jsonl_input.MAX_LINE_BYTES
                group = jsonl_input.iter_jsonl_items
            lines: Iterator[str]
            if _is_regular_file(stream):
                lines = _until(self._stop, _lines_of(stream, jsonl, longest))
                self._left.append(functools.partial(_count_urls, stream, counts, longest))
                self._sizes.append(functools.partial(_count_urls_from_start, stream, counts))
            else:
                self.blocking = True  # a pipe or terminal: read in a thread, straight from the fd
                reader = FdLineReader(stream.fileno())
                self._readers.append(reader)
                lines = _lines_of(reader, jsonl, longest)
            groups.append(functools.partial(group, lines))

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


def _file_items(lines: Iterable[str], start: int) -> Iterator[UrlItem]:
    return iter_items(lines, start=start, a_file=True)


def _lines_of(stream: BinaryIO | FdLineReader, jsonl: bool, longest: int) -> Iterator[str]:
    """A URL list's lines; or a JSON Lines input's, longer (``longest``: ``jsonl.MAX_LINE_BYTES``),
    and with a byte that is not UTF-8 kept as a surrogate, for ``jsonl`` to name."""
    if jsonl:
        return iter_binary_lines(stream, max_length=longest, errors="surrogateescape")
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
