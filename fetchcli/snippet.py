"""Read a bounded prefix of a streamed body and turn it into a safe one-line snippet.

The body is read raw and decompressed here, not by httpx, so that a gzip bomb is cut at the
cap: ``zlib``'s ``max_length`` bounds every inflate call. Server text is untrusted, so control,
escape and bidi characters are removed before it can reach a terminal.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import html
import re
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]+")
_WHITESPACE = re.compile(r"\s+")
_BINARY_SNIFF_BYTES = 1024


class BodyDecodingError(Exception):
    """The body claimed an encoding (gzip, deflate) that its bytes do not follow."""


@dataclass(frozen=True, slots=True)
class Body:
    """At most ``max_bytes`` decoded bytes of a body; ``complete`` when its end was reached.
    Read whole (``--read-all``): ``size`` is every decoded byte and ``sha256`` their digest."""

    data: bytes
    complete: bool
    size: int | None = None
    sha256: str | None = None


class _Inflater:
    """gzip/deflate decompression that never produces more than it is asked for."""

    def __init__(self, encoding: str) -> None:
        self._gzip = encoding in ("gzip", "x-gzip")
        self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16 if self._gzip else zlib.MAX_WBITS)
        self._first = True

    def feed(self, chunk: bytes, room: int) -> bytes:
        try:
            return self._zlib.decompress(chunk, room)
        except zlib.error as exc:
            if self._first and not self._gzip:
                # Some servers send raw deflate without the zlib header (httpx tolerates it too).
                self._first = False
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                return self.feed(chunk, room)
            raise BodyDecodingError(f"invalid {'gzip' if self._gzip else 'deflate'} body: {exc}") from exc
        finally:
            self._first = False

    def drain(self, chunk: bytes, step: int = 1 << 16) -> Iterator[bytes]:
        """All the output of ``chunk``, ``step`` bytes at a time (memory stays bounded)."""
        out = self.feed(chunk, step)
        while True:
            yield out
            tail = self._zlib.unconsumed_tail
            if not tail:
                return
            out = self.feed(tail, step)

    def flush(self) -> bytes:
        try:
            return self._zlib.flush()
        except zlib.error as exc:
            raise BodyDecodingError(f"invalid {'gzip' if self._gzip else 'deflate'} body: {exc}") from exc


def _inflater_for(content_encoding: str | None) -> _Inflater | None:
    if not content_encoding:
        return None
    encoding = content_encoding.strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate"):
        return _Inflater(encoding)
    return None  # identity, or an encoding we did not ask for: shown as raw bytes, never inflated


async def read_body(
    raw_chunks: AsyncIterator[bytes], content_encoding: str | None, max_bytes: int, *, read_all: bool = False
) -> Body:
    """Read decoded bytes until ``max_bytes`` or the end of the body, whichever comes first.

    ``complete`` is True only when the body ended within the cap, i.e. the connection can be
    reused. The caller closes the response either way. With ``read_all``, read to the end
    however long, keeping the first ``max_bytes`` and hashing all (``--read-all``).
    """
    inflater = _inflater_for(content_encoding)
    if read_all:
        return await _read_all(raw_chunks, inflater, max_bytes)
    parts: list[bytes] = []
    size = 0
    async for chunk in raw_chunks:
        if inflater is not None:
            chunk = inflater.feed(chunk, max_bytes - size + 1)
        size += len(chunk)
        if size > max_bytes:
            parts.append(chunk[: len(chunk) - (size - max_bytes)])
            return Body(b"".join(parts), complete=False)
        parts.append(chunk)
    return Body(b"".join(parts), complete=True)


async def _read_all(raw_chunks: AsyncIterator[bytes], inflater: _Inflater | None, max_bytes: int) -> Body:
    digest = hashlib.sha256()
    kept: list[bytes] = []
    size = 0

    def take(data: bytes) -> None:
        nonlocal size
        if size < max_bytes:
            kept.append(data[: max_bytes - size])
        size += len(data)
        digest.update(data)

    async for chunk in raw_chunks:
        for data in inflater.drain(chunk) if inflater is not None else (chunk,):
            take(data)
    if inflater is not None:
        take(inflater.flush())
    return Body(b"".join(kept), complete=True, size=size, sha256=digest.hexdigest())


# UTF-32 before UTF-16: the UTF-16 LE mark is a prefix of the UTF-32 LE one.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def text_encoding(data: bytes, charset: str | None) -> str:
    """The codec to read a body with: its declared charset when Python knows it, else the one its
    byte-order mark names, else UTF-8."""
    if charset:
        with contextlib.suppress(LookupError):
            return codecs.lookup(charset).name
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name
    return "utf-8"


def decode_text(data: bytes, charset: str | None) -> str:
    """Decode with the response's charset (see ``text_encoding``); never raises."""
    encoding = text_encoding(data, charset)
    try:
        return data.decode(encoding, errors="replace")
    except Exception:  # noqa: BLE001 - codecs such as 'rot13' are not bytes->str; fall back rather than fail
        return data.decode("utf-8", errors="replace")


