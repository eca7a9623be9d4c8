"""Review of issue 18, finding 1: ``--scheme-fallback`` tries http:// only when the https://
connection of the input URL itself failed (TLS, refused) with no answer heard, after --retries
gave up; never after a redirect or a response; and never with what the user keeps secret (a
secret header, credentials in the URL): then it is not tried at all. Each server here logs the
head of every plain-HTTP request it gets, so a secret sent in cleartext would be seen."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from fetchcli.settings import Backend, RequestSettings, RetrySettings, Settings
from tests.helpers import run, self_signed_context


class DualServer:
    """One port speaking TLS (a first byte 0x16) and plain HTTP/1.1. ``redirect_to`` None: every
    TLS handshake is answered with an alert (handshake_failure); else a request over TLS gets a
    302 to https://127.0.0.1:<redirect_to>/next. A plain request is logged and answered 200."""

    def __init__(self, context: ssl.SSLContext, redirect_to: int | None = None) -> None:
        self._context = context
        self.redirect_to = redirect_to
        self.plain: list[str] = []  # heads of the plain-HTTP requests, lower case
        self.handshakes = 0
        self.tls_requests = 0
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(50)
        self.port = int(self._sock.getsockname()[1])
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(10)
            first = conn.recv(1, socket.MSG_PEEK)
            if first == b"\x16":
                self.handshakes += 1
                if self.redirect_to is None:
                    conn.recv(65536)
                    conn.sendall(b"\x15\x03\x03\x00\x02\x02\x28")  # alert: handshake_failure
                    return
                conn = self._context.wrap_socket(conn, server_side=True)
                self._head(conn)
                self.tls_requests += 1
                location = f"https://127.0.0.1:{self.redirect_to}/next"
                conn.sendall(
                    f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n"
                    "Connection: close\r\n\r\n".encode()
                )
                return
            if not first:
                return
            self.plain.append(self._head(conn).lower())
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    @staticmethod
    def _head(conn: socket.socket) -> str:
        data = b""
        while b"\r\n\r\n" not in data:
            part = conn.recv(4096)
            if not part:
                break
            data += part
        return data.split(b"\r\n\r\n")[0].decode("latin-1")

    def close(self) -> None:
        self._sock.close()


pytestmark = pytest.mark.live  # every test here starts loopback servers


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    return self_signed_context(Path(tmp_path_factory.mktemp("certs")))


@pytest.fixture
def alert(context: ssl.SSLContext) -> Iterator[DualServer]:
    server = DualServer(context)
    try:
        yield server
    finally:
        server.close()


def _settings(*headers: tuple[str, str], retries: int = 0, follow: bool = False, **request: object) -> Settings:
    return Settings(
        request=RequestSettings(
            scheme_fallback=True,
            insecure=True,
            follow_redirects=follow,
            headers=headers,
            **request,  # type: ignore[arg-type]
        ),
        retry=RetrySettings(retries=retries, backoff=0.01),
    )


@pytest.mark.parametrize(
    ("header", "url_userinfo"),
    [
        (("Authorization", "Bearer TOPSECRET"), ""),
        (("X-Api-Key", "TOPSECRET"), ""),
        (("Cookie", "session=TOPSECRET"), ""),
        (("X-Custom", "TOPSECRET"), ""),  # named by --secret-header
        (None, "TOPSECRET@"),  # user:password@ would read as a scheme: a user name alone
    ],
    ids=["authorization", "x-api-key", "cookie", "secret-header", "url-credentials"],
)
def test_a_fallback_never_sends_a_secret_in_cleartext(
    alert: DualServer, backend: Backend, header: tuple[str, str] | None, url_userinfo: str
) -> None:
    headers = (header,) if header is not None else ()
    settings = _settings(*headers, secret_headers=("x-custom",))
    [result] = run([f"{url_userinfo}127.0.0.1:{alert.port}/x"], settings, backend=backend)
    assert alert.plain == []  # not tried over http:// at all: nothing in cleartext
    assert alert.handshakes == 1
    assert not result.ok and result.error is not None and result.error.type == "TLSError"
    assert "--scheme-fallback did not try http://" in result.error.message
    assert "TOPSECRET" not in result.error.message
    assert result.attempts == 1


def test_a_fallback_without_secrets_is_tried_after_the_retries(alert: DualServer, backend: Backend) -> None:
    [result] = run([f"127.0.0.1:{alert.port}/x"], _settings(("Accept", "text/plain"), retries=2), backend=backend)
    assert alert.handshakes == 3  # --retries retried the TLS failure before falling back
    assert len(alert.plain) == 1 and alert.plain[0].startswith("get /x ")
    assert result.ok and result.status == 200
    assert result.final_url == f"http://127.0.0.1:{alert.port}/x"  # how the record says it came over http://
    assert result.attempts == 4


def test_no_fallback_after_a_redirect(alert: DualServer, context: ssl.SSLContext, backend: Backend) -> None:
    """The https origin answered (a 302); only the redirect target's handshake failed: the
    origin is not asked again over http://, and the record keeps the 302."""
    origin = DualServer(context, redirect_to=alert.port)
    try:
        [result] = run([f"127.0.0.1:{origin.port}/start"], _settings(follow=True), backend=backend)
    finally:
        origin.close()
    assert origin.plain == [] and alert.plain == []
    assert origin.tls_requests == 1 and alert.handshakes == 1
    assert not result.ok and result.error is not None and result.error.type == "TLSError"
    assert "http://" not in result.error.message
    assert [(r.url, r.status) for r in result.redirects] == [(f"https://127.0.0.1:{origin.port}/start", 302)]
