"""Review of issue 18, findings 6 and 7: two URLs have one key (``--unique``, ``--shard``,
``--resume``) only if both backends send one request for them, as a loopback server sees it; an
unterminated IPv6 bracket is an ``InvalidURL`` at input time, never mangled; and a key is its
own key for every valid URL."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import random
import socket
from collections.abc import Iterator

import pytest

from fetchcli.engine.selection import Selection
from fetchcli.engine.urlkey import input_key, normalise, url_key
from fetchcli.settings import Backend, Settings
from fetchcli.urls import iter_items, normalise_url
from tests.helpers import collect

# (spelling, spelling, one request on both backends?): HOST is the loopback server's 127.0.0.1:port.
PAIRS = [
    ("http://HOST/a/%2E%2E/b", "http://HOST/b", False),  # an escaped dot is no dot segment
    ("http://HOST/a/%2e%2e/b", "http://HOST/a/%2E%2E/b", False),
    ("http://HOST/a/.%2E/b", "http://HOST/b", False),
    ("http://HOST/a/%2E/b", "http://HOST/a/b", False),
    ("http://HOST/%7Euser", "http://HOST/~user", False),  # escaped unreserved characters: sent so
    ("http://HOST/%41", "http://HOST/A", False),
    ("http://HOST/?q=%7e", "http://HOST/?q=~", False),
    ("http://HOST/a%2fb", "http://HOST/a%2Fb", False),  # an escape's case: sent as written
    ("http://HOST/%c3%a9", "http://HOST/%C3%A9", False),
    ("http://HOST/é", "http://HOST/%C3%A9", True),  # non-ASCII: encoded by both, in upper case
    ("http://HOST/?q=é", "http://HOST/?q=%C3%A9", True),
    ("http://HOST/a/./b/../c", "http://HOST/a/c", True),  # dot segments: resolved by both
    ("http://HOST/a/b/..", "http://HOST/a", True),  # a last '..': no trailing slash (RFC 3986: /a/)
    ("http://HOST/a/b/..", "http://HOST/a/", False),
    ("http://HOST/a/.", "http://HOST/a", True),
    ("HTTP://HOST/x", "http://HOST/x", True),  # scheme case
    ("http://HOST/x#top", "http://HOST/x", True),  # the fragment is never sent
    ("http://127.0.0.1:0PORT/x", "http://HOST/x", True),  # a port's leading zero
    ("http://HOST", "http://HOST/", True),  # an empty path
    ("http://HOST/A", "http://HOST/a", False),  # the path's case
    ("http://HOST/?", "http://HOST/", False),  # an empty query: aiohttp drops it, httpx sends it
]


class _Recorder:
    """A loopback server answering 200 to every request, recording its request line and Host."""

    def __init__(self, family: socket.AddressFamily = socket.AF_INET) -> None:
        self.seen: list[tuple[str, str]] = []
        self.family = family

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        host = next((line.split(":", 1)[1].strip() for line in head if line.lower().startswith("host:")), "")
        self.seen.append((head[0], host))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    async def requests(self, urls: list[str], backend: Backend, *, proxy: bool = False) -> list[tuple[str, str]]:
        """The request each URL made, one URL after the other (one connection each); with
        ``proxy``, the server is every URL's HTTP proxy (so that any host name can be asked for)."""
        host = "::1" if self.family == socket.AF_INET6 else "127.0.0.1"
        server = await asyncio.start_server(self._handle, host, 0, family=self.family)
        port = server.sockets[0].getsockname()[1]
        settings = dataclasses.replace(Settings(concurrency=1), backend=backend)
        if proxy:
            request = dataclasses.replace(settings.request, proxy=f"http://127.0.0.1:{port}")
            settings = dataclasses.replace(settings, request=request)
        made = []
        async with server:
            for url in urls:
                self.seen.clear()
                url = url.replace("HOST", "127.0.0.1:PORT").replace("PORT", str(port))
                [result] = await collect([url], settings)
                assert result.ok, (url, result.error)
                assert len(self.seen) == 1
                line, host_header = self.seen[0]
                made.append((line, host_header.replace(str(port), "PORT")))
        return made


@pytest.mark.live
@pytest.mark.parametrize(("first", "second", "same"), PAIRS, ids=[f"{a}|{b}" for a, b, _ in PAIRS])
def test_one_key_only_for_one_request_on_both_backends(first: str, second: str, same: bool) -> None:
    sent = {
        backend: asyncio.run(_Recorder().requests([first, second], backend))
        for backend in (Backend.aiohttp, Backend.httpx)
    }
    assert all(a == b for a, b in sent.values()) == same, sent  # what the backends send: the table is true
    assert (_key(first) == _key(second)) == same


def _key(text: str) -> str:
    return input_key(text.replace("HOST", "127.0.0.1:PORT").replace("PORT", "8080"))


