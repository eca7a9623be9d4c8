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
  ``Http2Responses`` follows the frames an HTTP/2 connection reads (``netbackend.py``).
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


_H2_DATA, _H2_HEADERS, _H2_RST_STREAM, _H2_PUSH_PROMISE, _H2_CONTINUATION = 0x0, 0x1, 0x3, 0x5, 0x9
_END_STREAM, _END_HEADERS, _PADDED, _PRIORITY = 0x1, 0x4, 0x8, 0x20
_H2_BLOCK_LIMIT = 1 << 20  # bytes of one header block followed; h2 refuses far less (64 frames)
_H2_STREAMS_KEPT = 1024  # streams followed at once (httpcore opens 100 at most): the oldest go
_STATUS_DIGITS = re.compile(rb"[0-9]{3}")


class Http2Responses:
    """Follows the frames an HTTP/2 connection reads (the server's side, from its first byte),
    to hold each response's head to rules httpcore does not check (it turns h2's header
    validation off, takes a missing ``:status`` as 200 and the last of two, and fails on
    ``:status: abc`` with a ``ValueError``), and to bound the informational responses of each
    stream as on HTTP/1.1 (httpcore drops them, without a limit: endless ``:status 103`` blocks
    held a URL until ``--max-time``, and for ever with ``-m 0``).

    The first header block of a stream and each one after an informational response is a
    response's head: exactly one ``:status``, three digits, 100-599 and not 101 (which HTTP/2
    does not have); at most ``MAX_INFORMATIONAL`` informational heads (and
    ``MAX_INFORMATIONAL_BYTES``) before the final one. A block after the final head is the
    trailers. Header blocks are decoded with HPACK, as h2 decodes them, to keep the server's
    header table in step; every other frame is skipped by its length. What h2 itself refuses (a
    bad frame, a CONTINUATION flood, a push) is left to h2: following ends there, quietly.

    A broken head ends the connection, as h2 ends it for the errors it finds, so every request
    on it at the time has the error, whose message says so. (To fail that stream alone, the
    block would have to be rewritten for h2, whose header table must still read it, and the
    stream reset: more than this is worth for a server that breaks HTTP/2.)"""

    __slots__ = ("_block", "_decoder", "_flags", "_header", "_kind", "_left", "_stream", "_streams", "off")

    def __init__(self) -> None:
        import hpack  # h2's own HPACK library: only HTTP/2 connections need it

        self._decoder = hpack.Decoder(max_header_list_size=_H2_BLOCK_LIMIT)
        self._decoder.max_allowed_table_size = 1 << 16  # lenient: h2 holds the server to its 4 KiB
        self._header = b""  # a frame header that spans reads
        self._left = 0  # bytes of the current frame's payload still to come
        self._kind = -1  # the current frame's type while its payload is read
        self._stream = 0  # the stream of the header block being gathered
        self._block: bytearray | None = None  # that block (HEADERS, CONTINUATION payloads)
        self._flags = 0  # its HEADERS frame's flags, and END_HEADERS once seen
        # Streams whose head has begun: the budget of their informational heads while the final
        # one has not come, then None (what comes next is the body and the trailers).
        self._streams: dict[int, InformationalBudget | None] = {}
        self.off = False  # following has ended (a frame h2 will refuse, or a decoding error)

    @property
    def open_streams(self) -> int:
        """Streams whose head has begun and that have not ended: what following holds."""
        return len(self._streams)

    def feed(self, data: bytes) -> str | None:
        """Look at one read; the error message once a response breaks the rules, else None."""
        position, size = 0, len(data)
        while position < size and not self.off:
            if self._left:
                step = min(self._left, size - position)
                if self._block is not None:
                    self._block += data[position : position + step]
                self._left -= step
                position += step
                if not self._left:
                    problem = self._payload_read()
                    if problem is not None:
                        return problem
                continue
            need = 9 - len(self._header)
            self._header += data[position : position + need]
            position += need
            if len(self._header) == 9:
                header, self._header = self._header, b""
                problem = self._frame(header)
                if problem is not None:
                    return problem
        return None

    def _frame(self, header: bytes) -> str | None:
        """A frame's header has been read; its payload (``_left`` bytes) follows."""
        length = int.from_bytes(header[:3], "big")
        kind, flags, stream = header[3], header[4], int.from_bytes(header[5:9], "big") & 0x7FFFFFFF
        if (self._block is not None and (kind != _H2_CONTINUATION or stream != self._stream)) or (
            kind == _H2_PUSH_PROMISE or (kind == _H2_CONTINUATION and self._block is None)
        ):
            self.off = True  # all refused by h2 (fetchcli's client disables push)
            return None
        if kind == _H2_HEADERS:
            self._block, self._flags, self._stream = bytearray(), flags, stream
        elif kind == _H2_CONTINUATION:
            self._flags |= flags & _END_HEADERS
        elif kind == _H2_RST_STREAM or (kind == _H2_DATA and flags & _END_STREAM):
            self._streams.pop(stream, None)
        if self._block is not None and len(self._block) + length > _H2_BLOCK_LIMIT:
            self.off = True
            return None
        self._kind, self._left = kind, length
        return None if length else self._payload_read()

    def _payload_read(self) -> str | None:
        kind, self._kind = self._kind, -1
        if self._block is None:
            return None
        if kind == _H2_HEADERS:
            fragment = _fragment(self._block, self._flags)
            if fragment is None:
                self.off = True  # padding longer than the frame: h2's to refuse
                return None
            self._block = fragment
        if not self._flags & _END_HEADERS:
            return None
        block, self._block = bytes(self._block), None
        try:
            fields = self._decoder.decode(block, raw=True)
        except Exception:  # noqa: BLE001 - hpack's errors: h2 decodes the same bytes and says why
            self.off = True
            return None
        return self._head(self._stream, [value for name, value in fields if name == b":status"], len(block))

    def _head(self, stream: int, statuses: list[bytes], size: int) -> str | None:
        """A whole header block of ``stream``, with the values of its ``:status`` fields."""
        streams = self._streams
        ends = bool(self._flags & _END_STREAM)
        if stream in streams and streams[stream] is None:  # the trailers
            if ends:
                del streams[stream]
            return None
        problem = _status_problem(statuses)
        if problem is not None:
            return _CLOSED + problem
        budget = streams.get(stream)
        if budget is None:
            if len(streams) >= _H2_STREAMS_KEPT:
                del streams[next(iter(streams))]  # the oldest: a stream given up long ago
            budget = streams[stream] = InformationalBudget()
        if not is_informational(int(statuses[0])):
            streams[stream] = None
            budget = None
        if ends:
            del streams[stream]
        problem = budget.spend(size) if budget is not None else None
        return None if problem is None else f"{_CLOSED}{problem} ahead of one response"


def _fragment(payload: bytearray, flags: int) -> bytearray | None:
    """A HEADERS frame's header block fragment: its payload less padding and priority fields."""
    start, end = 0, len(payload)
    if flags & _PADDED:
        if not payload:
            return None
        start, end = 1, end - payload[0]
    if flags & _PRIORITY:
        start += 5
    return payload[start:end] if start <= end else None


_CLOSED = "HTTP/2 connection closed: "  # every request on the connection has the error


def _status_problem(statuses: list[bytes]) -> str | None:
    """What is wrong with the ``:status`` fields of an HTTP/2 response's head, or None."""
    if not statuses:
        return "the server sent a response with no :status"
    if len(statuses) > 1:
        return "the server sent a response with more than one :status"
    value = statuses[0]
    if not _STATUS_DIGITS.fullmatch(value):
        return f"the server sent a response with an invalid :status {value[:16].decode('ascii', 'replace')!r}"
    status = int(value)
    if status == 101:
        return "the server sent a response with :status 101, which HTTP/2 does not have"
    if not 100 <= status <= 599:
        return f"the server sent a response with :status {status:03d}, outside 100-599"
    return None
