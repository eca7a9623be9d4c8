"""Review round 4: a failure to reach or talk to a proxy is one record, whatever the backend and
the proxy's scheme.

Before: ``-x http://127.0.0.1:9`` (nothing listening) was ``ProxyError`` on aiohttp but
``ConnectionRefused "[Errno 111] Connection refused"`` on httpx, and with ``https://`` and
``socks5://`` proxies; an unresolvable proxy a bare ``DNSError``; a garbage answer to the CONNECT
``RemoteProtocolError`` (on aiohttp: ``400, message="Bad status line:..."``, the library's
internals); a SOCKS proxy closing during its handshake ``ReadError`` or ``Unexpected``
("ProtocolError: Malformed reply"); none named the proxy. Now each is ``ProxyError``, worded by
fetchcli and naming the proxy (password masked); the same record on both backends (a
differential test: type and message). Loopback servers only, written for the purpose.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from fetchcli.settings import Backend, RequestSettings, RetrySettings, Settings, TimeoutSettings
from fetchcli.transport.proxies import resolve_proxies
from tests.helpers import fetchcli_in_clean_env, run, self_signed_context
from tests.server import LoopbackServer, _SmallServer, running_server

UNRESOLVABLE = "no-such-proxy.fetchcli.test"


@pytest.fixture
def no_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """One name that does not resolve, without asking any resolver (no traffic leaves)."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == UNRESOLVABLE:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


class AnsweringProxy(_SmallServer):
    """An HTTP proxy on 127.0.0.1 that reads a request head and answers as ``answer`` says:
    ``407``, ``garbage`` (not HTTP), ``close`` (closes without a word), ``silent`` (never
    answers), ``tunnel`` (a CONNECT is tunnelled to its target); ``close-at-once`` closes each
    connection before reading anything (as a broken SOCKS proxy would). Counts connections."""

    name = "test-answering-proxy"

    def __init__(self, answer: str) -> None:
        super().__init__()
        self.answer = answer
        self.connections = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            if self.answer == "close-at-once":
                return
            head = await reader.readuntil(b"\r\n\r\n")
            method, target, _ = head.decode("latin-1").split(" ", 2)
            if self.answer == "tunnel" and method == "CONNECT":
                host, _, port = target.rpartition(":")
                up_reader, up_writer = await asyncio.open_connection(host, int(port))
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                await asyncio.gather(_pipe(reader, writer=up_writer), _pipe(up_reader, writer=writer))
                return
            if self.answer == "407":
                writer.write(b'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="p"\r\n')
                writer.write(b"Content-Length: 0\r\n\r\n")
            elif self.answer == "garbage":
                writer.write(b"\x00\x01 not HTTP at all\r\n\r\n")
            elif self.answer == "silent":
                await reader.read()  # until the client gives up
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()


