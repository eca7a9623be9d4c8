"""Response and exception -> record mapping, with respx standing in for the network."""

from __future__ import annotations

import errno
import re
import socket
import ssl
from collections.abc import AsyncIterator

import httpx
import pytest
import respx

from fetchcli.errors import ERROR_TYPES, classify
from fetchcli.settings import RequestSettings, Settings
from fetchcli.transport.contract import WireHeaders, WireResponse
from fetchcli.transport.httpxwire import own_failure
from fetchcli.transport.wireurl import parse
from tests.helpers import run_httpx as run


@respx.mock
def test_response_fields() -> None:
    respx.get("https://example.test/page").respond(
        200, headers={"Content-Type": "text/html; charset=utf-8"}, content=b"<h1>Hello</h1>\n\n  world"
    )
    [result] = run(["example.test/page"])
    assert result.ok and result.status == 200 and result.reason == "OK"
    assert result.url == "https://example.test/page"
    assert result.final_url == "https://example.test/page"
    assert result.http_version == "HTTP/1.1"
    assert result.content_type == "text/html; charset=utf-8"
    assert result.content_length == len(b"<h1>Hello</h1>\n\n  world")
    assert result.bytes_read == result.content_length
    assert result.snippet == "<h1>Hello</h1> world"
    assert result.error is None and not result.truncated
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", result.fetched_at)
    assert result.elapsed_ms is not None and result.elapsed_ms >= 0


@respx.mock
def test_status_400_and_above_is_not_ok_but_a_redirect_is() -> None:
    respx.get("https://a.test/").respond(404)
    respx.get("https://b.test/").respond(301, headers={"Location": "https://c.test/"})
    respx.get("https://d.test/").respond(503)
    results = run(["a.test/", "b.test/", "d.test/"])
    assert [(r.status, r.ok) for r in results] == [(404, False), (301, True), (503, False)]
    assert results[1].final_url == "https://b.test/"
    assert all(r.error is None for r in results)


@respx.mock
def test_follow_redirects() -> None:
    respx.get("https://a.test/").respond(302, headers={"Location": "/next"})
    respx.get("https://a.test/next").respond(301, headers={"Location": "https://b.test/end"})
    respx.get("https://b.test/end").respond(200, text="arrived")
    [result] = run(["https://a.test/"], Settings(request=RequestSettings(follow_redirects=True)))
    assert result.status == 200 and result.final_url == "https://b.test/end" and result.snippet == "arrived"


@respx.mock
def test_redirect_limit() -> None:
    respx.get("https://a.test/loop").respond(302, headers={"Location": "/loop"})
    [result] = run(["https://a.test/loop"], Settings(request=RequestSettings(follow_redirects=True, max_redirects=3)))
    assert not result.ok and result.error is not None
    assert result.error.type == "TooManyRedirects"
    assert respx.calls.call_count == 4


@respx.mock
def test_redirect_to_non_http_scheme() -> None:
    respx.get("https://a.test/").respond(302, headers={"Location": "file:///etc/passwd"})
    [result] = run(["https://a.test/"], Settings(request=RequestSettings(follow_redirects=True)))
    assert result.error is not None and result.error.type == "UnsupportedRedirect"


def _caused(exc: Exception, cause: BaseException) -> Exception:
    exc.__cause__ = cause
    return exc


_EMFILE = OSError(errno.EMFILE, "Too many open files")


class _Group(Exception):
    """Like an ExceptionGroup (anyio's happy eyeballs raises one), on Python 3.10 too."""

    def __init__(self, *exceptions: BaseException) -> None:
        super().__init__("all connection attempts failed")
        self.exceptions = exceptions


def wired(exc: Exception) -> Exception:
    """``exc`` as the httpx wire raises it: fetchcli's own class, from httpx's."""
    ours = own_failure(exc)
    if ours is None:
        return exc
    ours.__cause__ = exc
    return ours


@pytest.mark.parametrize(
    ("exc", "name"),
    [
        (
            _caused(httpx.ConnectError("All connection attempts failed"), ConnectionRefusedError(111, "no")),
            "ConnectionRefused",
        ),
        (_caused(httpx.ConnectError("lookup failed"), socket.gaierror(-2, "Name or service not known")), "DNSError"),
        (
            _caused(httpx.ConnectError("tls"), ssl.SSLCertVerificationError(1, "certificate verify failed")),
            "CertificateError",
        ),
        (_caused(httpx.ConnectError("tls"), ssl.SSLError(1, "wrong version number")), "TLSError"),
        (_caused(httpx.ConnectError("x"), _EMFILE), "TooManyOpenFiles"),
        (_caused(httpx.ReadError("x"), _EMFILE), "TooManyOpenFiles"),
        (
            _caused(httpx.ConnectError("x"), _Group(ConnectionRefusedError(111, "no"))),
            "ConnectionRefused",
        ),
    ],
)
def test_the_cause_of_a_failure_is_read_from_the_chain(exc: Exception, name: str) -> None:
    info = classify(wired(exc))
    assert info.type == name and info.type in ERROR_TYPES
    assert info.message


