"""The record builders (fetchcli/engine/records.py), fed what the request stage learns, without a
network or an event loop: a response and its body, a failure, a try cut short, a URL never sent."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from http import HTTPStatus

from fetchcli.engine.records import (
    Outcome,
    cut_short_result,
    failure_result,
    internal_error_result,
    invalid_result,
    response_result,
    unfinished_result,
)
from fetchcli.engine.snippet import Body
from fetchcli.engine.ticket import Ticket, Trail
from fetchcli.errortype import ErrorType
from fetchcli.models import ErrorInfo, UrlItem
from fetchcli.settings import Settings, SuccessSettings
from fetchcli.transport.contract import WireHeaders, WireResponse
from fetchcli.transport.hints import PhaseClock
from fetchcli.transport.wireurl import parse

URL = "http://127.0.0.1:9/page"
PAGE = b"<html><head><title>Hello</title></head><body>the page</body></html>"


def _item(url: str = URL) -> UrlItem:
    return UrlItem(index=3, raw=url, url=url)


def _sent(url: str = URL) -> tuple[Ticket, Trail]:
    """A URL whose first request was handed to the transport (no --max-time: no event loop)."""
    ticket = Ticket(admitted=time.perf_counter())
    trail = ticket.trail = Trail(parse(url))
    trail.clock = PhaseClock()
    ticket.sending(trail.clock, time.perf_counter(), None)
    return ticket, trail


class _Body:
    async def __aiter__(self) -> AsyncIterator[bytes]:
        return
        yield b""

    async def aclose(self) -> None:
        return None


def _response(status: int, url: str = URL, **headers: str) -> WireResponse:
    named = [(name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()]
    return WireResponse(parse(url), status, HTTPStatus(status).phrase, "HTTP/1.1", WireHeaders(named), _Body())


def test_a_response_is_an_ok_record_with_what_it_said() -> None:
    ticket, trail = _sent()
    response = trail.response = _response(200, content_type="text/html", server="loop", content_length="67")
    body = Body(PAGE, complete=True)
    result = response_result(_item(), Settings(), ticket, Outcome(response, body, trail=trail))
    assert result.ok and result.error is None
    assert (result.index, result.url, result.status, result.reason) == (3, URL, 200, "OK")
    assert (result.content_type, result.server, result.content_length) == ("text/html", "loop", 67)
    assert result.title == "Hello" and "the page" in result.snippet
    assert result.bytes_read == len(PAGE) and not result.truncated and not result.binary
    assert result.attempts == 1 and result.tls is None
    assert result.elapsed_ms is not None and result.queued_ms is not None and result.fetched_at


def test_a_response_that_fails_the_success_policy_is_not_ok() -> None:
    ticket, trail = _sent()
    response = trail.response = _response(200)
    settings = Settings(success=SuccessSettings(expect_text="absent"))
    result = response_result(_item(), settings, ticket, Outcome(response, Body(PAGE, complete=True), trail=trail))
    assert not result.ok and result.status == 200
    assert result.error is not None and result.error.type == ErrorType.ExpectFailed

    ticket, trail = _sent()
    response = trail.response = _response(503)
    result = response_result(_item(), Settings(), ticket, Outcome(response, Body(b"", complete=True), trail=trail))
    assert not result.ok and result.error is None and result.status == 503  # a status, not an error


def test_a_failure_keeps_the_redirects_followed_and_masks_the_message() -> None:
    secret_url = "http://user:hunter2@127.0.0.1:9/start"
    ticket, trail = _sent(secret_url)
    trail.redirects.append((parse(secret_url), 302))
    trail.last = parse("http://127.0.0.1:9/next")
    error = ErrorInfo(ErrorType.ReadTimeout, "timed out reading http://user:hunter2@127.0.0.1:9/start")
    result = failure_result(_item(secret_url), Settings(), ticket, error, None, Outcome(error=error, trail=trail))
    assert not result.ok and result.status is None
    assert result.error is not None and result.error.type == ErrorType.ReadTimeout
    assert "hunter2" not in result.error.message
    assert len(result.redirects) == 1 and result.redirects[0].status == 302
    assert "hunter2" not in result.redirects[0].url
    assert result.timing is not None and result.timing.ttfb_ms is None  # failed: no time to first byte
    assert result.attempts == 1 and result.elapsed_ms is not None


def test_a_failure_before_any_request_has_no_times() -> None:
    ticket = Ticket()
    result = failure_result(_item(), Settings(), ticket, ErrorInfo(ErrorType.InvalidURL, "bad"))
    assert not result.ok and result.attempts == 0
    assert result.elapsed_ms is None and result.queued_ms is None and result.fetched_at
    assert result.redirects == () and result.timing is None


def test_a_try_cut_short_keeps_the_status_and_the_body_read() -> None:
    ticket, trail = _sent()
    trail.response = _response(200, content_type="text/html")
    trail.body = [PAGE[:30], PAGE[30:40]]
    error = ErrorInfo(ErrorType.TotalTimeout, "gave up after --max-time 1 s")
    result = cut_short_result(_item(), Settings(), ticket, error)
    assert not result.ok and result.status == 200 and result.content_type == "text/html"
    assert result.bytes_read == 40 and result.title == "Hello"  # read before the stall
    assert result.error == error and result.elapsed_ms is not None

    stopped = cut_short_result(_item(), Settings(), ticket, ErrorInfo(ErrorType.Cancelled, "stop"), elapsed=False)
    assert stopped.status == 200 and stopped.elapsed_ms is None  # a stop's time is not the URL's


def test_a_try_cut_short_before_its_headers_came() -> None:
    ticket, trail = _sent()
    trail.redirects.append((parse(URL), 301))
    trail.last = parse("http://127.0.0.1:9/moved")
    result = cut_short_result(_item(), Settings(), ticket, ErrorInfo(ErrorType.TotalTimeout, "gave up"))
    assert result.status is None and result.final_url == "http://127.0.0.1:9/moved"
    assert [r.status for r in result.redirects] == [301]


def test_urls_never_sent() -> None:
    never = unfinished_result(_item(), ErrorType.NotStarted, "not started: stopped by Ctrl-C")
    assert not never.ok and never.attempts == 0 and never.queued_ms is None
    assert never.error == ErrorInfo(ErrorType.NotStarted, "not started: stopped by Ctrl-C")

    ticket, trail = _sent()
    trail.response = _response(200)
    cancelled = unfinished_result(_item(), ErrorType.Cancelled, "cancelled", ticket, Settings())
    assert cancelled.status == 200 and cancelled.attempts == 1 and cancelled.elapsed_ms is None

    bad = invalid_result(UrlItem(index=0, raw="::", url=None))
    assert not bad.ok and bad.error is not None and bad.error.type == ErrorType.InvalidURL

    fault = internal_error_result(_item(), KeyError("internal detail"))
    assert fault.error == ErrorInfo(ErrorType.Unexpected, "internal error: KeyError while fetching this URL")
