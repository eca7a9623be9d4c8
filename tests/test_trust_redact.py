"""Secrets a server repeats, URLs that mean one host to fetchcli and another to a browser, and
messages that quote what they should not (issue 17, security review of its fixes). Loopback
servers only: one written here that repeats the credentials it was sent (in a garbage status line,
or in a 407's reason phrase, headers, title and body, as a proxy or an echo service may), and
the test server's /location and /headers."""

from __future__ import annotations

import asyncio
import base64
import json
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from fetchcli.engine.servertext import ServerText
from fetchcli.redact import MASK, Redactor, mask_input, secret_forms
from fetchcli.settings import Backend, BodySettings, RequestSettings, Settings
from fetchcli.urls import normalise_url
from tests.helpers import fetchcli_in_clean_env as fetchcli
from tests.helpers import run
from tests.server import LoopbackServer, _SmallServer, running_server

ECHOED = ("authorization", "proxy-authorization", "x-api-key")


class EchoingServer(_SmallServer):
    """Answers every request with the credentials it was sent (``Authorization``,
    ``Proxy-Authorization``, ``X-Api-Key``), and what a ``Basic`` one decodes to, in brackets:
    ``garbage``: in a status line that is not HTTP; ``407``: in a 407's reason phrase, its
    ``Server`` header, its page's title and its body (a proxy asked for an http:// URL, or an
    echo service). Counts the requests it was sent."""

    name = "test-echoing-server"

    def __init__(self, answer: str) -> None:
        super().__init__()
        self.answer = answer
        self.requests = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        self.requests += 1
        echoed = b" ".join(_echo(line) for line in head.split(b"\r\n")[1:] if _echoed(line))
        try:
            if self.answer == "garbage":
                writer.write(b"HTTP/1.1 GARBAGE " + echoed + b"\r\n\r\n")
            else:
                page = b"<html><head><title>" + echoed + b"</title></head><body>" + echoed + b"</body></html>"
                writer.write(
                    b"HTTP/1.1 407 " + echoed + b"\r\nServer: " + echoed + b"\r\nContent-Type: text/html\r\n"
                    b"Content-Length: " + str(len(page)).encode() + b"\r\nConnection: close\r\n\r\n" + page
                )
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()


def _echoed(line: bytes) -> bool:
    return line.partition(b":")[0].strip().lower().decode("latin-1") in ECHOED


def _echo(line: bytes) -> bytes:
    value = line.partition(b":")[2].strip()
    scheme, _, credentials = value.partition(b" ")
    if scheme.lower() == b"basic":
        return value + b" [" + base64.b64decode(credentials) + b"]"
    return value


@contextmanager
def echoing(answer: str) -> Iterator[EchoingServer]:
    server = EchoingServer(answer).start()
    try:
        yield server
    finally:
        server.stop()


def _basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def _hidden(text: str) -> str:
    """``text`` with every byte percent-encoded: a query that shows nothing of it."""
    return "".join(f"%{byte:02X}" for byte in text.encode())


def _leaks(texts: str, *secrets: str) -> list[str]:
    return [secret for secret in secrets if secret in texts]


# 1. Escaped and encoded forms of a known secret: a garbage status line is quoted with repr (h11:
# bytearray(b'...'); aiohttp: the repr of a message that quotes the bytes), and a URL's user
# information is sent as Basic credentials.

PASSWORDS = [  # (as written in the URL, as sent)
    ("PX%5Csecret", "PX\\secret"),
    ("PX%C3%A4secret", "PXäsecret"),
    ("PX%27se%22cret", "PX'se\"cret"),
    ("URLsecret5", "URLsecret5"),
]


def test_every_spelling_of_a_secret_is_known() -> None:
    assert secret_forms("PX\\secret") >= {"PX\\secret", "PX\\\\secret", "PX\\\\\\\\secret"}
    assert secret_forms("PXäsecret") >= {"PXäsecret", "PX\\xc3\\xa4secret", "PX\\\\xc3\\\\xa4secret"}
    assert secret_forms("PX'se\"cret") >= {"PX'se\"cret", "PX\\'se\"cret"}
    assert secret_forms("plain-token") == {"plain-token"}  # nothing to escape: one spelling
    redact = Redactor.for_request(RequestSettings(), "http://alice:URLsecret5@h/")
    assert redact(f"Basic {_basic('alice', 'URLsecret5')} [alice:URLsecret5]") == f"{MASK} [alice:{MASK}]"
    assert Redactor(["ab"])("ab cab") == "ab cab"  # shorter than 3 characters: not looked for


