"""Review round 4: an HTTP/2 response's ``:status``, and its informational heads, held to the rules.

On the httpx backend (the one that speaks HTTP/2; aiohttp's does not), httpcore turns h2's header
validation off: a response with no ``:status`` was reported ``200 ok: true``, of two ``:status``
the last won, and ``:status: abc`` was ``Unexpected`` ("ValueError: invalid literal for int()").
httpcore also drops informational heads without a limit: endless ``:status 103`` blocks ran until
``--max-time`` (and for ever with ``-m 0``), though the README promised at most 100 on both
backends. ``h2responses.Http2Responses`` follows the frames read and makes each of these a
``RemoteProtocolError``. The servers here write the frames themselves (hyperframe), with the h2
connection's own HPACK encoder, so the header table the client reads stays in step.
"""

from __future__ import annotations

import asyncio
import json
import random
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("h2")

import hpack
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    Frame,
    HeadersFrame,
    PingFrame,
    PushPromiseFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

from fetchcli.settings import Backend, RequestSettings, Settings, TimeoutSettings
from fetchcli.transport.h2responses import Http2Responses
from tests.helpers import fetchcli_in_clean_env, run, self_signed_context
from tests.server import _SmallServer

_BAD_HEADS: dict[str, list[tuple[str, str]]] = {
    "/no-status": [("content-type", "text/plain")],
    "/two-statuses": [(":status", "500"), (":status", "200")],
    "/abc": [(":status", "abc")],
    "/plus": [(":status", "+200")],
    "/two-digits": [(":status", "20")],
    "/s101": [(":status", "101")],
    "/s1000": [(":status", "1000")],
    "/s099": [(":status", "099")],
}


def _informational(encoder: hpack.Encoder, stream: int) -> bytes:
    return HeadersFrame(stream, data=encoder.encode([(":status", "103"), ("link", "</a.css>; rel=preload")]), flags=["END_HEADERS"]).serialize()  # fmt: skip


def _fancy(encoder: hpack.Encoder, stream: int, body: bytes) -> bytes:
    """A response using what HTTP/2 allows: a padded informational head with a priority, a final
    head split over HEADERS and two CONTINUATIONs, other frames between, a body in three DATA
    frames, trailers."""
    early = HeadersFrame(
        stream,
        data=encoder.encode([(":status", "103"), ("link", "</b.js>")]),
        flags=["END_HEADERS", "PADDED", "PRIORITY"],
        pad_length=7,
        depends_on=0,
        stream_weight=15,
    )
    block = encoder.encode(
        [(":status", "200"), ("content-type", "text/plain"), ("x-long", "v" * 300), ("content-length", str(len(body)))]
    )
    head = HeadersFrame(stream, data=block[:5], flags=["PADDED"], pad_length=3)
    frames: list[Frame] = [early, PingFrame(0, opaque_data=b"12345678"), head]
    frames += [
        ContinuationFrame(stream, data=block[5:40]),
        ContinuationFrame(stream, data=block[40:], flags=["END_HEADERS"]),
    ]
    frames += [WindowUpdateFrame(0, window_increment=1)]
    third = len(body) // 3
    frames += [DataFrame(stream, data=body[:third]), DataFrame(stream, data=body[third : 2 * third])]
    frames += [DataFrame(stream, data=body[2 * third :])]
    frames += [HeadersFrame(stream, data=encoder.encode([("x-checksum", "abc")]), flags=["END_HEADERS", "END_STREAM"])]
    return b"".join(frame.serialize() for frame in frames)


