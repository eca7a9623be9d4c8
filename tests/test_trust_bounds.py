"""Issue 17: work a server can make fetchcli do, bounded.

A page built to make the ``<title>`` search quadratic (64 KiB of ``<title>`` cost 2 s of CPU per
URL, blocking the event loop, so ``--deadline`` did not hold).
"""

from __future__ import annotations

import asyncio
import html
import json
import random
import re
import time
from collections.abc import Iterator

import pytest

from fetchcli import request, snippet
from fetchcli.settings import Backend
from tests.helpers import fetchcli_in_clean_env, run
from tests.server import LoopbackServer, _SmallServer

TITLE_BOMB = b"<title>" * (65536 // 7)  # 64 KiB: every <title> opens, none closes


class TitleBomb(_SmallServer):
    """HTTP/1.1 answering every request with ``TITLE_BOMB`` as text/html; counts requests."""

    name = "test-title-bomb"

    def __init__(self) -> None:
        super().__init__()
        self.requests = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n" % len(TITLE_BOMB)
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                self.requests += 1
                writer.write(head + TITLE_BOMB)
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
def title_bomb() -> Iterator[TitleBomb]:
    srv = TitleBomb().start()
    try:
        yield srv
    finally:
        srv.stop()


def test_title_search_does_linear_work_on_pages_built_against_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """CPU time, not a count: ``re`` exposes no step counter. The window is widened to 128 KiB so
    that the quadratic search would cost about 16 times its 2 s (tens of seconds); the linear one
    takes milliseconds, so the 1 s bound is generous on a loaded machine and fails by far before."""
    monkeypatch.setattr(snippet, "_TITLE_WINDOW", 128 * 1024)
    size = 128 * 1024
    pages = [
        "<title>" * (size // 7),  # openings, no closing: each retried to the end
        "<title" * (size // 6),  # openings without their '>'
        "<TiTlE x=1>" + "</title " * (size // 8),  # closings that never end with '>'
        "<title>" + "a" * (size // 2) + "</title>",  # a legitimate but enormous title
    ]
    started = time.process_time()
    found = [snippet.html_title(page) for page in pages]
    spent = time.process_time() - started
    assert found[:3] == [None, None, None]
    assert found[3] == "a" * 500
    assert spent < 1.0, f"{spent:.2f} s of CPU for four 128 KiB pages"


def _title_by_the_old_regex(text: str) -> str | None:
    match = re.compile(r"<title\b[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL).search(text, 0, 32768)
    return None if match is None else snippet.clean_line(html.unescape(match.group(1)), 500)


def test_the_title_found_is_the_one_the_single_regex_found() -> None:
    """The linear search finds what ``<title\\b[^>]*>(.*?)</title\\s*>`` found, on pages made of
    the pieces that matter (seeded, so every run tries the same pages)."""
    pieces = ["<title>", "<TITLE lang=x>", "</title>", "</TiTle  >", "</title", "<titles>", "<title", ">"]
    pieces += ["a", "&amp;", " ", "\n", "<", "é", "\x1b"]
    rng = random.Random(17)
    for _ in range(5000):
        page = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 14)))
        assert snippet.html_title(page) == _title_by_the_old_regex(page), repr(page)
    assert snippet.html_title("<html><TITLE lang=en>Caf&eacute;\n  x</TITLE>") == "Café x"


def test_elapsed_ms_counts_the_work_on_the_body_text(
    server: LoopbackServer, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A title that takes 0.3 s to find is in the URL's elapsed_ms (it was left out)."""
    find = snippet.html_title

    def slow_title(text: str) -> str | None:
        time.sleep(0.3)
        return find(text)

    monkeypatch.setattr(request, "html_title", slow_title)
    [result] = run([server.url("/html")], backend=backend)
    assert result.ok and result.title is not None and result.title.startswith("Café &")
    assert result.elapsed_ms is not None and result.elapsed_ms >= 300


def test_the_deadline_holds_against_pages_built_to_be_slow(title_bomb: TitleBomb, backend: Backend) -> None:
    """20 such pages with ``-m 1 --deadline 3`` ran 29.7 s (all ok): the event loop was blocked.
    The bounds below are generous (a busy CI machine): the run ends long before 20 x 1.5 s."""
    urls = [f"http://127.0.0.1:{title_bomb.port}/bomb/{i}" for i in range(20)]
    started = time.monotonic()
    done = fetchcli_in_clean_env("--backend", backend.value, "-m", "1", "--deadline", "3", "-f", "jsonl", *urls)
    took = time.monotonic() - started
    assert "Traceback" not in done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert took < 15, f"the run took {took:.1f} s"
    assert sorted(r["index"] for r in records) == list(range(20))
    assert title_bomb.requests <= 20
    # The server answers at once, so with the work on each page bounded every URL is done well
    # within its -m 1 and the deadline: ok, timed as such. (Before, either all were ok after 30 s,
    # elapsed_ms growing by 1.5 s a URL, or the deadline cut the run late and cancelled the rest.)
    for record in records:
        assert record["ok"] and record["status"] == 200, record
        assert record["title"] is None and record["bytes_read"] == len(TITLE_BOMB)
        assert record["elapsed_ms"] < 3000