@pytest.mark.parametrize(
    ("exc", "name"),
    [
        (httpx.ConnectError("no route"), "ConnectError"),
        (httpx.WriteTimeout(""), "WriteTimeout"),
        (httpx.PoolTimeout(""), "PoolTimeout"),
        (httpx.ReadError(""), "ReadError"),
        (httpx.ProxyError("bad proxy"), "ProxyError"),
        (ValueError("something odd"), "Unexpected"),
        (httpx.LocalProtocolError("bad request"), "Unexpected"),
        (httpx.ConnectTimeout(""), "ConnectTimeout"),
        (httpx.ReadTimeout(""), "ReadTimeout"),
        (httpx.RemoteProtocolError("illegal status line"), "RemoteProtocolError"),
    ],
)
@respx.mock
def test_exceptions_become_error_records(exc: Exception, name: str) -> None:
    respx.get("https://a.test/").mock(side_effect=exc)
    respx.get("https://b.test/").respond(200)
    results = run(["a.test/", "b.test/"])
    assert results[0].error is not None
    assert results[0].error.type == name
    assert results[0].error.message  # never empty, even when httpx's is
    assert not results[0].ok and results[0].status is None
    assert results[1].ok  # the rest of the run is unaffected


@respx.mock
def test_method_headers_and_user_agent() -> None:
    route = respx.request("HEAD", "https://a.test/").respond(200)
    settings = Settings(
        request=RequestSettings(
            method="HEAD", headers=(("X-Token", "abc"), ("Accept", "text/plain")), user_agent="probe/1"
        )
    )
    [result] = run(["a.test/"], settings)
    assert result.ok
    request = route.calls.last.request
    assert request.method == "HEAD"
    assert request.headers["x-token"] == "abc"
    assert request.headers["accept"] == "text/plain"
    assert request.headers["user-agent"] == "probe/1"
    assert request.headers["accept-encoding"] == "gzip, deflate"


@respx.mock
def test_default_user_agent_names_fetchcli() -> None:
    route = respx.get("https://a.test/").respond(200)
    run(["a.test/"])
    assert route.calls.last.request.headers["user-agent"].startswith("fetchcli/")


@respx.mock
def test_invalid_input_makes_no_request_and_keeps_its_place() -> None:
    respx.get("https://ok.test/").respond(200)
    results = run(["ftp://x.test/", "ok.test/", "http://bad host/"])
    assert [r.index for r in results] == [0, 1, 2]
    assert [r.error.type if r.error else None for r in results] == ["InvalidURL", None, "InvalidURL"]
    assert respx.calls.call_count == 1


def test_host_that_idna_rejects_is_invalid() -> None:
    [result] = run(["http://xn--a.test/"])
    assert result.error is not None and result.error.type == "InvalidURL"


@respx.mock
def test_server_strings_are_sanitised() -> None:
    respx.get("https://a.test/").respond(
        200, headers={"Content-Type": "text/plain\x1b[31m"}, content=b"\x1b]0;pwned\x07hello \x1b[2J[bold]x[/bold]"
    )
    [result] = run(["a.test/"])
    assert "\x1b" not in result.snippet and "\x07" not in result.snippet
    assert result.content_type is not None and "\x1b" not in result.content_type
    assert "[bold]x[/bold]" in result.snippet  # markup is kept as text; the table never interprets it


@respx.mock
def test_cookies_do_not_leak_between_urls() -> None:
    respx.get("https://a.test/").respond(200, headers={"Set-Cookie": "session=secret; Path=/"})
    later = respx.get("https://a.test/later").respond(200)
    settings = Settings(concurrency=1)
    run(["https://a.test/", "https://a.test/later"], settings)
    assert "cookie" not in later.calls.last.request.headers


def test_record_headers_read_as_httpx_reads_them() -> None:
    """request._headers_read (one pass) gives what Headers.get gives: repeats joined, any case,
    the header set's own encoding."""
    from fetchcli.engine.records import _charset, _headers_read

    raw = [(b"Server", b"a"), (b"content-TYPE", b"text/html; Charset=latin-1"), (b"SERVER", b"b"), (b"X", b"\xe9")]
    response = httpx.Response(200, headers=raw)
    ours = WireHeaders(raw)
    found = _headers_read(WireResponse(parse("http://a.test/"), 200, "OK", "HTTP/1.1", ours, _NoBody()))
    for name in (b"server", b"content-type", b"content-length"):
        assert found.get(name) == response.headers.get(name.decode()) == ours.get(name.decode())
    assert ours.encoding == response.headers.encoding
    assert _charset(found.get(b"content-type")) == response.charset_encoding == "latin-1"
    plain = httpx.Response(200, headers=[(b"Content-Type", b"text/plain")])
    assert _charset("text/plain") is None and plain.charset_encoding is None


class _NoBody:
    async def __aiter__(self) -> AsyncIterator[bytes]:
        return
        yield b""

    async def aclose(self) -> None:
        return None
