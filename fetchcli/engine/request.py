"""One URL -> one ``FetchResult``: send (following redirects when asked), read at most the
body cap, build the record. Never raises for anything the network or the input can do."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from typing import Any

import httpx

from fetchcli.engine.politeness import Gate, Lane
from fetchcli.engine.retry import RETRY_MARGIN, backoff_seconds, hinted_seconds, may_resend, may_retry, wait_text
from fetchcli.engine.servertext import ServerText
from fetchcli.engine.snippet import Body, body_text, read_body
from fetchcli.engine.ticket import Ticket
from fetchcli.engine.ticket import Trail as _Trail
from fetchcli.engine.ticket import now_iso as _now_iso
from fetchcli.errors import (
    InvalidRequestURL,
    TotalTimeout,
    UnsupportedRedirect,
    classify,
    internal_error,
)
from fetchcli.errortype import ErrorType
from fetchcli.models import ErrorInfo, FetchResult, Redirect, Timing, TlsInfo, UrlItem
from fetchcli.redact import Redactor, is_secret_header
from fetchcli.settings import Settings
from fetchcli.text import clean_line
from fetchcli.transport import tls as tls_facts
from fetchcli.transport.client import OWN_TRANSPORT, leaves_origin
from fetchcli.transport.hints import BAD_LOCATION, CURRENT, PEER_EXTENSION, SSL_EXTENSION, PhaseClock, since
from fetchcli.transport.protocol import status_problem
from fetchcli.transport.proxies import proxy_for
from fetchcli.urls import scheme_added


def _header_int(value: str | None) -> int | None:
    if value is not None and value.strip().isdigit():
        return int(value)
    return None


def invalid_result(item: UrlItem) -> FetchResult:
    error = item.error or ErrorInfo(ErrorType.InvalidURL, "invalid URL")
    return FetchResult(index=item.index, url=item.display_url, ok=False, fetched_at=_now_iso(), error=error)


def unfinished_result(
    item: UrlItem, error_type: ErrorType, message: str, ticket: Ticket | None = None, settings: Settings | None = None
) -> FetchResult:
    """A URL cancelled in flight (``Cancelled``) or never started (``NotStarted``). With the
    ``ticket`` of a URL that was sent: its tries, when it was sent and how long it had waited
    (no ``elapsed_ms``: the stop cut it short, it is not the URL's time); with ``settings`` too,
    what was known, as for ``TotalTimeout`` (``_cut_short``): the status received, the redirects."""
    if ticket is not None and ticket.sent is not None and ticket.trail is not None and settings is not None:
        return _cut_short(item, settings, ticket, ErrorInfo(error_type, message), elapsed=False)
    if ticket is None or ticket.sent is None:
        return FetchResult(
            index=item.index,
            url=item.display_url,
            ok=False,
            fetched_at=_now_iso(),
            error=ErrorInfo(error_type, message),
            attempts=ticket.attempts if ticket is not None else 0,
            queued_ms=_waited_unsent(ticket),
        )
    return FetchResult(
        index=item.index,
        url=item.display_url,
        ok=False,
        fetched_at=ticket.fetched_at(),
        error=ErrorInfo(error_type, message),
        attempts=ticket.attempts,
        queued_ms=ticket.queued_ms(),
    )


def _waited_unsent(ticket: Ticket | None) -> float | None:
    """``queued_ms`` of a URL none of whose requests left the pool: the whole wait, from when
    it was read to its record; None when no request was even tried (never started)."""
    return ticket.queued_ms() if ticket is not None and ticket.trail is not None else None


def internal_error_result(item: UrlItem, exc: BaseException) -> FetchResult:
    """The record of a URL whose fetch raised instead of returning one (a fault in fetchcli):
    ``Unexpected``, naming the exception's type (``errors.internal_error``)."""
    error = internal_error(exc)
    return unfinished_result(item, error.type, error.message)


def _build_request(client: httpx.AsyncClient, method: str, url: str) -> httpx.Request:
    """What ``client.build_request(method, url)`` builds, without its per-request merging: the
    URL is absolute (no base URL to join), there are no query parameters to merge and no cookies
    (the jar keeps none), so the client's headers and timeout are all there is to take (merging them,
    and copying an empty cookie jar, was 4% of the CPU per request)."""
    try:
        return httpx.Request(method, url, headers=client.headers, extensions={"timeout": client.timeout.as_dict()})
    except Exception as exc:  # httpx.InvalidURL, idna's errors (UnicodeError subclasses), ...
        raise InvalidRequestURL(str(exc) or "invalid URL") from exc


async def send(client: httpx.AsyncClient, request: httpx.Request, follow_redirects: bool) -> httpx.Response:
    """``client.send(request, stream=True)``, straight to the transport of a client of
    ``build_client`` when that is all it would do: no redirect to work out (``-L`` off), no
    credentials in the URL (httpx's auth turns them into Authorization). What it skips, per
    request: an auth flow generator, the hooks (fetchcli's one is for redirects), a stream
    wrapper timing ``response.elapsed`` (the record times itself), the cookie jar (none), a log
    call. About 8% of the CPU per request (docs/performance.md)."""
    transport = None if follow_redirects or request.url.userinfo else OWN_TRANSPORT.get(client)
    if transport is None:
        return await client.send(request, stream=True)
    try:
        response = await transport.handle_async_request(request)
    except httpx.RequestError as exc:
        try:
            exc.request  # noqa: B018 - set by the transport?
        except RuntimeError:
            exc.request = request  # as AsyncClient.send's request_context does
        raise
    response.request = request
    return response


@dataclass(slots=True)
class _Outcome:
    response: httpx.Response | None = None
    body: Body | None = None
    error: ErrorInfo | None = None
    trail: _Trail | None = None
    heard: bool = False  # a server answered some request of these tries (or of an earlier try)


# What a kept-alive connection the server closed gives the request sent on it.
_DROPPED = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


async def _resend(
    client: httpx.AsyncClient, request: httpx.Request, follow_redirects: bool, trail: _Trail, ticket: Ticket
) -> tuple[httpx.Response, PhaseClock, float]:
    """Send ``request`` once more, on a new connection (see ``_exchange``): the response, the
    clock of this request and when it was sent. Counted in ``attempts``, not as a --retries try."""
    clock = trail.clock = PhaseClock(fresh=True)
    token = CURRENT.set(clock)
    started = time.perf_counter()
    ticket.sending(clock, started, None)
    try:
        return await send(client, request, follow_redirects), clock, started
    finally:
        CURRENT.reset(token)
        if clock.unsent:
            ticket.unsent(clock)


async def _exchange(
    client: httpx.AsyncClient,
    request: httpx.Request,
    settings: Settings,
    trail: _Trail,
    ticket: Ticket,
    polite: tuple[Gate, Lane] | None = None,
) -> _Outcome:
    """One try: send, follow redirects if asked, read at most the body cap of each response.
    ``polite``: the run's politeness, which a request sent again waits for too."""
    req = settings.request
    while True:
        trail.last = request.url
        trail.response = None
        clock = trail.clock = PhaseClock()
        token = CURRENT.set(clock)
        started = time.perf_counter()
        ticket.sending(clock, started, settings.timeouts.total)  # each hop is a request sent
        response: httpx.Response | None = None
        try:
            response = await send(client, request, req.follow_redirects)
        except _DROPPED:
            # Failed on a kept-alive connection before any byte of an answer: the server closed
            # it while it lay idle, most likely without reading the request. Sent once more, on
            # a new connection, when retry.may_resend allows the method, whatever --retries
            # says; counted in attempts. The transport tells the clock what it knows.
            if not clock.reused or clock.answered or not may_resend(request.method, settings.retry):
                raise
        finally:
            CURRENT.reset(token)
            if clock.unsent:  # it never left the pool (PoolTimeout, or cancelled while waiting)
                ticket.unsent(clock)
        if response is None:  # sent again outside the handler: its own error is the one reported
            if polite is not None:  # --rate, --host-rate: the resend is a request to the host too
                await polite[0].pace(request.url.host, polite[1])
            response, clock, started = await _resend(client, request, req.follow_redirects, trail, ticket)
        clock.ttfb_ms = since(started + clock.pool_s)  # from sending: not the wait for a connection
        trail.response = response
        status = response.status_code
        if status < 200 or status > 599:  # 1xx are skipped by both backends: only 101 comes here
            problem = status_problem(status, "upgrade" in request.headers)
            if problem is not None:
                await response.aclose()
                raise httpx.RemoteProtocolError(problem, request=request)
        trail.body = []  # what has come, should --max-time cut the read (_cut_short)
        try:
            body = await read_body(
                response.aiter_raw(),
                response.headers.get("content-encoding"),
                settings.body.max_body_bytes,
                read_all=settings.body.read_all,
                parts=trail.body,
            )
        finally:
            await response.aclose()
        trail.body = None
        next_request = response.next_request
        # A Location -L cannot follow (client.redirect_problem): InvalidRedirect or UnsupportedRedirect.
        unfollowable = response.extensions.get(BAD_LOCATION) if req.follow_redirects else None
        if not req.follow_redirects or (next_request is None and unfollowable is None):
            return _Outcome(response, body, trail=trail)
        trail.redirects.append((request.url, response.status_code))  # shown in the record: _redirects
        if len(trail.redirects) > req.max_redirects:
            raise httpx.TooManyRedirects(f"more than {req.max_redirects} redirects", request=request)
        if isinstance(unfollowable, Exception):
            raise unfollowable
        assert next_request is not None
        if next_request.url.scheme not in ("http", "https"):
            raise UnsupportedRedirect(f"redirect to unsupported URL scheme {next_request.url.scheme!r}")
        # httpx drops Authorization when a redirect leaves the origin; the other secret headers
        # go with Authorization; a proxy's credentials never reach a server; and Cookie goes on
        # every redirect, whatever a client's cookie jar holds (httpx adds the jar's cookies to
        # the next request): URLs are independent probes, as with curl.
        next_request.headers.pop("Proxy-Authorization", None)
        next_request.headers.pop("Cookie", None)
        if leaves_origin(request.url, next_request.url):
            extra = req.secret_headers
            for name in {name for name in next_request.headers if is_secret_header(name, extra)}:
                next_request.headers.pop(name, None)
        request = next_request


_HEADERS_READ = (b"content-type", b"content-length", b"server")


def _headers_read(response: httpx.Response) -> dict[bytes, str]:
    """The headers a record shows, in one pass over the response's (``Headers.get`` walks them
    all for each name), as ``Headers.get`` gives them: decoded alike, repeats joined by ", "."""
    found: dict[bytes, str] = {}
    encoding = response.headers.encoding
    for name, value in response.headers.raw:
        key = name.lower()
        if key in _HEADERS_READ:
            text = value.decode(encoding)
            found[key] = f"{found[key]}, {text}" if key in found else text
    return found


def _charset(response: httpx.Response, content_type: str | None) -> str | None:
    """``response.charset_encoding`` (which parses the header with ``email.message``), asked only
    when the header names a charset at all."""
    if content_type is None or "charset" not in content_type.lower():
        return None
    return response.charset_encoding


def _timing(outcome: _Outcome) -> Timing | None:
    """The phases of the last request; no ``ttfb_ms`` when it failed (a body broken right after
    its headers fails while sending on one backend and while reading on the other)."""
    clock = outcome.trail.clock if outcome.trail is not None else None
    if clock is None:
        return None
    if outcome.response is None:  # failed (RetryAfterTooLong keeps its response, and its ttfb)
        clock.ttfb_ms = None
    return clock.freeze()


def _redirects(trail: _Trail | None, shown: ServerText) -> tuple[Redirect, ...]:
    """The redirects followed, as the record shows them (their URLs came from servers)."""
    return tuple(Redirect(shown.url(url), status) for url, status in trail.redirects) if trail is not None else ()


def _server_text(settings: Settings, item: UrlItem, trail: _Trail | None) -> ServerText:
    """How the record of ``item`` shows what servers said: the run's secrets masked, and the
    passwords of the URL asked first and last (a redirect's target may carry credentials)."""
    assert item.url is not None
    if trail is None or not trail.last.userinfo:  # the common case: no credentials from a redirect
        return ServerText(Redactor.for_request(settings.request, item.url))
    return ServerText(Redactor.for_request(settings.request, item.url, trail.last))


def _connection_info(response: httpx.Response, extension: str, info: str) -> Any:
    """A fact of the connection the response came on: told by the aiohttp transport (in
    ``extension``), or read from httpx's own network stream (``get_extra_info(info)``)."""
    told = response.extensions.get(extension)
    if told is None:
        stream = response.extensions.get("network_stream")
        told = stream.get_extra_info(info) if stream is not None else None
    return told


def _peer(response: httpx.Response) -> tuple[str | None, int | None]:
    """The IP address and port the response came from."""
    peer = _connection_info(response, PEER_EXTENSION, "server_addr")
    if isinstance(peer, tuple) and len(peer) >= 2:
        return str(peer[0]), int(peer[1])
    return None, None


def _tls(response: httpx.Response, settings: Settings) -> TlsInfo | None:
    """The TLS facts of the connection the response came on (None for http://)."""
    if response.url.scheme != "https":
        return None
    ssl_object = _connection_info(response, SSL_EXTENSION, "ssl_object")
    return tls_facts.from_ssl_object(ssl_object, verified=None if settings.request.insecure else True)


async def _unverified_tls(outcome: _Outcome, settings: Settings, left: float | None) -> TlsInfo | None:
    """After ``CertificateError``: what the server presents, read by one more handshake (not
    through a proxy, which would have to be asked for another tunnel: then None), within the
    connect timeout and the ``left`` seconds of ``--max-time`` (None: no limit), else None."""
    if outcome.error is None or outcome.error.type != ErrorType.CertificateError or outcome.trail is None:
        return None
    url, req = outcome.trail.last, settings.request
    if proxy_for(url.scheme, url.host, req.proxy, req.proxy_by_scheme, req.no_proxy) is not None:
        return None
    timeout = settings.timeouts.phase(settings.timeouts.connect)
    if left is not None:
        if left <= 0:
            return None
        timeout = left if timeout is None else min(timeout, left)
    return await tls_facts.probe(url.raw_host.decode("ascii"), url.port or 443, timeout)


def _expiring(tls: TlsInfo | None, settings: Settings) -> ErrorInfo | None:
    """``CertificateExpiring`` when ``--cert-expiry-days N`` is set and the certificate has fewer
    than N whole days left."""
    days = settings.success.cert_expiry_days
    if days is None or tls is None or tls.days_left is None or tls.days_left >= days:
        return None
    when = f"expired {-tls.days_left} days ago" if tls.days_left < 0 else f"expires in {tls.days_left} days"
    return ErrorInfo(
        ErrorType.CertificateExpiring, f"the certificate {when} ({tls.not_after}), within --cert-expiry-days {days}"
    )


def _unmet_expectation(text: str, settings: Settings) -> ErrorInfo | None:
    """``ExpectFailed`` when the body read does not contain ``--expect-text`` or match
    ``--expect-regex``; None when it does, or nothing is expected."""
    success = settings.success
    if not success.checks_body:
        return None
    if success.expect_text is not None and success.expect_text not in text:
        return ErrorInfo(ErrorType.ExpectFailed, f"the body read does not contain {clean_line(success.expect_text)!r}")
    if success.expect_regex is not None and re.search(success.expect_regex, text) is None:
        return ErrorInfo(ErrorType.ExpectFailed, f"the body read does not match {clean_line(success.expect_regex)!r}")
    return None


def _retry_wait(outcome: _Outcome, method: str, attempt: int, settings: Settings) -> float | None:
    """Seconds to wait before another try, or None when this outcome is final (see retry.py)."""
    policy = settings.retry
    if attempt > policy.retries:
        return None
    response = outcome.response
    status = response.status_code if response is not None else None
    if not may_retry(method, outcome.error.type if outcome.error is not None else None, status, policy):
        return None
    retry_after = response.headers.get("retry-after") if response is not None else None
    return backoff_seconds(attempt, policy, retry_after, status)


def _too_long(outcome: _Outcome, wait: float, ticket: Ticket, tried: float) -> bool:
    """Whether a wait of ``wait`` seconds would leave too little of the URL's ``--max-time`` or
    the run's ``--deadline`` for one more try (``RETRY_MARGIN``, or ``tried``, the seconds the
    last try took, if longer): then it is not made, and ``outcome`` is final (not cut short by the
    stop after sleeping into it). A response whose ``Retry-After`` asked for that wait gets
    ``RetryAfterTooLong``, saying so."""
    left = ticket.time_left()
    if left is None or wait + max(RETRY_MARGIN, tried) < left[0]:
        return False
    response = outcome.response
    if response is not None:
        asked = hinted_seconds(response.headers.get("retry-after"), response.status_code)
        if asked is not None:
            outcome.error = ErrorInfo(
                ErrorType.RetryAfterTooLong,
                f"the server asked to wait {wait_text(asked)} before a retry (Retry-After), too long for the"
                f" {max(left[0], 0):.1f} s {left[1]} left: not retried",
            )
    return True


async def _attempts(
    client: httpx.AsyncClient,
    request: httpx.Request,
    settings: Settings,
    lane: Lane | None,
    gate: Gate | None,
    ticket: Ticket,
) -> _Outcome:
    """Try ``request`` as the retry policy allows. The outcome is the last try's; ``heard`` says
    whether any try got an answer (a response, or a redirect followed)."""
    host = request.url.host
    polite = (gate, lane) if gate is not None and lane is not None else None
    tries = 0  # as --retries counts them (ticket.attempts also counts a request sent again)
    heard = False
    while True:
        if gate is not None and lane is not None:
            await gate.enter(host, lane)
        tries += 1
        trail = ticket.trail = _Trail(request.url)
        began = time.perf_counter()
        try:
            outcome = await _exchange(client, request, settings, trail, ticket, polite)
        except Exception as exc:  # noqa: BLE001 - every failure is classified into the vocabulary
            outcome = _Outcome(
                error=classify(exc, Redactor.for_request(settings.request, request.url, trail.last)), trail=trail
            )
        finally:
            if gate is not None and lane is not None:
                gate.leave(host)
        heard = outcome.heard = heard or trail.response is not None or bool(trail.redirects)
        wait = _retry_wait(outcome, request.method, tries, settings)
        if wait is None or _too_long(outcome, wait, ticket, time.perf_counter() - began):
            return outcome
        if lane is not None:
            await lane.park(asyncio.sleep(wait))  # other URLs use our slot meanwhile
        else:
            await asyncio.sleep(wait)


# What makes --scheme-fallback try http:// for an input without a scheme: the https:// try met a
# server that does not speak TLS (a plain HTTP server answers the handshake with text:
# WRONG_VERSION_NUMBER) or a port nothing listens on (as ProjectDiscovery's httpx probes), on the
# input URL's own connection: never after any answer (a redirect followed, a response), and only
# once --retries gave up.
FALLBACK_ON = frozenset({ErrorType.TLSError, ErrorType.ConnectionRefused})
_NO_SCHEME_HINT = "the input has no scheme, so https:// was tried; --scheme-fallback tries http:// next"


def _secret_sent(request: httpx.Request, settings: Settings) -> str | None:
    """What of ``request`` the user keeps secret (a secret header, by name; credentials in the
    URL), which a fallback to http:// would send in cleartext; None when nothing."""
    if request.url.userinfo:
        return "credentials in the URL"
    extra = settings.request.secret_headers
    for name in request.headers:
        if is_secret_header(name, extra):
            return f"a secret header ({clean_line(name)})"
    return None


def _fallback_refused(first: ErrorInfo, secret: str) -> ErrorInfo:
    """The https:// failure, saying why --scheme-fallback did not try http://."""
    return ErrorInfo(
        first.type,
        f"{first.message} (--scheme-fallback did not try http://: the request carries {secret},"
        " which is never sent in cleartext; give the URL with its scheme to choose)",
    )


async def _over_http(
    client: httpx.AsyncClient,
    url: str,
    first: ErrorInfo,
    settings: Settings,
    lane: Lane | None,
    gate: Gate | None,
    ticket: Ticket,
) -> _Outcome:
    """``--scheme-fallback``: the https:// URL added to an input without a scheme failed with
    ``first`` (one of ``FALLBACK_ON``); try it over http://. A failure again says both."""
    request = _build_request(client, settings.request.method, "http" + url[len("https") :])
    outcome = await _attempts(client, request, settings, lane, gate, ticket)
    if outcome.error is not None:
        told = f"{outcome.error.message} (over http://, after https:// failed: {first.type})"
        outcome.error = ErrorInfo(outcome.error.type, told)
    return outcome


async def fetch_one(
    client: httpx.AsyncClient,
    item: UrlItem,
    settings: Settings,
    lane: Lane | None = None,
    gate: Gate | None = None,
    ticket: Ticket | None = None,
) -> FetchResult:
    """Fetch one valid URL (with retries, politeness and redirects as set) and never raise
    (except ``CancelledError`` from outside). ``--max-time`` bounds all tries together, from the
    first request. ``ticket``: the engine's, to read if it cancels the URL (else one of its own)."""
    assert item.url is not None
    if ticket is None:
        ticket = Ticket()
    error: ErrorInfo
    tls: TlsInfo | None = None
    redirects: tuple[Redirect, ...] = ()
    timing: Timing | None = None
    try:
        request = _build_request(client, settings.request.method, item.url)
        outcome = await _attempts(client, request, settings, lane, gate, ticket)
        first = outcome.error
        # Only a failure of the https:// connection of the input URL itself, no answer heard.
        if first is not None and first.type in FALLBACK_ON and not outcome.heard and scheme_added(item):
            if not settings.request.scheme_fallback:
                outcome.error = ErrorInfo(first.type, f"{first.message} ({_NO_SCHEME_HINT})")
            elif (secret := _secret_sent(request, settings)) is not None:
                outcome.error = _fallback_refused(first, secret)
            else:
                outcome = await _over_http(client, item.url, first, settings, lane, gate, ticket)
        left = ticket.disarm()
        if outcome.response is None:
            assert outcome.error is not None
            error = outcome.error
            tls = await _unverified_tls(outcome, settings, left)  # bounded by what --max-time left
            redirects = _redirects(outcome.trail, _server_text(settings, item, outcome.trail))
            timing = _timing(outcome)
        else:
            response, body = outcome.response, outcome.body
            assert body is not None
            headers = _headers_read(response)
            content_type = headers.get(b"content-type")
            text, binary = body_text(body.data, _charset(response, content_type))  # once, for all that reads it
            server = headers.get(b"server")
            remote_ip, remote_port = _peer(response)
            tls = _tls(response, settings)
            unmet = outcome.error or _expiring(tls, settings) or _unmet_expectation(text, settings)
            # What reading the body's text costs is part of the URL's time (elapsed_ms comes last).
            shown = _server_text(settings, item, outcome.trail)
            title = None if binary else shown.title(text)
            snippet = "" if binary else shown.snippet(text, settings.body.snippet_length)
            return FetchResult(
                index=item.index,
                url=item.display_url,
                ok=unmet is None and settings.success.status_ok(response.status_code),
                error=unmet,
                status=response.status_code,
                reason=shown.line(response.reason_phrase),
                http_version=response.http_version,
                final_url=shown.url(response.url),
                redirects=_redirects(outcome.trail, shown),
                content_type=shown.optional(content_type),
                content_length=_header_int(headers.get(b"content-length")),
                server=shown.optional(server),
                title=title,
                remote_ip=remote_ip,
                remote_port=remote_port,
                bytes_read=body.size if body.size is not None else len(body.data),
                sha256=body.sha256,
                truncated=not body.complete,
                binary=binary,
                snippet=snippet,
                fetched_at=ticket.fetched_at(),
                attempts=ticket.attempts,
                tls=tls,
                timing=_timing(outcome),
                queued_ms=ticket.queued_ms(),
                elapsed_ms=ticket.elapsed_ms(),  # last: the arguments above are evaluated before it
            )
    except asyncio.CancelledError:
        if not ticket.expired:
            ticket.disarm()
            raise
        task = asyncio.current_task()
        if task is not None and hasattr(task, "uncancel"):
            task.uncancel()
        message = f"gave up after --max-time {settings.timeouts.max_time:g} s"
        return _cut_short(item, settings, ticket, classify(TotalTimeout(message)))
    except Exception as exc:  # noqa: BLE001 - every failure the network or input can cause becomes a record
        ticket.disarm()
        error = classify(exc, Redactor.for_request(settings.request, item.url))
    error = ErrorInfo(error.type, Redactor.for_request(settings.request, item.url)(error.message))  # once more
    sent = ticket.sent is not None
    return FetchResult(
        index=item.index,
        url=item.display_url,
        ok=False,
        elapsed_ms=ticket.elapsed_ms() if sent else None,
        queued_ms=ticket.queued_ms() if sent else _waited_unsent(ticket),
        fetched_at=ticket.fetched_at() if sent else _now_iso(),
        error=error,
        attempts=ticket.attempts,
        tls=tls,
        redirects=redirects,
        timing=timing,
    )


def _cut_short(
    item: UrlItem, settings: Settings, ticket: Ticket, error: ErrorInfo, elapsed: bool = True
) -> FetchResult:
    """``error`` (``TotalTimeout``; ``Cancelled`` by a stop: then no ``elapsed_ms``), with what
    was known when it stopped the try in progress (or the last try, when it came between tries):
    the redirects followed, the phases timed and, when the last response's headers had come (the
    body stalled, or a 503 was waiting out its Retry-After), its status, reason, version, URL and
    headers, and the connection's facts, as curl keeps the status with its error 28, and the body
    read so far (``bytes_read``, ``snippet``, ``title``). Without the last response's headers,
    ``final_url`` is the URL asked last (a redirect's target)."""
    assert item.url is not None
    redact = Redactor.for_request(settings.request, item.url)
    error = ErrorInfo(error.type, redact(error.message))
    trail = ticket.trail
    response = trail.response if trail is not None else None
    shown = _server_text(settings, item, trail)
    redirects = _redirects(trail, shown)
    timing = trail.clock.freeze() if trail is not None and trail.clock is not None else None
    if trail is None or response is None:
        sent = ticket.sent is not None  # not when its only request waited in the pool
        return FetchResult(
            index=item.index,
            url=item.display_url,
            ok=False,
            final_url=shown.url(trail.last) if trail is not None and trail.redirects else None,
            redirects=redirects,
            timing=timing,
            fetched_at=ticket.fetched_at() if sent else _now_iso(),
            error=error,
            attempts=ticket.attempts,
            queued_ms=ticket.queued_ms() if sent else _waited_unsent(ticket),
            elapsed_ms=ticket.elapsed_ms() if sent and elapsed else None,
        )
    headers = _headers_read(response)
    content_type, server = headers.get(b"content-type"), headers.get(b"server")
    remote_ip, remote_port = _peer(response)
    data = b"".join(trail.body) if trail.body else b""
    text, binary = body_text(data, _charset(response, content_type)) if data else ("", False)
    return FetchResult(
        index=item.index,
        url=item.display_url,
        ok=False,
        bytes_read=len(data),
        binary=binary,
        title=None if binary or not data else shown.title(text),
        snippet="" if binary else shown.snippet(text, settings.body.snippet_length),
        status=response.status_code,
        reason=shown.line(response.reason_phrase),
        http_version=response.http_version,
        final_url=shown.url(response.url),
        redirects=redirects,
        timing=timing,
        content_type=shown.optional(content_type),
        content_length=_header_int(headers.get(b"content-length")),
        server=shown.optional(server),
        remote_ip=remote_ip,
        remote_port=remote_port,
        tls=_tls(response, settings),
        fetched_at=ticket.fetched_at(),
        error=error,
        attempts=ticket.attempts,
        queued_ms=ticket.queued_ms(),
        elapsed_ms=ticket.elapsed_ms() if elapsed else None,
    )