# Host names no resolver knows, asked of an HTTP proxy (absolute-form request line and Host).
PROXIED = [
    ("http://BÜCHER.example/", "http://xn--bcher-kva.example/", True),  # IDNA, host case
    ("http://bücher.example/", "http://xn--bcher-kva.EXAMPLE/", True),
    ("http://example.com:80/", "http://example.com/", True),  # the default port
    ("http://example.com:080/", "http://example.com/", True),
    ("http://example.com./x", "http://example.com/x", False),  # a trailing dot of the host: kept
    ("http://example.com/?", "http://example.com/", False),  # an empty query: httpx sends it
]


@pytest.mark.live
@pytest.mark.parametrize(("first", "second", "same"), PROXIED, ids=[f"{a}|{b}" for a, b, _ in PROXIED])
def test_one_key_only_for_one_request_through_a_proxy(first: str, second: str, same: bool) -> None:
    sent = {
        backend: asyncio.run(_Recorder().requests([first, second], backend, proxy=True))
        for backend in (Backend.aiohttp, Backend.httpx)
    }
    assert all(a == b for a, b in sent.values()) == same, sent
    assert (input_key(first) == input_key(second)) == same


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.live
@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback")
@pytest.mark.parametrize(
    ("first", "second"), [("http://[0:0::1]:PORT/x", "http://[::1]:PORT/x"), ("http://[::A]:1/", "http://[::a]:1/")]
)
def test_an_ipv6_address_is_kept_as_written(first: str, second: str) -> None:
    """Both backends send the ``Host`` of an IPv6 address as written: two spellings, two keys."""
    if "PORT" in first:
        for backend in (Backend.aiohttp, Backend.httpx):
            a, b = asyncio.run(_Recorder(socket.AF_INET6).requests([first, second], backend))
            assert a[0] == b[0] and a[1] != b[1]  # one request line, another Host
    assert _key(first) != _key(second)


# Finding 7: an unterminated IPv6 bracket ----------------------------------------------------------


@pytest.mark.parametrize("text", ["http://[::1:8080/x", "http://[::80/x", "http://[::1/", "https://u:p@[::2:8080/"])
def test_an_unterminated_ipv6_bracket_is_invalid_at_input_time(text: str) -> None:
    """Before: valid in --dry-run and for --unique (key ``http://[::]:8080/x``, so that
    ``http://[::2:8080/x`` was dropped as its repeat), then ``Invalid port`` when fetched."""
    item = normalise_url(text, 0)
    assert item.url is None and item.error is not None
    assert item.error.type == "InvalidURL" and "unterminated IPv6 address" in item.error.message
    assert url_key(text) == text  # never mangled, as a key either


def test_unique_keeps_two_unterminated_brackets_apart() -> None:
    items = list(iter_items(["http://[::1:8080/x", "http://[::2:8080/x", "http://[::80/x"]))
    unique = Selection(unique=True)
    assert [item.index for item in items if unique(item)] == [0, 1, 2]
    assert all(item.error is not None for item in items)


# key(key(u)) == key(u) -------------------------------------------------------------------------

_SCHEMES = ["http", "HTTP", "https", "HttpS"]
_USERS = ["", "u@", "U:P@", "%41@", "é@"]
_HOSTS = ["example.com", "EXAMPLE.com", "127.1", "0x7f.1", "[::1]", "[0:0::1]", "[::A]", "bücher.example", "xn--bcher-kva.EXAMPLE", "h.", "[::1", "[::1:8080", "[::80"]  # fmt: skip
_PORTS = ["", ":80", ":443", ":080", ":0443", ":8080", ":", ":00080"]
_SEGMENTS = [".", "..", "%2E", "%2e%2E", ".%2E", "a", "%7e", "é", "", "%41", "b;c", "%25", "~", "%c3%a9", "%", "%G1"]
_QUERIES = ["", "?", "?a=%7e&b=é", "?./..", "?a=/./b/../c", "?%2E%2E"]
_FRAGMENTS = ["", "#", "#x", "#a/../b"]


def _tricky(count: int) -> Iterator[str]:
    rng = random.Random(18_06_07)
    for _ in range(count):
        path = "".join("/" + rng.choice(_SEGMENTS) for _ in range(rng.randint(0, 5)))
        parts = [_USERS, _HOSTS, _PORTS]
        user, host, port = (rng.choice(part) for part in parts)
        yield f"{rng.choice(_SCHEMES)}://{user}{host}{port}{path}{rng.choice(_QUERIES)}{rng.choice(_FRAGMENTS)}"
    for host, port in itertools.product(_HOSTS, _PORTS):
        yield f"http://{host}{port}/a/%2E%2E/./b/.."


def test_a_key_is_its_own_key_for_every_valid_url() -> None:
    valid = 0
    for text in _tricky(20_000):
        item = normalise_url(text, 0)
        if item.url is None:
            assert input_key(text) == item.raw.strip()  # an invalid line is its own key (masked)
            continue
        valid += 1
        key = url_key(item.url)
        assert url_key(key) == key, (text, key)
        assert normalise(key) == key and normalise(item.url) == key, text  # and the shortcut agrees
        again = normalise_url(key, 0)
        assert again.url is not None and url_key(again.url) == key, (text, key)  # a key is a valid URL
    assert valid > 5_000
