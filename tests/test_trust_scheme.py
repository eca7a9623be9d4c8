"""Issue 18 item 8: an input without a scheme is fetched over https://; with ``--scheme-fallback``
over http:// when the https:// try meets a TLS handshake failure or a refused connection (a
plain HTTP server: ``WRONG_VERSION_NUMBER``); without it, the error says that the flag exists.

The plain server here answers a TLS handshake at once with a 400, as nginx, Apache or Go's
net/http do (``curl https://`` to them says ``wrong version number``); tests/server.py would wait
for the end of a request line that a handshake never sends."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
from collections.abc import Iterator

import pytest

from fetchcli.settings import Backend, RequestSettings, RetrySettings, Settings
from tests.helpers import fetchcli_in_clean_env, run, self_signed_context
from tests.server import LoopbackServer, _SmallServer, running_server


def _fallback(**request: object) -> Settings:
    return Settings(request=RequestSettings(scheme_fallback=True, **request))  # type: ignore[arg-type]


class PlainServer(_SmallServer):
    """Plain HTTP/1.1 on 127.0.0.1, one request per connection; a TLS handshake (a first byte
    0x16) is answered with 400 and the connection closed, as real servers do."""

    name = "test-plain-http"

    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []
        self.handshakes = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            first = await reader.read(1)
            if first == b"\x16":
                self.handshakes += 1
                writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            else:
                head = first + await reader.readuntil(b"\r\n\r\n")
                self.paths.append(head.split(b" ", 2)[1].decode())
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


@pytest.fixture(scope="module")
def plain() -> Iterator[PlainServer]:
    srv = PlainServer().start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackServer]:
    with running_server(ssl_context=self_signed_context(tmp_path_factory.mktemp("certs"))) as srv:
        yield srv


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_plain_http_server_without_scheme_falls_back_to_http(plain: PlainServer, backend: Backend) -> None:
    path = f"/ok/fallback-{backend.value}"
    [result] = run([f"127.0.0.1:{plain.port}{path}"], _fallback(), backend=backend)
    assert result.ok and result.status == 200 and result.error is None
    assert result.url == f"https://127.0.0.1:{plain.port}{path}"  # the input, as the scheme rule completes it
    assert result.final_url == f"http://127.0.0.1:{plain.port}{path}"  # the scheme used
    assert result.attempts == 2 and result.tls is None and result.redirects == ()
    assert plain.paths.count(path) == 1


def test_without_the_flag_the_error_names_it(plain: PlainServer, backend: Backend) -> None:
    [result] = run([f"127.0.0.1:{plain.port}/ok/nofallback"], backend=backend)
    assert not result.ok and result.error is not None and result.error.type == "TLSError"
    assert "--scheme-fallback" in result.error.message and result.attempts == 1


def test_the_retries_come_before_the_fallback(plain: PlainServer, backend: Backend) -> None:
    """A transient TLS failure is retried as --retries says before http:// is tried (review of
    issue 18, finding 1: the fallback used to be at once, whatever --retries said)."""
    settings = dataclasses.replace(_fallback(), retry=RetrySettings(retries=3, backoff=0.01))
    handshakes = plain.handshakes
    [result] = run([f"127.0.0.1:{plain.port}/ok/fallback-retries"], settings, backend=backend)
    assert plain.handshakes == handshakes + 4  # https:// tried 1 + 3 times, then http://
    assert result.ok and result.attempts == 5 and result.final_url is not None
    assert result.final_url.startswith("http://")


def test_a_refused_port_without_scheme_is_tried_over_http_too(backend: Backend) -> None:
    port = _closed_port()
    [with_flag] = run([f"127.0.0.1:{port}/x"], _fallback(), backend=backend)
    assert with_flag.error is not None and with_flag.error.type == "ConnectionRefused"
    assert "over http://, after https:// failed: ConnectionRefused" in with_flag.error.message
    assert with_flag.attempts == 2
    [without] = run([f"127.0.0.1:{port}/x"], backend=backend)
    assert without.error is not None and without.error.type == "ConnectionRefused"
    assert "--scheme-fallback" in without.error.message and without.attempts == 1


def test_a_given_scheme_is_never_changed(plain: PlainServer, backend: Backend) -> None:
    [result] = run([f"https://127.0.0.1:{plain.port}/ok/given"], _fallback(), backend=backend)
    assert result.error is not None and result.error.type == "TLSError"
    assert "--scheme-fallback" not in result.error.message and "http://" not in result.error.message
    assert result.attempts == 1


def test_a_tls_server_without_scheme_is_fetched_over_https(tls_server: LoopbackServer, backend: Backend) -> None:
    [result] = run([f"127.0.0.1:{tls_server.port}/ok/tls"], _fallback(insecure=True), backend=backend)
    assert result.ok and result.attempts == 1 and result.tls is not None
    assert result.final_url == f"https://127.0.0.1:{tls_server.port}/ok/tls"


def test_the_command_line_flag(plain: PlainServer) -> None:
    url = f"127.0.0.1:{plain.port}/ok/cli"
    done = fetchcli_in_clean_env("--scheme-fallback", url, "-f", "jsonl")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["final_url"] == f"http://{url}"
    without = fetchcli_in_clean_env(url, "-f", "jsonl")
    assert without.returncode == 1 and "--scheme-fallback" in json.loads(without.stdout)["error"]["message"]
    from_env = fetchcli_in_clean_env(url, "-f", "jsonl", env={"FETCHCLI_SCHEME_FALLBACK": "1"})
    assert from_env.returncode == 0, from_env.stderr
    dry = fetchcli_in_clean_env("--dry-run", "--scheme-fallback", url)
    assert "no scheme: https://, then http:// (--scheme-fallback)" in dry.stdout
