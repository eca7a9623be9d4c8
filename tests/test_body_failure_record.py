"""A response whose headers came and whose body then failed keeps what was received (status,
content type, connection facts, the bytes read) with its error, as TotalTimeout does: the server
did answer. (A body shorter than declared: tests/test_differential.py, "short body".)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fetchcli.errors import BODY_CUT_SHORT
from fetchcli.errortype import ErrorType
from fetchcli.settings import Backend, Settings, TimeoutSettings
from tests.helpers import answering_port, run
from tests.server import LoopbackServer


def test_a_read_timeout_mid_body_keeps_the_status_and_the_bytes_read(server: LoopbackServer, backend: Backend) -> None:
    # /trickle: a 200 declaring 100 bytes, then one "x" every 0.5 s: a 0.3 s read timeout fires
    # after the first byte.
    settings = Settings(timeouts=TimeoutSettings(timeout=5, read=0.3, max_time=20))
    (result,) = run([server.url("/trickle")], settings, backend=backend)
    assert result.error is not None and result.error.type == ErrorType.ReadTimeout
    assert (result.status, result.ok, result.remote_ip) == (200, False, "127.0.0.1")
    assert result.bytes_read == len(result.snippet) and set(result.snippet) <= {"x"}
    assert result.elapsed_ms is not None and result.attempts == 1


def test_a_broken_gzip_body_keeps_the_status(server: LoopbackServer, backend: Backend) -> None:
    (result,) = run([server.url("/bad-gzip")], Settings(), backend=backend)
    assert result.error is not None and result.error.type == ErrorType.DecodingError
    assert (result.status, result.ok, result.content_type) == (200, False, "text/plain; charset=utf-8")


def test_no_answer_still_has_no_status(server: LoopbackServer, backend: Backend) -> None:
    (result,) = run([server.url("/hang")], Settings(timeouts=TimeoutSettings(timeout=0.3)), backend=backend)
    assert result.error is not None and result.error.type == ErrorType.ReadTimeout
    assert result.status is None and result.remote_ip is None


@pytest.fixture(scope="module")
def chunked_cut_port() -> Iterator[int]:
    """A server answering every request with a chunked 200 whose connection closes after the first
    chunk, before the last (zero-size) one."""
    with answering_port(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n") as port:
        yield port


@pytest.mark.live
@pytest.mark.parametrize("how", ["content-length", "chunked"])
def test_a_body_cut_short_is_said_in_the_same_words_on_both_backends(
    server: LoopbackServer, chunked_cut_port: int, backend: Backend, how: str
) -> None:
    url = server.url("/short") if how == "content-length" else f"http://127.0.0.1:{chunked_cut_port}/"
    (result,) = run([url], Settings(), backend=backend)
    assert result.error is not None and result.error.type == ErrorType.RemoteProtocolError
    assert result.error.message == BODY_CUT_SHORT
    assert result.status == 200 and result.snippet == ("0123456789" if how == "content-length" else "hello")