@pytest.mark.parametrize(("written", "sent"), PASSWORDS, ids=["backslash", "utf8", "quotes", "plain"])
@pytest.mark.live
def test_a_password_echoed_in_a_garbage_status_line_is_masked(backend: Backend, written: str, sent: str) -> None:
    """As the URL's password, and as a proxy's (the absolute-form request of an http:// URL)."""
    with echoing("garbage") as server:
        origin = f"http://alice:{written}@127.0.0.1:{server.port}/"
        proxied = ["--proxy", f"http://alice:{written}@127.0.0.1:{server.port}", "http://127.0.0.1:9/"]
        for args in ([origin], proxied):
            done = fetchcli("--backend", backend.value, "-f", "csv", "--fields", "url,error.type,error.message", *args)
            assert done.returncode == 1, done.stderr
            assert "RemoteProtocolError" in done.stdout and MASK in done.stdout, done.stdout
            escaped = [form for form in secret_forms(sent)]
            assert _leaks(done.stdout + done.stderr, *escaped, _basic("alice", sent), "secret", "cret") == []
        assert server.requests == 2


# 2. Server text: a proxy's 407 to an http:// URL repeats its Proxy-Authorization, an echo
# service the request's headers. The record's reason, server, title and snippet mask them.


@pytest.mark.parametrize("form", ["jsonl", "json", "csv", "tsv", "table"])
@pytest.mark.live
def test_a_proxy_repeating_its_credentials_is_masked_in_every_field(backend: Backend, form: str) -> None:
    with echoing("407") as proxy:
        args = ["--backend", backend.value, "-f", form, "--proxy", f"http://alice:PXsecret9@127.0.0.1:{proxy.port}"]
        if form in ("csv", "tsv"):
            args += ["--fields", "url,status,reason,server,title,snippet,content_type"]
        done = fetchcli(*args, "--snippet-length", "400", "http://127.0.0.1:9/page", env={"COLUMNS": "400"})
    assert done.returncode == 1, done.stderr
    assert "407" in done.stdout and MASK in done.stdout
    assert _leaks(done.stdout + done.stderr, "PXsecret9", _basic("alice", "PXsecret9"), "PXsec") == []
    if form == "jsonl":
        record = json.loads(done.stdout)
        for field in ("reason", "server", "title"):
            assert record[field] == f"{MASK} [alice:{MASK}]", (field, record[field])
        assert f"<body>{MASK} [alice:{MASK}]</body>" in record["snippet"]


def test_an_echo_service_repeating_the_request_headers_is_masked(server: LoopbackServer, backend: Backend) -> None:
    """httpbin's /headers: the request's secret headers and URL credentials in the body."""
    headers = (("Authorization", "Bearer ECHO-TOKEN-1"), ("X-Api-Key", "ECHO-KEY-22"), ("X-Visible", "shown-3"))
    settings = Settings(request=RequestSettings(headers=headers), body=BodySettings(snippet_length=2000))
    tag = backend.value
    urls = [
        server.url(f"/headers?echo-{tag}"),
        server.url(f"/headers?creds-{tag}").replace("//", "//alice:ECHO-PASS-4@"),
    ]
    results = run(urls, settings, backend=backend)
    assert [r.status for r in results] == [200, 200]
    assert server.stats.headers_seen[f"/headers?echo-{tag}"]["x-api-key"] == "ECHO-KEY-22"  # they were sent
    for result in results:
        shown = json.dumps(result.to_dict())
        assert _leaks(shown, "ECHO-TOKEN-1", "ECHO-KEY-22", "ECHO-PASS-4", _basic("alice", "ECHO-PASS-4")) == []
        assert "shown-3" in result.snippet and f"x-api-key: {MASK}" in result.snippet.lower()


def test_a_secret_is_masked_before_the_snippet_is_cut() -> None:
    redact = Redactor(["SECRET-TOKEN-0123456789"])
    text = "x" * 70 + "SECRET-TOKEN-0123456789" + " tail"
    shown = ServerText(redact)
    assert shown.snippet(text, 80) == "x" * 70 + MASK + " tail"
    assert shown.snippet(text, 75) == "x" * 70 + MASK + " t"  # cut after masking: no piece of it
    long_body = "y" * 500 + " SECRET-TOKEN-0123456789" * 1000
    assert "SECRET" not in shown.snippet(long_body, 600)
    assert redact.head("ab SECRET-TOKEN-0123456789 cd", 5) == "ab ***"  # begun before the end: masked whole
    assert ServerText(Redactor()).snippet(text, 80) == text[:80]  # no secrets: as before


def test_a_redirect_repeating_a_secret_in_its_url_is_masked(server: LoopbackServer, backend: Backend) -> None:
    """The token is in no URL given: the server's Location puts it there (every byte of the
    input's query is percent-encoded)."""
    request = RequestSettings(follow_redirects=True, headers=(("Authorization", "Bearer LOC-TOKEN-77"),))
    hidden = _hidden("/location?to=/ok?t=LOC-TOKEN-77")
    [result] = run([server.url(f"/location?to={hidden}")], Settings(request=request), backend=backend)
    assert result.ok, result.error
    assert result.final_url is not None and result.final_url.endswith(f"/ok?t={MASK}")
    assert [hop.url.endswith(f"/location?to=/ok?t={MASK}") for hop in result.redirects] == [False, True]
    assert "LOC-TOKEN" not in json.dumps(result.to_dict())


