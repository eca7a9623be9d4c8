from __future__ import annotations

import gzip
import tracemalloc
import zlib
from collections.abc import AsyncIterator

import pytest

from fetchcli.engine.snippet import body_text, decode_text, read_body
from fetchcli.errors import BodyDecodingError
from fetchcli.text import sanitise


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def test_sanitise_removes_escapes_and_collapses_whitespace() -> None:
    text = "\x1b[31mred\x1b[0m \t\n  next\x07 \x9b2J\u202egnp.exe \x00end"
    cleaned = sanitise(text, 200)
    assert "\x1b" not in cleaned and "\x9b" not in cleaned and "\u202e" not in cleaned and "\x00" not in cleaned
    assert cleaned == "[31mred[0m next 2Jgnp.exe end"


def test_sanitise_cuts_to_length() -> None:
    assert sanitise("a" * 500, 80) == "a" * 80
    assert sanitise("   " * 2000 + "late text", 20) == "late text"


def test_charset_is_used_and_unknown_falls_back_to_utf8() -> None:
    assert decode_text("café".encode("latin-1"), "iso-8859-1") == "café"
    assert decode_text("café".encode(), "no-such-charset") == "café"
    assert decode_text(b"\xff\xff", None) == "\ufffd\ufffd"
    assert decode_text(b"abc", "rot13") == "abc"  # a str->str codec is not a charset


def test_binary_body_yields_no_raw_bytes() -> None:
    assert body_text(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "utf-8")[1]
    assert body_text(b"\x89PNG\0\0", None)[1]
    assert body_text(b"GIF89a\0\0", "iso-8859-1")[1]  # a single-byte charset keeps NULs


def test_the_declared_charset_decides_before_the_nul_test() -> None:
    assert body_text("café".encode("utf-16"), "utf-16") == ("café", False)
    assert body_text("café".encode("utf-16-le"), "utf-16le") == ("café", False)
    assert body_text("café".encode("utf-32"), None) == ("café", False)  # named by its byte-order mark
    assert body_text(b"   \n\t  ", None) == ("   \n\t  ", False)  # whitespace, but text
    assert sanitise("   \n\t  ", 80) == "" and sanitise("text", 0) == ""


@pytest.mark.anyio
async def test_read_body_stops_at_the_cap() -> None:
    body = await read_body(chunks(b"a" * 40, b"b" * 40, b"c" * 40), None, 50)
    assert body.data == b"a" * 40 + b"b" * 10
    assert not body.complete
    body = await read_body(chunks(b"a" * 40), None, 50)
    assert body.complete and body.data == b"a" * 40


@pytest.mark.anyio
async def test_gzip_bomb_inflates_no_further_than_the_cap() -> None:
    bomb = gzip.compress(b"\0" * (32 * 1024 * 1024))
    tracemalloc.start()
    try:
        body = await read_body(chunks(bomb), "gzip", 65536)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(body.data) == 65536 and not body.complete
    assert peak < 1024 * 1024  # 32 MiB inflated would show here


@pytest.mark.anyio
async def test_gzip_and_deflate_are_decoded() -> None:
    assert (await read_body(chunks(gzip.compress(b"hello")), "gzip", 100)).data == b"hello"
    assert (await read_body(chunks(zlib.compress(b"hello")), "deflate", 100)).data == b"hello"
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    raw_deflate = raw.compress(b"hello") + raw.flush()
    assert (await read_body(chunks(raw_deflate), "deflate", 100)).data == b"hello"


@pytest.mark.anyio
async def test_broken_gzip_is_a_decoding_error() -> None:
    with pytest.raises(BodyDecodingError):
        await read_body(chunks(b"not gzip at all"), "gzip", 100)


@pytest.mark.anyio
async def test_unrequested_encoding_is_not_inflated() -> None:
    body = await read_body(chunks(b"\x0b\x02\x80hello\x03"), "br", 100)
    assert body.data == b"\x0b\x02\x80hello\x03"


def test_summary_counts_every_failure_by_cause() -> None:
    from fetchcli.errortype import ErrorType
    from fetchcli.models import ErrorInfo, FetchResult
    from fetchcli.summary import Summary

    summary = Summary()
    for status in (200, 200, 404, 500, 301, 404):
        summary.add(FetchResult(index=0, url="u", ok=status < 400, status=status))
    for etype in (ErrorType.RemoteProtocolError, ErrorType.ConnectError):
        summary.add(FetchResult(index=0, url="u", ok=False, error=ErrorInfo(etype, "m")))
    summary.elapsed_s = 1.5
    assert (
        summary.describe() == "8 URLs: 3 ok, 5 failed (2 404, 1 500, 1 ConnectError, 1 RemoteProtocolError) in 1.50 s"
    )
    summary.unread = 1234
    assert summary.describe().endswith("; 1,234 URLs in the input left unread")
    summary.unread = -1
    assert summary.describe().endswith("; the input was not read to its end")


def test_sanitise_reads_only_what_it_needs_and_gives_what_cleaning_everything_gives() -> None:
    """sanitise cleans a growing window, not the whole text: the result must be the same as
    cleaning all of it (random texts full of controls, whitespace runs and invisible characters)."""
    import random

    from fetchcli.text import _CONTROL, _WHITESPACE, sanitise

    def reference(text: str, length: int) -> str:
        return _WHITESPACE.sub(" ", _CONTROL.sub("", text)).strip()[:length].rstrip()

    rng = random.Random(5)
    alphabet = ["a", "b", " ", "  ", "\n", "\t", "\x00", "\x1b", "\u200b", "\u202e", "\xa0", "é", "日", "\r\n"]
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 400)))
        if rng.random() < 0.2:
            text = " " * rng.randint(0, 300) + text  # a long blank start: the window must grow
        length = rng.choice([0, 1, 5, 80, 200])
        assert sanitise(text, length) == reference(text, length), (text, length)
