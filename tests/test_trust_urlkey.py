"""Issue 18 item 6: one normalisation of a URL (``fetchcli.engine.urlkey``), shared by ``--unique``,
``--shard`` and the state file: spellings of one resource are one URL."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from fetchcli.engine.selection import Selection
from fetchcli.engine.urlkey import input_key, key_hash, normalise, url_hash, url_key
from fetchcli.urls import iter_items
from tests.server import LoopbackServer

FETCHCLI = [sys.executable, "-m", "fetchcli"]

# (input line, its key): one row per rule of "A URL's key" in docs/large-runs.md.
RULES = [
    ("HTTP://localhost/", "http://localhost/"),  # scheme case
    ("http://LOCALHOST/", "http://localhost/"),  # host case
    ("http://localhost/#top", "http://localhost/"),  # fragment
    ("http://127.0.0.1:80/", "http://127.0.0.1/"),  # default port, http
    ("https://example.com:443/a", "https://example.com/a"),  # default port, https
    ("https://example.com:0443/a", "https://example.com/a"),  # leading zeros of a port
    ("http://example.com:443/", "http://example.com:443/"),  # not http's default: kept
    ("https://example.com:8443/", "https://example.com:8443/"),
    ("http://example.com", "http://example.com/"),  # empty path
    ("http://example.com?q=1", "http://example.com/?q=1"),  # empty path before a query
    ("example.com/x", "https://example.com/x"),  # a missing scheme, as the input rule adds it
    ("http://127.1/", "http://127.0.0.1/"),  # an IPv4 address in any form, dotted
    ("http://2130706433/", "http://127.0.0.1/"),
    # Kept as written, as both backends send them (review of issue 18, finding 6): IPv6 addresses
    # (Host: [0:0:0::1]), percent-escapes in their case, escaped unreserved characters and dots.
    ("http://[0:0:0::1]:80/", "http://[0:0:0::1]/"),
    ("http://[2001:DB8::1]/", "http://[2001:DB8::1]/"),
    ("http://example.com/a%2fb", "http://example.com/a%2fb"),
    ("http://example.com/%7euser/%41%2D", "http://example.com/%7euser/%41%2D"),
    ("http://example.com/?q=%e2%82%ac", "http://example.com/?q=%e2%82%ac"),
    ("http://example.com/%aF%Fa", "http://example.com/%aF%Fa"),
    ("http://example.com/%25", "http://example.com/%25"),  # an escaped '%' stays escaped
    ("http://example.com/a/%2E%2E/b", "http://example.com/a/%2E%2E/b"),  # not a dot segment
    ("http://example.com/a/.%2e/b", "http://example.com/a/.%2e/b"),
    ("http://example.com/a/%2E/b", "http://example.com/a/%2E/b"),
    ("http://example.com/é?q=€", "http://example.com/%C3%A9?q=%E2%82%AC"),  # non-ASCII encoded
    ("http://example.com/é%2f/../x", "http://example.com/x"),  # encoded, then dot segments
    ("http://example.com/%c3%a9", "http://example.com/%c3%a9"),  # not é: sent in its own case
    ("http://bücher.example/", "http://xn--bcher-kva.example/"),  # IDNA
    ("http://BÜCHER.example/", "http://xn--bcher-kva.example/"),
    ("http://xn--bcher-kva.EXAMPLE/", "http://xn--bcher-kva.example/"),
    ("http://example.com/a/./b/../c", "http://example.com/a/c"),  # dot segments
    ("http://example.com/a/..", "http://example.com/"),
    ("http://example.com/a/b/..", "http://example.com/a"),  # no trailing slash, as both backends send it
    ("http://example.com/a/.", "http://example.com/a"),
    ("http://example.com/.well-known/x", "http://example.com/.well-known/x"),
    ("http://User:PaSS@Example.com/", "http://User:PaSS@example.com/"),  # credentials kept as given
    ("http://example.com/a/", "http://example.com/a/"),  # kept: a trailing slash
    ("http://example.com/a", "http://example.com/a"),
    ("http://example.com/?b=1&a=2", "http://example.com/?b=1&a=2"),  # kept: parameters' order
    ("http://example.com/?", "http://example.com/?"),  # kept: an empty query
    ("http://example.com./", "http://example.com./"),  # kept: a trailing dot
    ("http://example.com/A", "http://example.com/A"),  # kept: the case of the path
]


@pytest.mark.parametrize(("text", "key"), RULES, ids=[text for text, _ in RULES])
def test_each_rule_of_the_normalisation(text: str, key: str) -> None:
    assert input_key(text) == key
    assert url_key(key) == key  # a key is its own key


@pytest.mark.parametrize(
    "url",
    [key for _, key in RULES]
    + [text for text, _ in RULES]
    + [
        "http://h:80/",
        "https://h:80/",
        "http://h:443/",
        "https://h:443/",
        "http://h:8080/a?b=/./c",
        "http://h/a?x=1#f",
        "http://h/a/../",
        "http://h:08/",
        "http://u@h/",
        "http://h/é",
        "http://h/%41",
        "http://h/?q",
        "https://h/a/b.c/.d",
    ],
)
def test_the_shortcut_for_a_url_that_is_its_own_key_agrees(url: str) -> None:
    assert url_key(url) == normalise(url)


def test_the_issues_five_spellings_are_one_url() -> None:
    spellings = ["HTTP://localhost/", "http://LOCALHOST/", "http://localhost/#top"]
    assert {input_key(text) for text in spellings} == {"http://localhost/"}
    assert {input_key(text) for text in ["http://127.0.0.1:80/", "http://127.0.0.1/"]} == {"http://127.0.0.1/"}


def test_an_invalid_line_is_its_own_key() -> None:
    assert input_key("ftp://Example.com/") == "ftp://Example.com/"
    assert url_key("not a url") == "not a url"


def test_the_shard_hash_is_the_hash_of_the_key_pinned() -> None:
    """The shard of a URL is ``url_hash`` of its key; pinned, so a change to the key (which moves
    URLs between shards) is a conscious one, in the CHANGELOG."""
    assert url_hash("https://example.com/") == 1493557592560457051
    for spelling in ("https://example.com/", "HTTPS://Example.COM:443/#x", "example.com", "https://example.com"):
        assert key_hash(input_key(spelling)) == 1493557592560457051


def test_spellings_of_one_url_land_in_one_shard_and_unique_keeps_the_first() -> None:
    spellings = [
        "http://Example.com/a",
        "http://example.com:80/a",
        "HTTP://example.com/a#f",
        "http://example.com/./a",
    ]
    items = list(iter_items(spellings * 3))
    for n in (2, 3, 7):
        owners = [k for k in range(1, n + 1) if Selection(shard=(k, n))(items[0])]
        assert len(owners) == 1
        chosen = Selection(shard=(owners[0], n))
        assert all(chosen(item) for item in items)
    unique = Selection(unique=True)
    assert [item.index for item in items if unique(item)] == [0] and unique.duplicates == 11


def test_unique_on_the_command_line_fetches_one_spelling_once(server: LoopbackServer) -> None:
    port = server.port
    spellings = [
        f"http://127.0.0.1:{port}/ok/key",
        f"HTTP://127.0.0.1:{port}/ok/key",
        f"http://127.0.0.1:{port}/ok/key#top",
        f"http://127.1:{port}/ok/key",
        f"http://127.0.0.1:0{port}/ok/key",
        f"http://127.0.0.1:{port}/ok/./key",
    ]
    before = server.stats.paths.count("/ok/key")
    done = subprocess.run([*FETCHCLI, "--unique", "--summary", *spellings], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["index"] for line in done.stdout.splitlines()] == [0]
    assert "5 repeated URLs left out (--unique)" in done.stderr
    assert server.stats.paths.count("/ok/key") - before == 1
