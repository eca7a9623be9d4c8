"""HTTP rules fetchcli holds every server to, the same on both backends (aiohttp parses in C,
httpx's h11 in Python, and each lets different things through on its own).

- A final status is 100-599, and a ``101 Switching Protocols`` answers only a request that asked
  for an ``Upgrade``: anything else is ``RemoteProtocolError`` (aiohttp took 000, 001, 099 and an
  unasked 101 as ok responses; statuses above 599 were records with no error).
- Informational (1xx) responses ahead of the final one are bounded: at most
  ``MAX_INFORMATIONAL`` of them and ``MAX_INFORMATIONAL_BYTES`` in all, else
  ``RemoteProtocolError``. A server sending ``102 Processing`` without end grew aiohttp's memory
  without bound (175 MB for one URL) and held the URL until ``--max-time`` on both backends.
  aiohttp counts the messages its parser returns (``aio.py``); on the httpx backend,
  ``InformationalHeads`` counts them in the bytes an HTTP/1.1 connection reads
  (``netbackend.py``), as h11 would split them.
- A chunk size is at most ``MAX_CHUNK_SIZE`` (2^64 - 1, what aiohttp's parser takes), else
  ``RemoteProtocolError`` at once. h11 takes up to 20 hex digits (2^80 - 1) and then waits for a
  chunk that never ends: a server sending ``ffffffffffffffffffff`` and leaving the connection
  open held the URL until the read timeout on the httpx backend. There ``ChunkSizes`` follows the
  framing of a chunked body in the bytes read (``netbackend.py``, told by ``coretransport.py``
  that the body is chunked).
- On HTTP/2 (the httpx backend), each response's head has exactly one ``:status``, three
  digits, 100-599 and not 101, and the informational heads of a stream are bounded as above:
  ``h2responses.Http2Responses`` follows the frames an HTTP/2 connection reads (``netbackend.py``).
"""

from __future__ import annotations

import re

MAX_INFORMATIONAL = 100  # responses
MAX_INFORMATIONAL_BYTES = 64 * 1024  # their status lines and headers, in all


def is_informational(status: int) -> bool:
    """A 1xx response that precedes the final one (101 ends the exchange instead)."""
    return 100 <= status < 200 and status != 101


def status_problem(status: int, upgrade_asked: bool) -> str | None:
    """Why a final response's ``status`` breaks HTTP, or None when it does not."""
    if not 100 <= status <= 599:
        return f"the server answered with status {status:03d}, outside 100-599"
    if status == 101 and not upgrade_asked:
        return "the server answered 101 Switching Protocols to a request that asked for no Upgrade"
    return None


class InformationalBudget:
    """What the informational responses ahead of one final response may take."""

    __slots__ = ("count", "size")

    def __init__(self) -> None:
        self.count = 0
        self.size = 0

    def spend(self, size: int) -> str | None:
        """Count one informational response of ``size`` bytes; the error message once over."""
        self.count += 1
        self.size += size
        if self.count > MAX_INFORMATIONAL:
            return f"the server sent more than {MAX_INFORMATIONAL} informational (1xx) responses"
        if self.size > MAX_INFORMATIONAL_BYTES:
            return f"the server's informational (1xx) responses passed {MAX_INFORMATIONAL_BYTES // 1024} KiB"
        return None


_HEAD_END = re.compile(rb"\n\r?\n")  # where h11 ends a head
_STATUS_AT = slice(9, 12)  # b"HTTP/1.1 102 ..."