# 3. A backslash in the authority: browsers read it as '/', httpx and aiohttp do not.


@pytest.fixture(scope="module")
def two_origins() -> Iterator[LoopbackServer]:
    with running_server(extra_hosts=("127.0.0.2",)) as srv:
        yield srv


def test_a_backslash_in_the_authority_is_an_invalid_url(two_origins: LoopbackServer, backend: Backend) -> None:
    port = two_origins.port
    url = f"http://u:S3CRETpw@127.0.0.2:{port}\\@127.0.0.1:{port}/backslash"
    before = two_origins.stats.requests
    for args in (["-f", "jsonl"], ["--dry-run"], ["-f", "table"]):
        done = fetchcli("--backend", backend.value, *args, url, f"http://127.0.0.1:{port}\\x/", env={"COLUMNS": "300"})
        assert done.returncode == 1, done.stderr
        assert done.stdout.count("InvalidURL") == 2
        if args[1:] == ["jsonl"]:
            messages = [json.loads(line)["error"]["message"] for line in done.stdout.splitlines()]
            assert all(message.startswith("URL has a '\\' before its path") for message in messages)
        # Nothing of the password either reading gives: 'S3CRETpw' (a browser's),
        # 'S3CRETpw@127.0.0.2:PORT\' (httpx's).
        assert _leaks(done.stdout + done.stderr, "S3CRET", f"{port}\\@") == [], done.stdout
    assert two_origins.stats.requests == before
    assert normalise_url("http://h/a\\b", 0).error is None  # in the path: the server's business
    assert mask_input(url) == f"http://u:{MASK}@127.0.0.1:{port}/backslash"
    assert (
        mask_input("http://u:p\\ss@h/") == f"http://u:{MASK}@h/"
        and mask_input("http://t\\ok@h/") == f"http://{MASK}@h/"
    )


# 3 (redirects), 4 and 6: a Location -L cannot follow, whatever it carries, quoted masked.


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("http://u:LOCPW1@127.0.0.2:{port}\\@127.0.0.1:{port}/b", "'\\' before its path"),
        ("\\\\127.0.0.2:{port}/b", "'\\' before its path"),
        ("/\\127.0.0.2:{port}/b", "'\\' before its path"),
        ("http:\\\\127.0.0.2:{port}/b", "'\\' before its path"),
        ("http://user:LOCSECRET@h:abc/", "Location is not a URL: 'http://user:***@h:abc/'"),
        ("http://LOCSECRETTOKEN@[::1/", "Location is not a URL: 'http://***@[::1/'"),
        ("http:///nohost", "no host: 'http:///nohost'"),
        ("http://", "no host"),
        ("//", "no host"),
        ("///x", "no host"),
        ("http://LOCUSER@:{port}/", "no host: 'http://***@:"),
    ],
)
def test_a_location_that_cannot_be_followed_is_an_invalid_redirect(
    two_origins: LoopbackServer, backend: Backend, location: str, message: str
) -> None:
    port = two_origins.port
    location = location.format(port=port)
    url = two_origins.url("/location?to=" + _hidden(location))
    before = two_origins.stats.requests
    [result] = run([url], Settings(request=RequestSettings(follow_redirects=True)), backend=backend)
    assert two_origins.stats.requests == before + 1  # the redirect itself, nothing after it
    assert result.error is not None and result.error.type == "InvalidRedirect", result.error
    assert message.format(port=port) in result.error.message
    assert _leaks(json.dumps(result.to_dict()), "LOCPW1", "LOCSECRET", "LOCUSER") == []


def test_a_location_without_a_host_is_quoted_as_the_cli_shows_it(two_origins: LoopbackServer) -> None:
    done = fetchcli("-L", "-f", "csv", "--fields", "error.type,error.message",
                    two_origins.url("/location?to=" + urllib.parse.quote("http:///nohost", safe="")))  # fmt: skip
    assert done.returncode == 1
    assert done.stdout.splitlines()[1].startswith("InvalidRedirect,")


# 5. A malformed -H: nothing of it repeated.


@pytest.mark.parametrize("header", ["Authorization Basic HSECRET:pw", "Authorization=Bearer HSECRET:x", "X-Ä: HSECRET"])
def test_a_malformed_header_is_not_repeated(header: str) -> None:
    for args, env in ((["-H", header], {}), ([], {"FETCHCLI_HEADER": header})):
        done = fetchcli(*args, "http://127.0.0.1:9/", env=env)
        assert done.returncode == 2 and done.stdout == ""
        assert "invalid header name: character" in done.stderr, done.stderr
        assert "HSECRET" not in done.stderr and "Authorization" not in done.stderr and "X-" not in done.stderr
