"""The HTTP rules of ``protocol.py`` on HTTP/2 (the httpx backend): each response's head has
exactly one ``:status``, three digits, 100-599 and not 101, and the informational heads of a
stream are bounded as on HTTP/1.1 (``protocol.InformationalBudget``): ``Http2Responses`` follows
the frames an HTTP/2 connection reads (``netbackend.py``).
"""

from __future__ import annotations

import re

from fetchcli.transport.protocol import InformationalBudget, is_informational

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
