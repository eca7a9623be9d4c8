from __future__ import annotations

import io
import itertools
from collections.abc import Iterator

import pytest

from fetchcli.urls import MAX_URL_LENGTH, iter_all, iter_binary_lines, iter_items, normalise_url


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("example.com/x", "https://example.com/x"),
        ("http://example.com", "http://example.com"),
        ("HTTPS://Example.com/a?b=c#d", "HTTPS://Example.com/a?b=c#d"),
        ("localhost:8080/x", "https://localhost:8080/x"),
        ("127.0.0.1:8080", "https://127.0.0.1:8080"),
        ("//example.com/p", "https://example.com/p"),
        ("http://[::1]:8080/", "http://[::1]:8080/"),
        ("http://user:pw@example.com/", "http://user:pw@example.com/"),
        ("https://bücher.de/", "https://bücher.de/"),
        ("http://my_host.internal/", "http://my_host.internal/"),
    ],
)
def test_valid_urls_are_normalised(text: str, expected: str) -> None:
    item = normalise_url(text, 3)
    assert item.error is None
    assert item.url == expected
    assert item.index == 3


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("ftp://example.com/file", "unsupported scheme 'ftp'"),
        ("file:///etc/passwd", "unsupported scheme 'file'"),
        ("javascript:alert(1)", "unsupported scheme 'javascript'"),
        ("mailto:someone@example.com", "unsupported scheme 'mailto'"),
        ("http:example.com", "no '//'"),
        ("http://exa mple.com/", "whitespace"),
        ("http://example.com/\x00", "control character (U+0000)"),
        ("http://example.com/\x1b[31m", "control character (U+001B)"),
        ("http://", "no host"),
        ("http://exa<mple.com/", "invalid host"),
        ("http://example.com:99999/", "invalid port"),
        ("http://example.com:abc/", "invalid port"),
        ("http://[::zz]/", "invalid IPv6"),
        ("http://" + "a" * 64 + ".com/", "too long"),
        ("http://example.com/" + "a" * MAX_URL_LENGTH, f"longer than {MAX_URL_LENGTH}"),
        ("http://caf\ufffd.com/", "not valid UTF-8"),
    ],
)
def test_invalid_urls_become_items_with_errors(text: str, fragment: str) -> None:
    item = normalise_url(text, 0)
    assert item.url is None
    assert item.error is not None
    assert item.error.type == "InvalidURL"
    assert fragment in item.error.message
    assert len(item.raw) <= 203  # an over-long input is not echoed whole


def test_blank_lines_comments_bom_and_crlf() -> None:
    data = b"\xef\xbb\xbfexample.com/a\r\n\r\n# a comment\r\n   \r\n  http://example.org/b  \r\n#x\nc.example"
    items = list(iter_items(iter_binary_lines(io.BytesIO(data))))
    assert [i.url for i in items] == ["https://example.com/a", "http://example.org/b", "https://c.example"]
    assert [i.index for i in items] == [0, 1, 2]


def test_indexes_continue_across_sources() -> None:
    items = list(iter_all([["a.example", "#skip"], ["b.example", "ftp://c"]]))
    assert [(i.index, i.error is None) for i in items] == [(0, True), (1, True), (2, False)]


def test_sources_are_lazy() -> None:
    pulled = 0

    def endless() -> Iterator[str]:
        nonlocal pulled
        for n in itertools.count():
            pulled += 1
            yield f"host{n}.example"

    first = list(itertools.islice(iter_items(endless()), 5))
    assert len(first) == 5
    assert pulled == 5


def test_over_long_line_is_bounded_and_reported() -> None:
    class CountingStream(io.BytesIO):
        largest = 0

        def readline(self, size: int | None = -1) -> bytes:
            line = super().readline(size)
            CountingStream.largest = max(CountingStream.largest, len(line))
            return line

    data = b"http://example.com/" + b"x" * 5_000_000 + b"\nexample.org\n"
    items = list(iter_items(iter_binary_lines(CountingStream(data))))
    assert len(items) == 2
    assert items[0].error is not None and "longer than" in items[0].error.message
    assert items[1].url == "https://example.org"
    assert CountingStream.largest <= 65536
