"""Review round 4: a declared charset cannot make fetchcli do superlinear work.

``Content-Type: text/html; charset=punycode`` with a body of ``-kkk…`` made Python's punycode
decoder (pure Python, superlinear: 64 KiB took 1.1-1.3 s of CPU, 128 KiB 4-11 s) run on the event
loop, so ``-m 1 --deadline 3`` over ten such URLs took over 4 s, every record ``ok`` with an
``elapsed_ms`` near 4 s. Only the character sets of ``snippet._CHARSETS`` (C decoders, linear)
are used; any other name is read as an unknown charset is (byte-order mark, else UTF-8).
"""

from __future__ import annotations

import asyncio
import codecs
import json
import random
import sys
import time
from collections.abc import Iterator

import pytest

from fetchcli.engine import snippet
from fetchcli.settings import Backend
from tests.helpers import fetchcli_in_clean_env
from tests.server import _SmallServer

PUNYCODE_BOMB = b"-" + b"k" * (65536 - 1)  # 64 KiB: the decoder's worst case found so far


class CharsetBomb(_SmallServer):
    """HTTP/1.1 answering every request with ``PUNYCODE_BOMB`` declared as charset=punycode."""

    name = "test-charset-bomb"

    def __init__(self) -> None:
        super().__init__()
        self.requests = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=punycode\r\nContent-Length: %d\r\n\r\n"
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                self.requests += 1
                writer.write(head % len(PUNYCODE_BOMB) + PUNYCODE_BOMB)
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
def charset_bomb() -> Iterator[CharsetBomb]:
    srv = CharsetBomb().start()
    try:
        yield srv
    finally:
        srv.stop()


# Bytes built against each kind of decoder: escapes (utf-7, the *-escape codecs, iso2022, hz),
# punycode's worst case, high bytes (error handling), random bytes.
_ADVERSARIAL = [
    PUNYCODE_BOMB,
    b"+" + b"A" * 65535,
    b"+-" * 32768,
    b"\\u" * 32768,
    b"\\N{" * 21845,
    b"\x1b$B" * 21845,
    b"~{" * 32768,
    b"xn--" + b"a" * 65532,
    b"\xff" * 65536,
    random.Random(4).randbytes(65536),
]


def test_a_pathological_charset_costs_no_more_than_an_unknown_one() -> None:
    """Decoding 64 KiB declared as punycode took over a second of CPU; now it is read as UTF-8
    (the rule for an unknown charset), in milliseconds. The bound is CPU time and generous."""
    started = time.process_time()
    text = snippet.decode_text(PUNYCODE_BOMB, "punycode")
    spent = time.process_time() - started
    assert text == PUNYCODE_BOMB.decode()
    assert spent < 0.5, f"{spent:.2f} s of CPU"


@pytest.mark.parametrize(
    "name",
    ["punycode", "idna", "unicode_escape", "raw_unicode_escape", "undefined", "charmap", "rot13", "hex", "base64",
     "zlib", "bz2", "uu", "quopri", "mbcs", "x-no-such", "utf-8\x00"],
)  # fmt: skip
def test_names_that_are_not_charsets_read_as_an_unknown_charset(name: str) -> None:
    """Not a page's character set (or not a text encoding at all): the byte-order mark, else
    UTF-8, decides, as for a name Python does not know."""
    assert snippet.text_encoding(b"caf\xc3\xa9", name) == "utf-8"
    assert snippet.text_encoding("café".encode("utf-16"), name) == "utf-16"
    assert snippet.decode_text(b"caf\xc3\xa9 \\u0041 +AEE-", name) == "café \\u0041 +AEE-"


def test_every_charset_allowed_is_a_text_encoding_of_this_python() -> None:
    for name in snippet._CHARSETS:
        info = codecs.lookup(name)
        assert info.name == name and info._is_text_encoding, name
        assert snippet.text_encoding(b"", name) == name


def test_common_labels_of_allowed_charsets_are_honoured() -> None:
    latin = "café".encode("latin-1")
    for label in ("ISO-8859-1", "latin1", "windows-1252", "cp1252", "Shift_JIS", "euc-jp", "gb2312", "utf-7", "koi8-r"):
        assert snippet.text_encoding(latin, label) == codecs.lookup(label).name
    assert snippet.decode_text(latin, "windows-1252") == "café"
    assert snippet.decode_text("日本".encode("shift_jis"), "Shift_JIS") == "日本"


def test_every_charset_allowed_does_linear_work_on_bytes_built_against_it() -> None:
    """Each allowed codec on each 64 KiB adversarial body: the slowest measured is ~16 ms of CPU
    (the Thai and Greek code pages on 0xFF, one replacement per byte); punycode took ~1.1 s. The
    bound per decode is generous for a busy machine and still fails far below punycode's cost.
    Every decode returns text (none raises with errors='replace')."""
    slowest = (0.0, "", b"")
    for name in sorted(snippet._CHARSETS):
        for data in _ADVERSARIAL:
            started = time.process_time()
            text = snippet.decode_text(data, name)
            spent = time.process_time() - started
            assert isinstance(text, str)
            slowest = max(slowest, (spent, name, data[:8]))
    assert slowest[0] < 0.25, f"{slowest[1]} took {slowest[0]:.2f} s of CPU on {slowest[2]!r}…"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX test of a subprocess run")
def test_the_deadline_holds_against_a_charset_built_to_be_slow(charset_bomb: CharsetBomb, backend: Backend) -> None:
    """Ten such URLs with ``-c 10 -m 1 --deadline 3`` took over 4 s, every record ok with an
    elapsed_ms near 4 s (the decodes ran one after another on the event loop). Twenty here, so
    that even at 0.3 s a decode (a fast machine) the old code passes the deadline by far.
    Generous bounds (a busy CI machine): each URL is ok, timed well within the deadline."""
    urls = [f"http://127.0.0.1:{charset_bomb.port}/bomb/{i}" for i in range(20)]
    started = time.monotonic()
    done = fetchcli_in_clean_env(
        "--backend", backend.value, "-m", "1", "--deadline", "3", "-c", "20", "-f", "jsonl", *urls
    )
    took = time.monotonic() - started
    assert "Traceback" not in done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert took < 15, f"the run took {took:.1f} s"
    assert sorted(r["index"] for r in records) == list(range(20))
    assert charset_bomb.requests <= 20
    assert max(r["elapsed_ms"] for r in records) < 3000, sorted(r["elapsed_ms"] for r in records)
    for record in records:
        assert record["ok"] and record["status"] == 200, record["error"]
        assert record["snippet"].startswith("-kkk") and record["bytes_read"] == len(PUNYCODE_BOMB)