def looks_binary(text: str) -> bool:
    """A NUL in the first KiB of the *decoded* text: UTF-16 text has NUL bytes but no NUL
    characters, while a PNG read as UTF-8 or Latin-1 keeps its NULs."""
    return "\x00" in text[:_BINARY_SNIFF_BYTES]


def sanitise(text: str, length: int) -> str:
    """First ``length`` characters with controls removed and whitespace runs made one space."""
    if text.isprintable() and "  " not in text and len(text) <= length and text == text.strip():
        return text  # the common case (reason phrases, content types, URLs): nothing to remove
    # Only as much text as the result needs: a window a little longer than ``length``, grown
    # fourfold while cleaning it leaves too few characters (controls and runs of whitespace
    # shrink it) and there is more text.
    window = 2 * length + 16
    while True:
        head = text[:window]
        if head.isprintable() and "  " not in head:
            cleaned = head.strip()
        else:
            cleaned = _WHITESPACE.sub(" ", _CONTROL.sub("", head)).strip()
        if len(cleaned) > length or window >= len(text):
            return cleaned[:length].rstrip()
        window *= 4


_TITLE_OPEN = re.compile(r"<title\b", re.IGNORECASE)
_TITLE_CLOSE = re.compile(r"</title\s*>", re.IGNORECASE)
_TITLE_WINDOW = 32768  # a title is in the head of a page: only these first characters are read


def html_title(text: str, redact: Callable[[str], str] | None = None) -> str | None:
    """The page's ``<title>``, entities decoded, ``redact`` applied (before it is cut to length)
    and sanitised; None when there is none.

    What ``<title\\b[^>]*>(.*?)</title\\s*>`` would find in the window, found in one pass: the
    first opening tag, its ``>``, then the first closing tag after it. If the first opening tag
    has no closing tag after it, no later one has either, so nothing is tried again (the single
    regex retried ``.*?`` from every ``<title>`` of a hostile page: quadratic, 2 s per 64 KiB)."""
    if "<" not in text:
        return None
    end = min(len(text), _TITLE_WINDOW)
    opening = _TITLE_OPEN.search(text, 0, end)
    if opening is None:
        return None
    start = text.find(">", opening.end(), end) + 1
    if not start:
        return None
    closing = _TITLE_CLOSE.search(text, start, end)
    if closing is None:
        return None
    title = html.unescape(text[start : closing.start()])
    return clean_line(redact(title) if redact is not None else title, 500)


def body_text(data: bytes, charset: str | None) -> tuple[str, bool]:
    """``(text, is_binary)``: the body decoded with its declared charset first (see
    ``text_encoding``), then judged; the snippet, the title and ``--expect-*`` read that text."""
    text = decode_text(data, charset)
    return text, looks_binary(text)


def clean_line(text: str, length: int = 500) -> str:
    """Sanitise any other server- or OS-supplied string (reason phrase, error message)."""
    return sanitise(text, length)
