"""Review of issue 20's transport contract (r20): what a server receives is the same on both
backends for requests the direct aiohttp path once sent differently: every repeat of a header
whose name comes in more than one spelling, and no Content-Type that no one asked for. Each
server here is a loopback socket server that keeps each request head as it came."""

from __future__ import annotations

import socket

import pytest

from fetchcli.errortype import ErrorType
from fetchcli.settings import Backend, RequestSettings, Settings
from tests.helpers import run
from tests.server import LoopbackServer
from tests.test_trust_protocol import RawServer, raw_server


def _heads(server: RawServer) -> list[list[tuple[str, str]]]:
    return server.heads  # type: ignore[attr-defined, no-any-return]


def _keep_heads(server: RawServer, conn: socket.socket, number: int) -> None:
    """Answer every request with 200 "ok", keeping its header lines (name, value) in order."""
    if not hasattr(server, "heads"):
        server.heads = []  # type: ignore[attr-defined]
    data = b""
    while True:
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        head, _, data = data.partition(b"\r\n\r\n")
        fields = head.decode("latin-1").split("\r\n")[1:]
        _heads(server).append([(name, value.strip()) for name, _, value in (f.partition(":") for f in fields)])
        server.send(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


def _values(head: list[tuple[str, str]], name: str) -> list[str]:
    return [value for key, value in head if key.lower() == name]


@pytest.mark.live
def test_every_repeat_of_a_header_spelled_in_another_case_is_sent(backend: Backend) -> None:
    """aiohttp keeps only the last repeat of a name spelled differently (-H 'X-A: 1' -H 'x-a: 3'
    sent 'x-a: 3' alone on the default backend); every value goes, in order, as on httpx."""
    given = (("X-A", "1"), ("X-A", "2"), ("x-a", "3"), ("Cookie", "a=1"), ("cookie", "b=2"))
    settings = Settings(request=RequestSettings(headers=given))
    with raw_server(_keep_heads) as server:
        [result] = run([server.url("/x")], settings, backend=backend)
    assert result.ok
    [head] = _heads(server)
    assert _values(head, "x-a") == ["1", "2", "3"]
    assert _values(head, "cookie") == ["a=1", "b=2"]


@pytest.mark.live
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
def test_a_request_without_a_body_carries_no_content_type(backend: Backend, method: str) -> None:
    """aiohttp added 'Content-Type: application/octet-stream' to a POST, PUT or PATCH; httpx adds
    none. A Content-Type the user gives is still sent."""
    plain = Settings(request=RequestSettings(method=method))
    given = Settings(request=RequestSettings(method=method, headers=(("Content-Type", "text/plain"),)))
    with raw_server(_keep_heads) as server:
        [first] = run([server.url("/a")], plain, backend=backend)
        [second] = run([server.url("/b")], given, backend=backend)
    assert first.ok and second.ok
    heads = _heads(server)
    assert [_values(head, "content-type") for head in heads] == [[], ["text/plain"]]
    assert [_values(head, "content-length") for head in heads] == [["0"], ["0"]]


@pytest.mark.live
def test_a_redirect_to_a_host_idna_cannot_decode_is_not_followed(server: LoopbackServer, backend: Backend) -> None:
    """``xn--a.com`` parses, but its A-label does not decode: as an input URL it is InvalidURL
    and nothing is sent; as a redirect's target it is InvalidRedirect, not looked up."""
    settings = Settings(request=RequestSettings(follow_redirects=True))
    [result] = run([server.url("/location?to=http%3A%2F%2Fxn--a.com%2F")], settings, backend=backend)
    assert result.error is not None and result.error.type == ErrorType.InvalidRedirect, result.error
    assert "Codepoint" in result.error.message and [hop.status for hop in result.redirects] == [302]
    [direct] = run(["http://xn--a.com/"], settings, backend=backend)
    assert direct.error is not None and direct.error.type == ErrorType.InvalidURL and direct.attempts == 0
