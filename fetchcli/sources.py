"""Where URLs come from: positional arguments, files and stdin, read lazily, one ``UrlItem`` each.

Nothing here holds more than one line at a time: a file of ten million URLs costs the same
memory as a file of ten. Bad lines are not dropped: they become items with an ``InvalidURL``
error, which the engine reports without making a request.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import threading
from collections.abc import Iterable, Iterator
from typing import Protocol

from fetchcli.models import ErrorInfo, UrlItem

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
    return UrlItem(index=index, raw=raw, url=text)


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
    the interpreter, closing its own stdin at exit, would abort on it."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = b""
        self._eof = False

    def readline(self, limit: int = -1, /) -> bytes:
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0 and (limit < 0 or end < limit):
                line, self._buffer = self._buffer[: end + 1], self._buffer[end + 1 :]
                return line
            if 0 <= limit <= len(self._buffer):
                line, self._buffer = self._buffer[:limit], self._buffer[limit:]
                return line
            if self._eof:
                line, self._buffer = self._buffer, b""
                return line
            chunk = os.read(self._fd, 65536)
            if not chunk:
                self._eof = True
            self._buffer += chunk


_END = object()


class ThreadedSource:
    """Items from a blocking source (a pipe, a terminal), read by a thread ``prefetch`` items ahead.

    A pipe's writer may be slow; reading it on the event loop would freeze every request in
    flight. The thread blocks instead. ``poll`` takes an item already read without waiting, so
    a fast pipe costs no more than a file; ``anext`` waits for one.
    """

    def __init__(self, items: Iterator[UrlItem], *, prefetch: int = 256) -> None:
        self._items = items
        self._prefetch = prefetch
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

    def close(self) -> None:
        self._stopped.set()
        self._space.release()