class BrokenH2(_SmallServer):
    """HTTP/2 over TLS on 127.0.0.1; the request's path says what the answer breaks:
    ``_BAD_HEADS`` (a head of those fields, then a body), ``/info/N`` (N ``:status 103`` heads,
    then 200), ``/endless-103`` (103 heads until the client goes), ``/fancy`` (``_fancy``), else
    a plain 200. Counts connections and the informational heads sent."""

    name = "test-h2-broken"

    def __init__(self, context: ssl.SSLContext) -> None:
        context.set_alpn_protocols(["h2"])
        super().__init__(context)
        self.connections = 0
        self.informational_sent = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        import h2.config
        import h2.connection
        import h2.events

        self.connections += 1
        connection = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=False))
        connection.initiate_connection()
        writer.write(connection.data_to_send())
        try:
            while data := await reader.read(65536):
                for event in connection.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        writer.write(connection.data_to_send())
                        path = dict(event.headers)[b":path"].decode()
                        await self._answer(writer, connection.encoder, event.stream_id, path)
                writer.write(connection.data_to_send())
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def _answer(self, writer: asyncio.StreamWriter, encoder: hpack.Encoder, stream: int, path: str) -> None:
        body = b"body of " + path.encode()
        if path.startswith("/endless-"):
            while not writer.is_closing() and self.informational_sent < 1_000_000:
                if path == "/endless-103":
                    writer.write(_informational(encoder, stream) * 50)
                elif path == "/endless-103-continued":  # each head in a HEADERS and an empty CONTINUATION
                    block = encoder.encode([(":status", "103")])
                    head = HeadersFrame(stream, data=block).serialize()
                    writer.write((head + ContinuationFrame(stream, data=b"", flags=["END_HEADERS"]).serialize()) * 50)
                else:  # /endless-continuation: one head that never ends, in empty CONTINUATION frames
                    if not self.informational_sent:
                        writer.write(HeadersFrame(stream, data=encoder.encode([(":status", "200")])).serialize())
                    writer.write(ContinuationFrame(stream, data=b"").serialize() * 50)
                self.informational_sent += 50
                await writer.drain()
                await asyncio.sleep(0.001)
            return
        if path.startswith("/fancy"):
            writer.write(_fancy(encoder, stream, body))
            return
        if path.startswith("/info/"):
            count = int(path.rsplit("/", 1)[1])
            writer.write(_informational(encoder, stream) * count)
            self.informational_sent += count
        fields = _BAD_HEADS.get(path, [(":status", "200")])
        writer.write(HeadersFrame(stream, data=encoder.encode(fields), flags=["END_HEADERS"]).serialize())
        writer.write(DataFrame(stream, data=body, flags=["END_STREAM"]).serialize())


@pytest.fixture
def broken_h2(tmp_path: Path) -> Iterator[BrokenH2]:
    server = BrokenH2(self_signed_context(tmp_path)).start()
    try:
        yield server
    finally:
        server.stop()


_HTTP2 = Settings(request=RequestSettings(http2=True, insecure=True), backend=Backend.httpx)


def _url(server: BrokenH2, path: str) -> str:
    return f"https://127.0.0.1:{server.port}{path}"


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/no-status", "a response with no :status"),
        ("/two-statuses", "more than one :status"),
        ("/abc", "an invalid :status 'abc'"),
        ("/plus", "an invalid :status '+200'"),
        ("/two-digits", "an invalid :status '20'"),
        ("/s1000", "an invalid :status '1000'"),
        ("/s101", ":status 101, which HTTP/2 does not have"),
        ("/s099", ":status 099, outside 100-599"),
    ],
)
def test_a_head_without_one_valid_status_is_a_protocol_error(broken_h2: BrokenH2, path: str, words: str) -> None:
    [result] = run([_url(broken_h2, path)], _HTTP2)
    assert result.error is not None, (result.status, result.ok)
    assert result.error.type == "RemoteProtocolError", result.error
    assert words in result.error.message and result.error.message.startswith("HTTP/2 connection closed: ")
    assert not result.ok and result.status is None


def test_up_to_100_informational_heads_then_the_answer(broken_h2: BrokenH2) -> None:
    """100 are allowed, as on HTTP/1.1; the 101st is an error. The 103 heads are indexed from
    the server's header table after the first, so this also shows the table kept in step."""
    allowed, over = run([_url(broken_h2, "/info/100"), _url(broken_h2, "/info/101")], Settings(
        request=RequestSettings(http2=True, insecure=True), backend=Backend.httpx, concurrency=1))  # fmt: skip
    assert allowed.ok and allowed.status == 200 and allowed.http_version == "HTTP/2", allowed.error
    assert allowed.snippet == "body of /info/100"
    assert over.error is not None and over.error.type == "RemoteProtocolError"
    assert "more than 100 informational (1xx) responses" in over.error.message


def test_endless_informational_heads_end_at_once(broken_h2: BrokenH2) -> None:
    """They ran until --max-time: here 30 s, so the record's type tells the old from the new."""
    settings = Settings(
        request=RequestSettings(http2=True, insecure=True),
        timeouts=TimeoutSettings(max_time=30),
        backend=Backend.httpx,
    )
    [result] = run([_url(broken_h2, "/endless-103")], settings)
    assert result.error is not None and result.error.type == "RemoteProtocolError", result.error
    assert "more than 100 informational" in result.error.message
    assert result.elapsed_ms is not None and result.elapsed_ms < 20_000


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/endless-103-continued", "more than 100 informational"),
        ("/endless-continuation", "Too many continuation frames"),  # h2's own bound (64)
    ],
)
def test_floods_of_header_frames_end_at_once(broken_h2: BrokenH2, path: str, words: str) -> None:
    settings = Settings(
        request=RequestSettings(http2=True, insecure=True),
        timeouts=TimeoutSettings(max_time=30),
        backend=Backend.httpx,
    )
    [result] = run([_url(broken_h2, path)], settings)
    assert result.error is not None and result.error.type == "RemoteProtocolError", result.error
    assert words in result.error.message


