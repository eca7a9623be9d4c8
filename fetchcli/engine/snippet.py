"""Read a bounded prefix of a streamed body and turn it into a safe one-line snippet.

The body is read raw and decompressed here, not by httpx, so that a gzip bomb is cut at the
cap: ``zlib``'s ``max_length`` bounds every inflate call. Server text is untrusted, so control,
escape and bidi characters are removed before it can reach a terminal.
"""

from __future__ import annotations

import codecs
import hashlib
import html
import re
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

from fetchcli.errors import BodyDecodingError
from fetchcli.frozen import quick_builder
from fetchcli.text import clean_line

_BINARY_SNIFF_BYTES = 1024


@dataclass(frozen=True, slots=True)
class Body:
    """At most ``max_bytes`` decoded bytes of a body; ``complete`` when its end was reached.
    Read whole (``--read-all``): ``size`` is every decoded byte and ``sha256`` their digest."""

    data: bytes
    complete: bool
    size: int | None = None
    sha256: str | None = None


_new_body = quick_builder(Body)  # built once per URL: at a plain dataclass's cost (frozen.py)


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
    raw_chunks: AsyncIterator[bytes],
    content_encoding: str | None,
    max_bytes: int,
    *,
    read_all: bool = False,
    parts: list[bytes] | None = None,
    sink: Callable[[bytes], None] | None = None,
) -> Body:
    """Read decoded bytes until ``max_bytes`` or the end of the body, whichever comes first.

    ``complete`` is True only when the body ended within the cap, i.e. the connection can be
    reused. The caller closes the response either way. With ``read_all``, read to the end
    however long, keeping the first ``max_bytes`` and hashing all (``--read-all``). ``parts``:
    the caller's list the kept bytes are put in as they come (what arrived before a read was
    cut short, for ``TotalTimeout``). ``sink`` (``--save``): read to the end as ``read_all``,
    every decoded byte handed to it as it comes (it may raise to stop the read).
    """
    inflater = _inflater_for(content_encoding)
    if parts is None:
        parts = []
    if read_all or sink is not None:
        return await _read_all(raw_chunks, inflater, max_bytes, parts, sink)
    size = 0
    async for chunk in raw_chunks:
        if inflater is not None:
            chunk = inflater.feed(chunk, max_bytes - size + 1)
        size += len(chunk)
        if size > max_bytes:
            parts.append(chunk[: len(chunk) - (size - max_bytes)])
            return _new_body(b"".join(parts), complete=False)
        parts.append(chunk)
    return _new_body(b"".join(parts), complete=True)


async def _read_all(
    raw_chunks: AsyncIterator[bytes],
    inflater: _Inflater | None,
    max_bytes: int,
    kept: list[bytes],
    sink: Callable[[bytes], None] | None = None,
) -> Body:
    digest = hashlib.sha256()
    size = 0

    def take(data: bytes) -> None:
        nonlocal size
        if size < max_bytes:
            kept.append(data[: max_bytes - size])
        size += len(data)
        digest.update(data)
        if sink is not None:
            sink(data)

    async for chunk in raw_chunks:
        for data in inflater.drain(chunk) if inflater is not None else (chunk,):
            take(data)
    if inflater is not None:
        take(inflater.flush())
    return _new_body(b"".join(kept), complete=True, size=size, sha256=digest.hexdigest())


# UTF-32 before UTF-16: the UTF-16 LE mark is a prefix of the UTF-32 LE one.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_BOM_STARTS = tuple(bom for bom, _ in _BOMS)