async def _pipe(reader: asyncio.StreamReader, *, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


@contextmanager
def answering_proxy(answer: str) -> Iterator[AnsweringProxy]:
    proxy = AnsweringProxy(answer).start()
    try:
        yield proxy
    finally:
        proxy.stop()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _fetch(url: str, proxy: str, backend: Backend, **options: Any) -> tuple[int | None, str | None, str | None, int]:
    """(status, error.type, error.message, attempts) of one URL through ``proxy``."""
    retries = options.pop("retries", 0)
    settings = Settings(
        request=RequestSettings(proxy=proxy, **options),
        timeouts=TimeoutSettings(timeout=2, max_time=20),
        retry=RetrySettings(retries=retries, backoff=0.01, max_wait=0.05),
        backend=backend,
    )
    [result] = run([url], settings)
    error = result.error
    return result.status, error.type if error else None, error.message if error else None, result.attempts


def _on_both(
    url: str, proxy: str, *, words: bool = True, **options: Any
) -> tuple[int | None, str | None, str | None, int]:
    """The record on both backends, which must be the same (but for the message when not
    ``words``: then it is None)."""
    aio = _fetch(url, proxy, Backend.aiohttp, **dict(options))
    plain = _fetch(url, proxy, Backend.httpx, **dict(options))
    if not words:
        aio, plain = (aio[0], aio[1], None, aio[3]), (plain[0], plain[1], None, plain[3])
    assert aio == plain, f"aiohttp {aio} != httpx {plain}"
    return aio


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_proxy_refusing_the_connection(scheme: str) -> None:
    port = _closed_port()
    record = _on_both(f"{scheme}://127.0.0.1:9/x", f"http://127.0.0.1:{port}")
    assert record == (None, "ProxyError", f"cannot connect to proxy http://127.0.0.1:{port}: connection refused", 1)


@pytest.mark.usefixtures("no_dns")
@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_proxy_whose_name_does_not_resolve(scheme: str) -> None:
    record = _on_both(f"{scheme}://127.0.0.1:9/x", f"http://{UNRESOLVABLE}:3128")
    expected = f"cannot connect to proxy http://{UNRESOLVABLE}:3128: its host name does not resolve"
    assert record[:2] == (None, "ProxyError") and record[2] is not None
    assert record[2].startswith(expected) and "Name or service not known" in record[2], record[2]


@pytest.mark.parametrize("answer", ["garbage", "close"])
@pytest.mark.live
def test_a_connect_answered_with_something_that_is_not_http(answer: str) -> None:
    with answering_proxy(answer) as proxy:
        record = _on_both("https://127.0.0.1:9/x", f"http://alice:s3cret@127.0.0.1:{proxy.port}")
    message = f"proxy http://127.0.0.1:{proxy.port} gave no valid answer to the CONNECT"
    assert record == (None, "ProxyError", message, 1)


@pytest.mark.live
def test_a_connect_refused_with_407() -> None:
    with answering_proxy("407") as proxy:
        refused = _on_both("https://127.0.0.1:9/x", f"http://alice:s3cret@127.0.0.1:{proxy.port}")
        forwarded = _on_both("http://127.0.0.1:9/x", f"http://127.0.0.1:{proxy.port}")
    message = f"proxy http://127.0.0.1:{proxy.port} refused the CONNECT: 407 Proxy Authentication Required"
    assert refused == (None, "ProxyError", message, 1)
    # The request of an http:// URL goes to the proxy whole: its answer is the URL's, as in curl.
    assert forwarded == (407, None, None, 1)


@pytest.mark.live
@pytest.mark.slow  # seconds of timers
def test_a_proxy_that_never_answers_the_connect_is_a_timeout_on_both() -> None:
    with answering_proxy("silent") as proxy:
        record = _on_both("https://127.0.0.1:9/x", f"http://127.0.0.1:{proxy.port}")
    # aiohttp waited for --max-time (TotalTimeout): it set no read timeout on the CONNECT
    message = f"proxy http://127.0.0.1:{proxy.port} did not answer the CONNECT within --read-timeout"
    assert record == (None, "ReadTimeout", message, 1)


@pytest.mark.live
def test_a_tls_failure_with_the_server_through_the_tunnel_is_the_servers(tmp_path: Path) -> None:
    """Through a working tunnel: a self-signed server is a CertificateError (not the proxy's
    fault), and with -k the answer comes."""
    with running_server(ssl_context=self_signed_context(tmp_path)) as origin, answering_proxy("tunnel") as proxy:
        url, via = origin.url("/ok"), f"http://127.0.0.1:{proxy.port}"
        assert _on_both(url, via, words=False)[:2] == (None, "CertificateError")
        assert _on_both(url, via, insecure=True)[:2] == (200, None)


def test_a_proxy_failure_is_retried_as_a_failure_before_sending() -> None:
    port = _closed_port()
    record = _on_both("https://127.0.0.1:9/x", f"http://127.0.0.1:{port}", retries=2)
    assert record[1] == "ProxyError" and record[3] == 3


# Schemes only the httpx backend serves (aiohttp's takes http:// proxies): the same words.


@pytest.mark.parametrize("scheme", ["https", "socks5"])
def test_every_proxy_scheme_refused_or_unresolvable_is_a_proxy_error(scheme: str, no_dns: None) -> None:
    pytest.importorskip("socksio")
    port = _closed_port()
    for url in ("http://127.0.0.1:9/x", "https://127.0.0.1:9/x"):
        record = _fetch(url, f"{scheme}://127.0.0.1:{port}", Backend.httpx)
        assert record == (
            None,
            "ProxyError",
            f"cannot connect to proxy {scheme}://127.0.0.1:{port}: connection refused",
            1,
        )
        record = _fetch(url, f"{scheme}://{UNRESOLVABLE}:1080", Backend.httpx)
        assert record[1] == "ProxyError" and record[2] is not None
        assert record[2].startswith(f"cannot connect to proxy {scheme}://{UNRESOLVABLE}:1080: its host name does not")


def test_a_socks_proxy_password_is_masked_in_its_messages() -> None:
    pytest.importorskip("socksio")
    port = _closed_port()
    record = _fetch("http://127.0.0.1:9/x", f"socks5://alice:s3cret@127.0.0.1:{port}", Backend.httpx)
    assert record[2] == f"cannot connect to proxy socks5://alice:***@127.0.0.1:{port}: connection refused"


@pytest.mark.live
def test_a_socks_proxy_that_breaks_its_handshake() -> None:
    """It was ReadError for an http:// URL and Unexpected ("ProtocolError: Malformed reply") for
    an https:// one."""
    pytest.importorskip("socksio")
    with answering_proxy("close-at-once") as proxy:
        for url in ("http://127.0.0.1:9/x", "https://127.0.0.1:9/x"):
            status, error_type, message, _ = _fetch(url, f"socks5://127.0.0.1:{proxy.port}", Backend.httpx)
            assert (status, error_type) == (None, "ProxyError"), message
            assert message is not None
            assert message.startswith(f"proxy socks5://127.0.0.1:{proxy.port} failed the SOCKS handshake")


@pytest.mark.live
def test_an_https_proxy_whose_certificate_fails(tmp_path: Path) -> None:
    """Its TLS handshake is the proxy's, so its failure is a ProxyError that says why."""
    with running_server(ssl_context=self_signed_context(tmp_path)) as tls_proxy:
        record = _fetch("http://far-away.invalid/page", tls_proxy.url(""), Backend.httpx)
    assert record[1] == "ProxyError" and record[2] is not None
    assert record[2].startswith(f"TLS handshake with proxy https://127.0.0.1:{tls_proxy.port}")
    assert "CERTIFICATE_VERIFY_FAILED" in record[2]


def test_a_working_proxy_still_works_on_both(server: LoopbackServer, tmp_path: Path) -> None:
    with answering_proxy("tunnel") as proxy, running_server(ssl_context=self_signed_context(tmp_path)) as origin:
        assert _on_both(origin.url("/ok"), f"http://127.0.0.1:{proxy.port}", insecure=True) == (200, None, None, 1)


def test_refused_proxy_and_server_are_told_apart(server: LoopbackServer) -> None:
    """A server refusing a connection reached directly is still ConnectionRefused."""
    port = _closed_port()
    for backend in (Backend.aiohttp, Backend.httpx):
        [result] = run([f"http://127.0.0.1:{port}/"], Settings(backend=backend))
        assert result.error is not None and result.error.type == "ConnectionRefused"
    assert ssl.OPENSSL_VERSION  # (TLS is available for the tunnel tests above)


# -x as curl reads it: no scheme is http://, '' is no proxy, another scheme is named.


@pytest.mark.live
def test_a_proxy_without_a_scheme_is_http(backend: Backend, tmp_path: Path) -> None:
    """``-x 127.0.0.1:3128`` was refused ("must be a URL such as http://host:port") though
    ``https_proxy=127.0.0.1:3128`` was taken; curl takes both."""
    assert resolve_proxies("127.0.0.1:3128", None, {}).proxy == "http://127.0.0.1:3128"
    assert resolve_proxies("HTTP://u:pw@p:3128", None, {}).proxy == "http://u:pw@p:3128"
    with running_server(ssl_context=self_signed_context(tmp_path)) as origin, answering_proxy("tunnel") as proxy:
        done = fetchcli_in_clean_env(
            "--backend", backend.value, "-k", "-x", f"127.0.0.1:{proxy.port}", "-f", "jsonl", origin.url("/ok")
        )
        assert proxy.connections == 1  # it went through the proxy
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert '"status": 200' in done.stdout
    done = fetchcli_in_clean_env("--dry-run", "-x", "127.0.0.1:3128", "https://example.com/")
    assert done.returncode == 0, done.stderr
    assert "http://127.0.0.1:3128 for every URL (from --proxy)" in done.stdout


def test_an_empty_proxy_is_no_proxy_at_all(backend: Backend, server: LoopbackServer) -> None:
    """curl's ``-x ""``: no proxy, the environment's included (it was a usage error)."""
    empty = resolve_proxies("", None, {"https_proxy": "http://127.0.0.1:9"})
    assert empty.proxy is None and empty.by_scheme == ()
    port = _closed_port()
    done = fetchcli_in_clean_env(
        "--backend", backend.value, "-x", "", "-f", "jsonl", server.url("/ok"),
        env={"http_proxy": f"http://127.0.0.1:{port}", "HTTPS_PROXY": f"http://127.0.0.1:{port}"},
    )  # fmt: skip
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert '"status": 200' in done.stdout
    dry = fetchcli_in_clean_env(
        "--dry-run", "-x", "", server.url("/ok"), env={"http_proxy": f"http://127.0.0.1:{port}"}
    )
    assert "none: every URL is fetched directly" in dry.stdout


@pytest.mark.parametrize("scheme", ["ftp", "socks4", "socks4a", "gopher"])
def test_an_unsupported_proxy_scheme_is_named(scheme: str) -> None:
    done = fetchcli_in_clean_env("-x", f"{scheme}://proxy.example:1080", "https://example.com/")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        f"fetchcli: error: --proxy has an unsupported proxy scheme '{scheme}': "
        "fetchcli takes http://, https://, socks5:// and socks5h:// proxies"
    )