class InformationalHeads:
    """The informational responses an HTTP/1.1 connection reads before a final response, counted
    in the bytes as they are read: ``begin`` when a request is sent, ``feed`` each read. Only the
    heads are looked at, never kept: the first bytes of each (its status) and the last two
    (a head's end may span two reads). Once a head that is not informational begins, only its
    end is looked for: the read it ends in and where (``body_data``, ``body_at``: where the body
    begins), then nothing more until the next request."""

    __slots__ = ("_budget", "_carry", "_final_head", "_first", "_request", "_size", "active", "body_at", "body_data")

    def __init__(self) -> None:
        self.active = False
        self._final_head = False  # in the final response's head, looking for its end
        self.body_data: bytes | None = None
        self.body_at = 0
        self._budget = InformationalBudget()
        self._first = b""
        self._carry = b""
        self._size = 0
        self._request = b""

    def begin(self, request_head: bytes) -> None:
        """A request was sent, ``request_head`` first (kept only to tell whether it asked for
        an Upgrade, should a 101 come)."""
        self.active = True
        self._final_head = False
        self.body_data = None
        self._budget = InformationalBudget()
        self._first = self._carry = b""
        self._size = 0
        self._request = request_head

    def _final(self, status: int | None) -> str | None:
        """The first response that is not informational has begun: none of ours from here on
        (but for where its head ends); its status said in fetchcli's words when it breaks HTTP
        (h11's are its internals)."""
        self._final_head = True
        if status is None or status >= 200:
            return None
        self.active = False
        return status_problem(status, b"\nupgrade:" in self._request.lower())

    def _status(self) -> int | None:
        first = self._first
        if first[:5] != b"HTTP/" or first[8:9] != b" " or not first[_STATUS_AT].isdigit():
            return None
        return int(first[_STATUS_AT])

    def _end(self, data: bytes, position: int) -> int:
        """Where in ``data`` the current head ends (just after its blank line), or -1."""
        if self._carry:
            joined = self._carry + data[position : position + 2]
            match = _HEAD_END.search(joined)
            if match is not None:
                return position + match.end() - len(self._carry)
        match = _HEAD_END.search(data, position)
        return -1 if match is None else match.end()

    def feed(self, data: bytes) -> str | None:
        """Look at one read; the error message once the informational responses are over the
        bound, else None."""
        position, size = 0, len(data)
        while self.active and position < size:
            if self._final_head:
                end = self._end(data, position)
                if end < 0:
                    self._carry = data[-2:] if size - position >= 2 else (self._carry + data[position:])[-2:]
                    return None
                self.active = False
                self.body_data, self.body_at = data, end
                return None
            if len(self._first) < 12:
                self._first += data[position : position + 12 - len(self._first)]
                if len(self._first) == 12:
                    status = self._status()
                    if status is None or not is_informational(status):
                        problem = self._final(status)
                        if problem is not None:
                            return problem
                        continue  # to the end of its head
            end = self._end(data, position)
            if end >= 0 and len(self._first) < 12:  # too short for a status line: h11's to refuse
                self.active = False
                return None
            if end < 0:  # the head goes on in the next read
                self._size += size - position
                self._carry = data[-2:] if size - position >= 2 else (self._carry + data[position:])[-2:]
                if self._budget.size + self._size > MAX_INFORMATIONAL_BYTES:
                    return self._budget.spend(self._size)
                return None
            problem = self._budget.spend(self._size + end - position)
            if problem is not None:
                return problem
            self._first = self._carry = b""
            self._size = 0
            position = end
        return None


MAX_CHUNK_SIZE = 2**64 - 1  # bytes: the largest chunk size aiohttp's parser (llhttp) takes


def chunk_size_too_large(digits: str) -> str:
    """The message for a chunk size over ``MAX_CHUNK_SIZE`` (its hex ``digits``), on both backends."""
    shown = digits[:24] + ("..." if len(digits) > 24 else "")
    return (
        f"the server sent a chunk size over 2^64-1 bytes ({shown})"
        if shown
        else "the server sent a chunk size over 2^64-1 bytes"
    )


_HEX_DIGITS = re.compile(rb"[0-9A-Fa-f]+")
_SIZE_LINE_KEPT = 64  # bytes of a chunk-size line split between reads kept: its digits come first


class ChunkSizes:
    """Follows the framing of one chunked body in the bytes as they are read (``feed`` each
    read, from where the body begins), to refuse a chunk size above ``MAX_CHUNK_SIZE`` at once.
    Only the size lines are looked at, and of each only its leading hex digits (at most
    ``_SIZE_LINE_KEPT`` bytes of one are kept while it spans reads); the data is skipped by its
    count. ``done`` once the last chunk (size 0) or a line h11 will refuse has come. A size line
    ending in a bare LF is refused at once, as aiohttp's parser does (h11 waits for a CRLF that
    never comes, until the read timeout)."""

    __slots__ = ("_cr", "_left", "_line", "done")

    def __init__(self) -> None:
        self._left = 0  # bytes of the current chunk's data and its CRLF still to come
        self._line = b""  # the start of a size line that spans reads
        self._cr = False  # the last byte read of such a line was a CR
        self.done = False

    def feed(self, data: bytes, position: int = 0) -> str | None:
        """Look at ``data[position:]``; the error message when a chunk size is too large."""
        size = len(data)
        while position < size and not self.done:
            if self._left:
                step = min(self._left, size - position)
                self._left -= step
                position += step
                continue
            newline = data.find(b"\n", position)
            if newline < 0:
                self._line = (self._line + data[position : position + _SIZE_LINE_KEPT])[:_SIZE_LINE_KEPT]
                self._cr = data[size - 1] == 13
                return None
            line = self._line + data[position : min(newline, position + _SIZE_LINE_KEPT)]
            cr = data[newline - 1] == 13 if newline > position else self._cr
            self._line, self._cr = b"", False
            position = newline + 1
            if not cr:
                self.done = True
                return "the server ended a chunk-size line with a bare LF, not CRLF"
            digits = _HEX_DIGITS.match(line)
            if digits is None:  # not a size line: h11's to refuse
                self.done = True
                return None
            chunk = int(digits.group(), 16)
            if chunk > MAX_CHUNK_SIZE:
                return chunk_size_too_large(digits.group().decode("ascii"))
            if chunk == 0:  # the last chunk: trailers, if any, and the end of the body
                self.done = True
                return None
            self._left = chunk + 2  # its data, then CRLF
        return None
