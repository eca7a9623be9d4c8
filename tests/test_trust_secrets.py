"""Secrets that must reach no output, and credentials that must reach only whom they are for
(issue 17, items 4 and 6 and the smaller ones on secret headers, the CONNECT's User-Agent and a
malformed proxy port). Loopback servers only: a proxy written for the attack (refusing the
CONNECT, or tunnelling and forwarding while recording what it was sent) and the test server."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from fetchcli import __version__
from fetchcli.redact import Redactor, mask_input
from fetchcli.settings import Backend, RequestSettings, Settings, SettingsError
from fetchcli.transport.proxies import proxy_way
from tests.helpers import fetchcli_in_clean_env as fetchcli
from tests.helpers import run, self_signed_context
from tests.server import LoopbackServer, _SmallServer, running_server

PASSWORD = "Pa%24%24w0rd-Xyz"  # percent-encoded in the URL; sent (and never shown) as "Pa$$w0rd-Xyz"
SECRETS = (PASSWORD, "Pa$$w0rd-Xyz", base64.b64encode(b"alice:Pa$$w0rd-Xyz").decode())
PROXY_AUTHORIZATION = "Basic cHJveHk6aGVhZGVyLXNlY3JldA=="  # proxy:header-secret


@dataclasses.dataclass
class Seen:
    method: str
    target: str
    headers: dict[str, str]


class HostileProxy(_SmallServer):
    """An HTTP proxy on 127.0.0.1 that records each request it receives (its method, target and
    headers), then answers as ``answer`` says: ``403`` (with the request's Proxy-Authorization
    echoed in the reason phrase), ``407``, ``garbage`` (not HTTP), or ``tunnel``: a CONNECT is
    tunnelled to its target, an absolute-form request forwarded to its origin (its
    Proxy-Authorization consumed, as a proxy does)."""

    name = "test-hostile-proxy"

    def __init__(self, answer: str) -> None:
        super().__init__()
        self.answer = answer
        self.seen: list[Seen] = []

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if colon:
                headers[name.strip().lower()] = value.strip()
        self.seen.append(Seen(method, target, headers))
        try:
            if self.answer == "tunnel":
                await (self._tunnel(target, reader, writer) if method == "CONNECT" else self._forward(lines, writer))
                return
            if self.answer == "403":
                echoed = headers.get("proxy-authorization", "")
                writer.write(f"HTTP/1.1 403 Denied {echoed}\r\nContent-Length: 0\r\n\r\n".encode("latin-1"))
            elif self.answer == "407":
                writer.write(b'HTTP/1.1 407 Who\r\nProxy-Authenticate: Basic realm="t"\r\nContent-Length: 0\r\n\r\n')
            else:
                writer.write(b"\x00\x01 not HTTP at all\r\n\r\n")
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def _tunnel(self, target: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, _, port = target.rpartition(":")
        upstream_reader, upstream_writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))

    async def _forward(self, lines: list[str], writer: asyncio.StreamWriter) -> None:
        method, target, _version = lines[0].split(" ", 2)
        url = urllib.parse.urlsplit(target)
        upstream_reader, upstream_writer = await asyncio.open_connection(url.hostname, url.port or 80)
        hop_by_hop = ("proxy-authorization", "proxy-connection", "connection")
        kept = [line for line in lines[1:] if line and line.partition(":")[0].strip().lower() not in hop_by_hop]
        path = url.path + (f"?{url.query}" if url.query else "")
        request = (
            f"{method} {path} HTTP/1.1\r\n" + "".join(f"{line}\r\n" for line in kept) + "Connection: close\r\n\r\n"
        )
        upstream_writer.write(request.encode("latin-1"))
        await upstream_writer.drain()
        head = await upstream_reader.readuntil(b"\r\n\r\n")  # one answer per connection: say so
        length = next(
            int(line.partition(b":")[2]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
        )
        writer.write(head[:-2] + b"Connection: close\r\n\r\n" + await upstream_reader.readexactly(length))
        await writer.drain()
        upstream_writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


@contextmanager
def hostile_proxy(answer: str) -> Iterator[HostileProxy]:
    proxy = HostileProxy(answer).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture(scope="module")
def tls_origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackServer]:
    with running_server(ssl_context=self_signed_context(tmp_path_factory.mktemp("tls"))) as srv:
        yield srv


@pytest.fixture(scope="module")
def two_origins() -> Iterator[LoopbackServer]:
    """One plain server on 127.0.0.1 and 127.0.0.2: the same port, two origins, no DNS."""
    with running_server(extra_hosts=("127.0.0.2",)) as srv:
        yield srv


def _leaked(secrets: tuple[str, ...], *texts: str) -> list[str]:
    """The secrets (or any 12 characters in a row of one) found in the texts."""
    found = []
    for secret in secrets:
        pieces = {secret[i : i + 12] for i in range(max(1, len(secret) - 11))}
        if any(piece in text for piece in pieces for text in texts):
            found.append(secret)
    return found


# Item 4 (a): the proxy's password, whatever the proxy answers to the CONNECT.


@pytest.mark.parametrize("answer", ["403", "407", "garbage"])
@pytest.mark.live
def test_a_proxy_password_reaches_no_output_when_the_connect_is_refused(answer: str, backend: Backend) -> None:
    with hostile_proxy(answer) as proxy:
        proxy_url = f"http://alice:{PASSWORD}@127.0.0.1:{proxy.port}"
        runs = [
            ({"HTTPS_PROXY": proxy_url}, []),
            ({"HTTPS_PROXY": proxy_url}, ["-f", "table"]),
            ({}, ["--proxy", proxy_url, "-f", "csv", "--fields", "url,error.type,error.message"]),
            ({}, ["-x", proxy_url, "-f", "jsonl", "--summary"]),
        ]
        for env, args in runs:
            done = fetchcli("--backend", backend.value, *args, "https://127.0.0.1:9/x", env={**env, "COLUMNS": "250"})
            assert done.returncode == 1, done.stderr
            assert _leaked(SECRETS, done.stdout, done.stderr) == [], (args, done.stdout, done.stderr)
            assert "127.0.0.1:9" in done.stdout  # the record is there, its secret is not
        assert [seen.method for seen in proxy.seen] == ["CONNECT"] * len(runs)
        # The proxy did get the credentials: on the CONNECT, and only there.
        assert {seen.headers.get("proxy-authorization") for seen in proxy.seen} == {"Basic " + SECRETS[2]}
    if answer == "403":
        line = json.loads(done.stdout)
        assert line["error"]["type"] == "ProxyError" and "***" in line["error"]["message"]


# Item 4 (b): a long user name or password is masked before anything is cut.

JWT = "eyJhbGciOiJIUzI1NiJ9." + "eyJzdWIiOiIxMjM0NTY3ODkwIn0" * 10 + ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"


def test_a_long_password_is_masked_before_the_url_is_cut(tmp_path: Path) -> None:
    assert len(JWT) > 300
    listing = tmp_path / "urls.txt"
    urls = [
        f"http://user:{JWT}@127.0.0.1:9/valid",  # valid: fetched (refused)
        f"http://{JWT}@127.0.0.1:9/token",  # a lone token as user name
        f"http://user:{JWT}@127.0.0.1:99999/",  # invalid: a record without a request
        f"http://user:{JWT}@127.0.0.1/?q=" + "a" * 9000,  # over 8,192 characters, '@' early
        f"http://user:{JWT * 30}@127.0.0.1/",  # over 8,192 characters before its '@'
    ]
    listing.write_text("\n".join(urls) + "\n")
    secrets = (JWT, JWT * 30)
    done = fetchcli("-i", str(listing), "-f", "jsonl")
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(records) == 5
    assert _leaked(secrets, done.stdout, done.stderr) == []
    assert records[0]["url"] == "http://user:***@127.0.0.1:9/valid"
    assert records[1]["url"] == "http://***@127.0.0.1:9/token"
    assert records[2]["url"] == "http://user:***@127.0.0.1:99999/"
    assert records[3]["url"].startswith("http://user:***@127.0.0.1/?q=aaa")
    assert records[4]["url"] == "http://***"  # the reader kept 8,193 characters, none of them an '@'
    assert [r["error"]["type"] for r in records[2:]] == ["InvalidURL"] * 3
    dry = fetchcli("--dry-run", "-i", str(listing))
    assert _leaked(secrets, dry.stdout, dry.stderr) == []
    assert "http://user:***@127.0.0.1:99999/  -> InvalidURL" in dry.stdout
    table = fetchcli("-i", str(listing), "-f", "table", env={"COLUMNS": "400"})
    assert _leaked(secrets, table.stdout, table.stderr) == []
    as_argument = fetchcli("-f", "jsonl", "--dry-run", urls[4])  # not cut by a reader: its '@' is there
    assert _leaked(secrets, as_argument.stdout) == [] and "http://user:***@127.0.0.1/" in as_argument.stdout


def test_long_url_passwords_are_masked_on_both_backends(backend: Backend) -> None:
    results = run([f"http://user:{JWT}@127.0.0.1:9/a", f"http://{JWT}@127.0.0.1:9/b"], backend=backend)
    for result in results:
        assert result.error is not None and result.error.type == "ConnectionRefused"
        assert _leaked((JWT,), json.dumps(result.to_dict())) == []


# Item 4 (c): a password holding '/', '?' or '#'.


@pytest.mark.parametrize(
    ("url", "shown", "secret", "piece"),
    [
        ("http://u:pa/ss@h/", "http://u:***@h/", "pa/ss", "pa"),
        ("http://u:12345678/ss@h/", "http://u:***@h/", "12345678/ss", "12345678"),  # too big for a port
        ("http://u:pa?ss@h/", "http://u:***@h/", "pa?ss", "pa"),
        ("http://u:pa#ss@h/", "http://u:***@h/", "pa#ss", "pa"),
        ("http://tok+en/with/slashes@h/", "http://***@h/", "tok+en/with", "tok+en"),  # not a host: '+'
    ],
)
def test_a_password_holding_a_slash_is_neither_shown_nor_quoted(url: str, shown: str, secret: str, piece: str) -> None:
    """Read as browsers and curl read it (the authority ends at the first '/', '?' or '#': host
    'u', port 'pa'), so not a URL; and neither its masked form nor its error quotes the password,
    nor what looks like a port or a host in it."""
    for args in (["-f", "jsonl"], ["--dry-run"]):
        done = fetchcli(*args, url)
        assert done.returncode == 1
        assert secret not in done.stdout and f"'{piece}'" not in done.stdout, done.stdout
        assert shown in done.stdout and "InvalidURL" in done.stdout
        assert "percent-encoded" in done.stdout


def test_masking_input_that_is_not_a_url() -> None:
    assert mask_input("http://u:pa/ss@h/") == "http://u:***@h/"
    assert mask_input("alice:secret@example.com") == "alice:***@example.com"
    assert mask_input("//tok/en@h/x") == "//***@h/x"
    assert mask_input("http://host/no-at-here") == "http://host/no-at-here"
    assert mask_input("http://user:abcdef", cut=True) == "http://***"  # an '@' may follow the cut


# Item 6, and the CONNECT's User-Agent.


def test_proxy_authorization_goes_to_the_proxy_only(
    tls_origin: LoopbackServer, two_origins: LoopbackServer, backend: Backend
) -> None:
    """-H Proxy-Authorization is sent on the CONNECT (https) and on the absolute-form request
    (http), both to the proxy; never to a server, through a tunnel or directly (NO_PROXY)."""
    tag = backend.value
    paths = [f"/headers?tunnel-{tag}", f"/headers?forward-{tag}", f"/headers?direct-{tag}"]
    with hostile_proxy("tunnel") as proxy:
        request = RequestSettings(
            proxy=f"http://127.0.0.1:{proxy.port}",
            no_proxy=("127.0.0.2",),
            insecure=True,
            headers=(("Proxy-Authorization", PROXY_AUTHORIZATION), ("X-Visible", "yes")),
        )
        urls = [tls_origin.url(paths[0]), two_origins.url(paths[1]), two_origins.url(paths[2], host="127.0.0.2")]
        results = run(urls, Settings(request=request, concurrency=1), backend=backend)
    assert all(r.ok for r in results), [r.error for r in results]
    tunnelled = tls_origin.stats.headers_seen[paths[0]]
    forwarded, direct = (two_origins.stats.headers_seen[p] for p in paths[1:])
    for seen in (tunnelled, forwarded, direct):
        assert "proxy-authorization" not in seen and seen["x-visible"] == "yes"
    connect, absolute = proxy.seen
    assert connect.method == "CONNECT" and absolute.target == urls[1]
    assert connect.headers["proxy-authorization"] == absolute.headers["proxy-authorization"] == PROXY_AUTHORIZATION
    assert "x-visible" not in connect.headers  # a CONNECT carries what the proxy needs, no more


def test_proxy_url_credentials_go_to_the_proxy_only(tls_origin: LoopbackServer, backend: Backend) -> None:
    with hostile_proxy("tunnel") as proxy:
        request = RequestSettings(proxy=f"http://alice:{PASSWORD}@127.0.0.1:{proxy.port}", insecure=True)
        [result] = run([tls_origin.url(f"/headers?creds-{backend.value}")], Settings(request=request), backend=backend)
    assert result.ok, result.error
    assert proxy.seen[0].headers["proxy-authorization"] == "Basic " + SECRETS[2]
    assert "proxy-authorization" not in tls_origin.stats.headers_seen[f"/headers?creds-{backend.value}"]


@pytest.mark.parametrize("agent", [None, "probe/1.0"])
def test_the_connect_carries_the_runs_user_agent(
    tls_origin: LoopbackServer, backend: Backend, agent: str | None
) -> None:
    with hostile_proxy("tunnel") as proxy:
        request = RequestSettings(proxy=f"http://127.0.0.1:{proxy.port}", insecure=True, user_agent=agent)
        [result] = run([tls_origin.url("/ok/agent")], Settings(request=request), backend=backend)
    assert result.ok, result.error
    [connect] = proxy.seen
    assert connect.method == "CONNECT"
    assert connect.headers["user-agent"] == (agent or f"fetchcli/{__version__}")  # not aiohttp's own


def test_a_header_given_replaces_the_proxy_urls_credentials() -> None:
    way = proxy_way(f"http://alice:{PASSWORD}@proxy:3128", "ua/1", None)
    assert way.url == "http://proxy:3128"
    assert dict(way.headers) == {"User-Agent": "ua/1", "Proxy-Authorization": "Basic " + SECRETS[2]}
    given = proxy_way(f"http://alice:{PASSWORD}@proxy:3128", "ua/1", "Bearer xyz")
    assert given.url == "http://proxy:3128" and given.authorization == "Bearer xyz"
    assert proxy_way("socks5://u:p@proxy:1080", "ua/1", None).url == "socks5://u:p@proxy:1080"  # SOCKS's own


# Custom secret headers.


def test_secret_headers_are_masked_in_dry_run_and_messages() -> None:
    done = fetchcli(
        "--dry-run", "--secret-header", "X-Custom-Key",
        "-H", "X-Custom-Key: custom-secret-1", "-H", "X-Api-Key: api-secret-2", "-H", "PRIVATE-TOKEN: gitlab-secret-3",
        "-H", "Proxy-Authorization: Basic proxy-secret-4", "-H", "X-Visible: shown-5",
        "http://127.0.0.1:9/",
        env={"FETCHCLI_SECRET_HEADER": "X-From-Env\nX-Also"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert _leaked(("custom-secret-1", "api-secret-2", "gitlab-secret-3", "proxy-secret-4"), done.stdout) == []
    for name in ("X-Custom-Key", "X-Api-Key", "PRIVATE-TOKEN"):
        assert f"{name}: ***" in done.stdout
    assert "Proxy-Authorization: *** (not sent: no proxy)" in done.stdout
    assert "X-Visible: shown-5" in done.stdout
    from_env = fetchcli("--dry-run", "-H", "X-From-Env: env-secret-6", "-H", "X-Also: env-secret-7", "http://h/",
                        env={"FETCHCLI_SECRET_HEADER": "X-From-Env\nx-also"})  # fmt: skip
    assert "env-secret" not in from_env.stdout and "X-From-Env: ***" in from_env.stdout
    redact = Redactor.for_request(
        RequestSettings(headers=(("X-Custom-Key", "Token custom-secret-1"),), secret_headers=("x-custom-key",))
    )
    assert redact("failed with custom-secret-1 in it") == "failed with *** in it"


def test_secret_headers_do_not_follow_a_redirect_to_another_origin(
    two_origins: LoopbackServer, backend: Backend
) -> None:
    headers = (("X-Custom-Key", "c1"), ("X-Api-Key", "a2"), ("PRIVATE-TOKEN", "p3"), ("X-Visible", "v4"))
    request = RequestSettings(follow_redirects=True, headers=headers, secret_headers=("X-CUSTOM-KEY",))
    tag = backend.value
    cross, same = f"/headers?secret-cross-{tag}", f"/headers?secret-same-{tag}"
    port = two_origins.port
    urls = [two_origins.url(f"/location?to=http://127.0.0.2:{port}{cross}"), two_origins.url(f"/location?to={same}")]
    results = run(urls, Settings(request=request), backend=backend)
    assert all(r.ok for r in results), [r.error for r in results]
    seen_cross, seen_same = two_origins.stats.headers_seen[cross], two_origins.stats.headers_seen[same]
    assert {k: seen_cross.get(k) for k in ("x-custom-key", "x-api-key", "private-token", "x-visible")} == {
        "x-custom-key": None, "x-api-key": None, "private-token": None, "x-visible": "v4"
    }  # fmt: skip
    assert (seen_same["x-custom-key"], seen_same["x-api-key"], seen_same["private-token"]) == ("c1", "a2", "p3")


def test_a_secret_header_name_must_be_a_token() -> None:
    with pytest.raises(SettingsError, match="--secret-header must be a header name"):
        Settings(request=RequestSettings(secret_headers=("bad name",)))


# A malformed proxy port: a usage error before anything is fetched, without the password.


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--proxy", f"http://alice:{PASSWORD}@127.0.0.1:99999"], {}),
        ([], {"HTTPS_PROXY": f"http://alice:{PASSWORD}@127.0.0.1:abc"}),
        ([], {"http_proxy": f"http://alice:{PASSWORD}@:3128"}),
        (["-x", "http://alice:pa/ss@127.0.0.1:3128"], {}),
    ],
)
def test_a_malformed_proxy_is_a_usage_error_without_its_password(
    server: LoopbackServer, args: list[str], env: dict[str, str]
) -> None:
    before = server.stats.requests
    done = fetchcli(*args, server.url("/ok/bad-proxy"), server.url("/ok/bad-proxy").replace("http:", "https:"), env=env)
    assert done.returncode == 2, done.stdout
    assert done.stdout == "" and len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith("fetchcli: error: ") and ("invalid port" in done.stderr or "no host" in done.stderr)
    assert _leaked(SECRETS, done.stderr) == [] and "pa/ss" not in done.stderr
    assert server.stats.requests == before
