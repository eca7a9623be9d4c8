"""Where URLs come from: positional arguments, files and stdin, read lazily, one ``UrlItem`` each.

Nothing here holds more than one line at a time: a file of ten million URLs costs the same
memory as a file of ten. Bad lines are not dropped: they become items with an ``InvalidURL``
error, which the engine reports without making a request.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import os
import re
import select
import stat
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import BinaryIO, Protocol

from fetchcli.models import ErrorInfo, UrlItem
from fetchcli.settings import SettingsError

MAX_URL_LENGTH = 8192
SUPPORTED_SCHEMES = ("http", "https")
DEFAULT_SCHEME = "https"

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):(.*)$", re.DOTALL)
_PORT_THEN_PATH = re.compile(r"^\d+(?:[/?#]|$)")
# Controls (C0, DEL, C1) and every kind of whitespace, none of which may appear in a URL.
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f-\x9f\s\ufffd]")
# A host name: letters (any script, for IDNs), digits, '-', '_' and dots.
_HOST = re.compile(r"^[^\W_](?:[\w\-]*)(?:\.[\w\-]+)*\.?$")
_RAW_PREVIEW = 200


def _invalid(index: int, raw: str, message: str) -> UrlItem:
    shown = raw if len(raw) <= _RAW_PREVIEW else raw[:_RAW_PREVIEW] + "..."
    return UrlItem(index=index, raw=shown, url=None, error=ErrorInfo("InvalidURL", message))


def _describe_char(ch: str) -> str:
    if ch == "\ufffd":
        return "bytes that are not valid UTF-8"
    if ch.isspace():
        return "whitespace"
    return f"a control character (U+{ord(ch):04X})"


def _check_host(host: str) -> str | None:
    """Return why ``host`` cannot be a host name or IP literal, or ``None`` when it can."""
    if host.startswith("["):
        if not host.endswith("]"):
            return "has an unterminated IPv6 address"
        try:
            ipaddress.IPv6Address(host[1:-1].split("%", 1)[0])
        except ValueError:
            return f"has an invalid IPv6 address {host!r}"
        return None
    if not _HOST.match(host):
        return f"has an invalid host {host!r}"
    if len(host.rstrip(".")) > 253 or any(len(label) > 63 for label in host.split(".")):
        return f"has a host name that is too long: {host[:80]!r}"
    return None


def normalise_url(text: str, index: int) -> UrlItem:
    """Validate one URL and add ``https://`` when it has no scheme; never raises."""
    raw = text
    if len(text) > MAX_URL_LENGTH:
        return _invalid(index, raw, f"URL is longer than {MAX_URL_LENGTH} characters")
    bad = _FORBIDDEN.search(text)
    if bad is not None:
        return _invalid(index, raw, f"URL contains {_describe_char(bad.group())}")
    if "://" not in text:
        match = _SCHEME.match(text)
        if match is not None and not _PORT_THEN_PATH.match(match.group(2)):
            scheme = match.group(1).lower()
            if scheme in SUPPORTED_SCHEMES:
                return _invalid(index, raw, "URL has no '//' after the scheme")
            return _invalid(index, raw, f"unsupported scheme {scheme!r}: only http and https are fetched")
        text = f"{DEFAULT_SCHEME}:{text}" if text.startswith("//") else f"{DEFAULT_SCHEME}://{text}"
    scheme, _, rest = text.partition("://")
    if scheme.lower() not in SUPPORTED_SCHEMES:
        return _invalid(index, raw, f"unsupported scheme {scheme.lower()!r}: only http and https are fetched")
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    hostport = authority.rpartition("@")[2]
    if hostport.startswith("["):
        host, _, after = hostport.partition("]")
        host += "]"
        port = after[1:] if after.startswith(":") else (None if not after else "!")
    else:
        host, colon, port_text = hostport.partition(":")
        port = port_text if colon else None
    if not host:
        return _invalid(index, raw, "URL has no host")
    reason = _check_host(host)
    if reason is not None:
        return _invalid(index, raw, f"URL {reason}")
    if port is not None and (not port.isdigit() or not 0 < int(port) < 65536):
        return _invalid(index, raw, f"URL has an invalid port {port!r}")
    if not host.startswith("[") and _NUMBER_LABEL.match(host.rstrip(".").rpartition(".")[2]):
        address = _ipv4(host)
        if address is None:
            return _invalid(index, raw, f"URL has an invalid IPv4 address {host!r}")
        if address != host:  # 2130706433, 0x7f.1, 127.1: one spelling for both backends
            start = len(scheme) + 3 + len(authority) - len(hostport)
            text = text[:start] + address + text[start + len(host) :]
    return UrlItem(index=index, raw=raw, url=text)


_NUMBER_LABEL = re.compile(r"^(?:\d+|0[xX][0-9A-Fa-f]*)$")


def _ipv4(host: str) -> str | None:
    """A host that ends in a number is an IPv4 address in any of the forms the WHATWG URL
    standard (and so every browser) reads: ``2130706433``, ``0x7f.1``, ``0177.0.0.1``, ``127.1``.
    Returns it dotted, or None when it is not a valid one."""
    parts = host.rstrip(".").split(".")
    if len(parts) > 4:
        return None
    numbers = []
    for part in parts:
        if part[:2].lower() == "0x":
            digits, base = part[2:] or "0", 16
        elif len(part) > 1 and part.startswith("0"):
            digits, base = part[1:], 8
        else:
            digits, base = part, 10
        try:
            numbers.append(int(digits, base))
        except ValueError:
            return None
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(numbers)):
        return None
    value = sum(n << (8 * (3 - i)) for i, n in enumerate(leading)) + last
    return ".".join(str((value >> shift) & 255) for shift in (24, 16, 8, 0))