def test_endless_informational_heads_end_without_max_time(broken_h2: BrokenH2) -> None:
    """With ``-m 0 -t 2`` the run hung until it was killed (here: the 60 s timeout of the
    subprocess would fail the test); each 103 arrives well within the read timeout."""
    done = fetchcli_in_clean_env(
        "--backend", "httpx", "--http2", "-k", "-m", "0", "-t", "2", "-f", "jsonl", _url(broken_h2, "/endless-103")
    )
    assert "Traceback" not in done.stderr
    [record] = [json.loads(line) for line in done.stdout.splitlines()]
    assert record["error"]["type"] == "RemoteProtocolError", record["error"]
    assert done.returncode == 1


def test_responses_using_what_http2_allows_are_read_as_before(broken_h2: BrokenH2) -> None:
    """Padding, priorities, CONTINUATION frames, frames between, bodies in pieces, trailers, an
    informational head each: 30 responses multiplexed on one connection, all ok."""
    urls = [_url(broken_h2, f"/fancy/{n}") for n in range(30)]
    results = run(
        urls, Settings(request=RequestSettings(http2=True, insecure=True), backend=Backend.httpx, concurrency=10)
    )
    assert [r.error for r in results] == [None] * 30
    assert [r.snippet for r in results] == [f"body of /fancy/{n}" for n in range(30)]
    assert all(r.http_version == "HTTP/2" and r.status == 200 for r in results)
    assert broken_h2.connections == 1


# The follower alone, on bytes as the client reads them, cut at random places.


def _preface() -> bytes:
    return SettingsFrame(0).serialize()


def _feed_in_pieces(data: bytes, seed: int) -> tuple[str | None, Http2Responses]:
    rng = random.Random(seed)
    follower = Http2Responses()
    position = 0
    while position < len(data):
        step = rng.choice([1, 2, 5, 9, 10, 17, 100, 4096])
        problem = follower.feed(data[position : position + step])
        if problem is not None:
            return problem, follower
        position += step
    return None, follower


def test_the_follower_reads_lawful_frames_cut_anywhere() -> None:
    encoder = hpack.Encoder()
    data = _preface() + b"".join(_fancy(encoder, 2 * n + 1, b"x" * (n * 37)) for n in range(40))
    for seed in range(30):
        problem, follower = _feed_in_pieces(data, seed)
        assert problem is None and not follower.off, seed
        assert follower.open_streams == 0  # every stream ended


def test_the_follower_finds_a_bad_head_wherever_the_reads_cut_it() -> None:
    for path, fields in _BAD_HEADS.items():
        encoder = hpack.Encoder()
        good = _fancy(encoder, 1, b"ok")
        bad = HeadersFrame(3, data=encoder.encode(fields), flags=["END_HEADERS"]).serialize()
        for seed in range(10):
            problem, _ = _feed_in_pieces(_preface() + good + bad, seed)
            assert problem is not None and problem.startswith("HTTP/2 connection closed: "), (path, seed)


def test_trailers_need_no_status_and_a_head_after_the_final_one_is_trailers() -> None:
    encoder = hpack.Encoder()
    head = HeadersFrame(1, data=encoder.encode([(":status", "204")]), flags=["END_HEADERS"])
    trailers = HeadersFrame(1, data=encoder.encode([("grpc-status", "0")]), flags=["END_HEADERS", "END_STREAM"])
    problem, follower = _feed_in_pieces(_preface() + head.serialize() + trailers.serialize(), 1)
    assert problem is None and follower.open_streams == 0


def test_what_h2_refuses_is_left_to_h2() -> None:
    """A push, a CONTINUATION out of place, another frame inside a header block: following
    ends, quietly, and h2 reports the error as before."""
    encoder = hpack.Encoder()
    push = PushPromiseFrame(1, promised_stream_id=2, data=encoder.encode([(":method", "GET")]), flags=["END_HEADERS"])
    stray = ContinuationFrame(1, data=b"", flags=["END_HEADERS"])
    open_block = HeadersFrame(1, data=encoder.encode([(":status", "200")]))
    for frames in ([push], [stray], [open_block, RstStreamFrame(1)]):
        problem, follower = _feed_in_pieces(_preface() + b"".join(f.serialize() for f in frames), 3)
        assert problem is None and follower.off


def test_the_streams_followed_are_bounded() -> None:
    """Streams whose body never ends (a client that gave up on them) are forgotten, the oldest
    first, past 1,024."""
    encoder = hpack.Encoder()
    follower = Http2Responses()
    follower.feed(_preface())
    for n in range(5000):
        block = encoder.encode([(":status", "200")])
        assert follower.feed(HeadersFrame(2 * n + 1, data=block, flags=["END_HEADERS"]).serialize()) is None
    assert follower.open_streams <= 1024