# The character sets a declared charset may name (Python's canonical codec names): Unicode, the
# single-byte code pages (C's charmap_decode) and the CJK multibyte ones (C), all linear. Left out
# on purpose, as if unknown: codecs that are not a page's character set, some of them slow on
# crafted bytes (punycode is pure Python and superlinear: 64 KiB of ``-kkk…`` took over a second),
# idna, unicode-escape, raw-unicode-escape, charmap, undefined, bytes-to-bytes codecs (base64, zlib,
# rot13, …), Windows' locale-dependent mbcs/oem, and any codec a library registers.
_CHARSETS = frozenset(
    """
    utf-8 utf-8-sig utf-16 utf-16-be utf-16-le utf-32 utf-32-be utf-32-le utf-7 ascii
    iso8859-1 iso8859-2 iso8859-3 iso8859-4 iso8859-5 iso8859-6 iso8859-7 iso8859-8 iso8859-9
    iso8859-10 iso8859-11 iso8859-13 iso8859-14 iso8859-15 iso8859-16 tis-620
    cp037 cp273 cp424 cp437 cp500 cp720 cp737 cp775 cp850 cp852 cp855 cp856 cp857 cp858 cp860
    cp861 cp862 cp863 cp864 cp865 cp866 cp869 cp874 cp875 cp1006 cp1026 cp1125 cp1140
    cp1250 cp1251 cp1252 cp1253 cp1254 cp1255 cp1256 cp1257 cp1258
    koi8-r koi8-t koi8-u kz1048 ptcp154 hp-roman8 palmos mac-arabic mac-croatian mac-cyrillic
    mac-farsi mac-greek mac-iceland mac-latin2 mac-roman mac-romanian mac-turkish
    big5 big5hkscs cp932 cp949 cp950 euc_jis_2004 euc_jisx0213 euc_jp euc_kr gb18030 gb2312 gbk
    hz iso2022_jp iso2022_jp_1 iso2022_jp_2 iso2022_jp_2004 iso2022_jp_3 iso2022_jp_ext iso2022_kr
    johab shift_jis shift_jis_2004 shift_jisx0213
    """.split()  # noqa: SIM905 - a block of names reads better than a hundred quoted ones
)


def _known_charset(charset: str) -> str | None:
    """The canonical name of a declared charset if it is one of ``_CHARSETS``, else None."""
    try:
        name = codecs.lookup(charset).name
    except (LookupError, ValueError):  # ValueError: a name with a NUL in it
        return None
    return name if name in _CHARSETS else None


def text_encoding(data: bytes, charset: str | None) -> str:
    """The codec to read a body with: its declared charset when it is a character set fetchcli
    decodes (``_CHARSETS``), else the one its byte-order mark names, else UTF-8."""
    if charset:
        name = _known_charset(charset)
        if name is not None:
            return name
    if data.startswith(_BOM_STARTS):  # one look for the common case, a body without a mark
        for bom, name in _BOMS:
            if data.startswith(bom):
                return name
    return "utf-8"


def decode_text(data: bytes, charset: str | None) -> str:
    """Decode with the response's charset (see ``text_encoding``); never raises."""
    return data.decode(text_encoding(data, charset), errors="replace")


def looks_binary(text: str) -> bool:
    """A NUL in the first KiB of the *decoded* text: UTF-16 text has NUL bytes but no NUL
    characters, while a PNG read as UTF-8 or Latin-1 keeps its NULs."""
    return "\x00" in text[:_BINARY_SNIFF_BYTES]


_TITLE_OPEN = re.compile(r"<title\b", re.IGNORECASE)
_TITLE_CLOSE = re.compile(r"</title\s*>", re.IGNORECASE)
TITLE_WINDOW = 32768  # a title is in the head of a page: only these first characters are read


def html_title(text: str, redact: Callable[[str], str] | None = None, window: int = TITLE_WINDOW) -> str | None:
    """The page's ``<title>``, entities decoded, ``redact`` applied (before it is cut to length)
    and sanitised; None when there is none.

    What ``<title\\b[^>]*>(.*?)</title\\s*>`` would find in the window, found in one pass: the
    first opening tag, its ``>``, then the first closing tag after it. If the first opening tag
    has no closing tag after it, no later one has either, so nothing is tried again (the single
    regex retried ``.*?`` from every ``<title>`` of a hostile page: quadratic, 2 s per 64 KiB)."""
    if "<" not in text:
        return None
    end = min(len(text), window)
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