def _clean(line: str) -> str | None:
    """The URL on a line, or ``None`` for blank lines and ``#`` comments."""
    text = line.strip().lstrip("\ufeff").strip()
    if not text or text.startswith("#"):
        return None
    return text


class LineSource(Protocol):
    def readline(self, size: int = -1, /) -> bytes: ...


def iter_binary_lines(stream: LineSource, *, max_length: int = MAX_URL_LENGTH) -> Iterator[str]:
    """Decoded lines of a byte stream, reading at most ``max_length`` + 1 bytes of any line.

    A longer line is consumed to its end and yielded as its first ``max_length`` + 1 characters,
    which validation then rejects as too long: memory stays bounded even without newlines.
    """
    limit = max_length + 2  # room for the URL, one byte more to detect overflow, and '\n'
    while True:
        chunk = stream.readline(limit)
        if not chunk:
            return
        if len(chunk) == limit and not chunk.endswith(b"\n"):
            while True:  # discard the rest of an over-long line
                more = stream.readline(65536)
                if not more or more.endswith(b"\n"):
                    break
        yield chunk.decode("utf-8", errors="replace")


def iter_items(lines: Iterable[str], *, start: int = 0) -> Iterator[UrlItem]:
    """Turn lines into ``UrlItem``s, skipping blanks and comments; indexes count URLs only."""
    index = start
    for line in lines:
        text = _clean(line)
        if text is None:
            continue
        yield normalise_url(text, index)
        index += 1


def iter_all(groups: Iterable[Iterable[str]]) -> Iterator[UrlItem]:
    """Items from several line sources in order (arguments first, then each file)."""
    index = 0
    for lines in groups:
        for item in iter_items(lines, start=index):
            index = item.index + 1
            yield item


class FdLineReader:
    """``readline(limit)`` straight from a file descriptor with ``os.read``, for a pipe read by
    a background thread: a buffered file object would leave its lock held by that thread, and
    the interpreter, closing its own stdin at exit, would abort on it.

    ``stop`` makes it read nothing more from the descriptor: the lines it holds already (bytes
    taken from the pipe) are still returned, then end of input. A wait for data is woken up by
    ``stop``, so no byte is taken from the pipe after it; ``at_eof`` tells whether the pipe was
    really read to its end."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = b""
        self.at_eof = False
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
            if self.at_eof or self._stopped:
                line, self._buffer = self._buffer, b""
                return line
            self._fill()


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


def _until(stop: threading.Event, lines: Iterator[str]) -> Iterator[str]:
    """``lines`` until ``stop`` is set; not a line is read after that."""
    while not stop.is_set():
        try:
            yield next(lines)
        except StopIteration:
            return


class Inputs:
    """Every URL source of a run, in order: the arguments, then each ``--input`` (``-`` for
    stdin, also read when nothing else is given and it is not a terminal).

    Files are opened up front, so a missing one is a usage error before any request; lines are
    read lazily. A pipe or terminal is read straight from its descriptor (``blocking``: the
    engine reads it in a thread). ``stop_reading`` ends the input where it is: nothing more is
    read, but what a pipe's reader already took still comes out; ``unread`` then says how much
    was left."""

    def __init__(
        self, urls: Sequence[str], paths: Sequence[str], stdin: BinaryIO, stdin_isatty: bool, opened: list[BinaryIO]
    ) -> None:
        self._stop = threading.Event()
        self._left: list[Callable[[], int]] = []  # per input: how many URLs it still holds (-1: unknown)
        self._readers: list[FdLineReader] = []
        groups: list[Iterable[str]] = []
        self.blocking = False
        if urls:
            args = iter(list(urls))
            groups.append(_until(self._stop, args))
            self._left.append(lambda: sum(1 for line in args if _clean(line) is not None))
        use_stdin = not urls and not paths and not stdin_isatty
        for path in [*paths, *(["-"] if use_stdin else [])]:
            stream = stdin if path == "-" else self._open(path, opened)
            if _is_regular_file(stream):
                groups.append(_until(self._stop, iter_binary_lines(stream)))
                self._left.append(functools.partial(_count_urls, stream))
                continue
            self.blocking = True  # a pipe or terminal: read in a thread, straight from the fd
            reader = FdLineReader(stream.fileno())
            self._readers.append(reader)
            groups.append(iter_binary_lines(reader))

        if not groups:
            raise SettingsError("URL", "missing: give URLs as arguments, with --input FILE, or on stdin")
        self._groups = groups
        self.done = False  # every line of every input was read

    @staticmethod
    def _open(path: str, opened: list[BinaryIO]) -> BinaryIO:
        try:
            stream = open(path, "rb")  # noqa: SIM115 - closed by the caller, with the others
        except OSError as exc:
            raise SettingsError("--input", f"cannot read {path!r}: {exc.strerror or exc}") from None
        opened.append(stream)
        return stream

    def items(self) -> Iterator[UrlItem]:
        yield from iter_all(self._groups)
        self.done = not self._stop.is_set()  # an end because of stop_reading is not the end

    def stop_reading(self) -> None:
        self._stop.set()
        for reader in self._readers:
            reader.stop()

    def unread(self) -> int:
        """After ``stop_reading``: URLs left in the input, or -1 when that cannot be known (a pipe
        was not read to its end, or a reading thread may still be between two lines)."""
        if self.blocking:
            return -1
        counts = [left() for left in self._left]
        return -1 if any(n < 0 for n in counts) else sum(counts)

    def close(self) -> None:
        for reader in self._readers:
            reader.close()


def _count_urls(stream: BinaryIO) -> int:
    try:
        return sum(1 for line in iter_binary_lines(stream) if _clean(line) is not None)
    except (OSError, ValueError):
        return -1
