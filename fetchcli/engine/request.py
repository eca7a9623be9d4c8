"""One URL -> one ``FetchResult``: send (following redirects when asked), read at most the
body cap, retry as the policy allows; ``records.py`` builds the record from what came of it.
Never raises for anything the network or the input can do."""

from __future__ import annotations

import asyncio
import dataclasses
import time

from fetchcli.engine.allips import pinned, with_address
from fetchcli.engine.asking import (
    FALLBACK_ON,
    NO_SCHEME_HINT,
    ask,
    build_request,
    conditional,
    fallback_refused,
    secret_sent,
)
from fetchcli.engine.jqcheck import checks_for, time_limit, whole_body
from fetchcli.engine.politeness import Gate, Lane

# The records are built in records.py.
from fetchcli.engine.records import Outcome, cut_short_result, failure_result, redactor_of, response_result
from fetchcli.engine.redirect import (
    REDIRECT_STATUSES,
    next_request,
    redirect_problem,
    redirect_target,
)
from fetchcli.engine.retry import RETRY_MARGIN, backoff_seconds, hinted_seconds, may_resend, may_retry, wait_text
from fetchcli.engine.savefile import SavePart, copy_missing, keep, refuse_by_length, saver_for
from fetchcli.engine.snippet import Body, read_body
from fetchcli.engine.ticket import Ticket
from fetchcli.engine.ticket import Trail as _Trail
from fetchcli.errors import (
    ProtocolBroken,
    ReadFailed,
    TooManyRedirects,
    TotalTimeout,
    WriteFailed,
    classify,
)
from fetchcli.errortype import ErrorType
from fetchcli.models import ErrorInfo, FetchResult, TlsInfo, UrlItem
from fetchcli.redact import Redactor
from fetchcli.settings import Settings
from fetchcli.transport import tls as tls_facts
from fetchcli.transport.addressmap import PIN, AddressMap
from fetchcli.transport.contract import Wire, WireRequest, WireResponse
from fetchcli.transport.hints import CURRENT, PhaseClock, since
from fetchcli.transport.protocol import status_problem
from fetchcli.transport.proxies import proxy_for
from fetchcli.urls import scheme_added

# What a kept-alive connection the server closed gives the request sent on it.
_DROPPED = (ProtocolBroken, ReadFailed, WriteFailed)


async def _resend(
    wire: Wire, request: WireRequest, trail: _Trail, ticket: Ticket
) -> tuple[WireResponse, PhaseClock, float]:
    """Send ``request`` once more, on a new connection (see ``_exchange``): the response, the
    clock of this request and when it was sent. Counted in ``attempts``, not as a --retries try."""
    clock = trail.clock = PhaseClock(fresh=True)
    token = CURRENT.set(clock)
    started = time.perf_counter()
    ticket.sending(clock, started, None)
    try:
        return await wire.send(request), clock, started
    finally:
        CURRENT.reset(token)
        if clock.unsent:
            ticket.unsent(clock)


async def _exchange(
    wire: Wire,
    request: WireRequest,
    settings: Settings,
    trail: _Trail,
    ticket: Ticket,
    polite: tuple[Gate, Lane] | None = None,
) -> Outcome:
    """One try: send, follow redirects if asked, read at most the body cap of each response.
    ``polite``: the run's politeness, which a request sent again waits for too."""
    req = settings.request
    while True:
        if trail.redirects and polite is not None:  # --rate, --host-rate: a redirect hop is a request too
            await polite[0].pace(request.url.host, polite[1])
        trail.last, trail.method = request.url, request.method
        trail.response = None
        clock = trail.clock = PhaseClock(fresh=PIN.get() is not None)  # --all-ips: a new connection per address
        token = CURRENT.set(clock)
        started = time.perf_counter()
        ticket.sending(clock, started, settings.timeouts.total)  # each hop is a request sent
        response: WireResponse | None = None
        try:
            response = await wire.send(request)
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
            response, clock, started = await _resend(wire, request, trail, ticket)
        clock.ttfb_ms = since(started + clock.pool_s)  # from sending: not the wait for a connection
        trail.response = response
        status = response.status
        if status < 200 or status > 599:  # 1xx are skipped by both backends: only 101 comes here
            problem = status_problem(status, request.header("upgrade") is not None)
            if problem is not None:
                await response.aclose()
                raise ProtocolBroken(problem)
        location = response.headers.get("location") if req.follow_redirects and status in REDIRECT_STATUSES else None
        trail.body = []  # what has come, should --max-time cut the read (records.cut_short_result)
        part: SavePart | None = None
        try:
            # A 304 saves nothing: the copy saved before is left as it was (as curl -o leaves it).
            if location is None and settings.body.save_dir is not None and request.method != "HEAD" and status != 304:
                headers, limit = response.headers, settings.body.max_save_bytes
                if status != 204:  # no body, whatever Content-Length says (RFC 9110)
                    refuse_by_length(headers.get("content-length"), headers.get("content-encoding"), limit)
                part = saver_for(settings.body.save_dir).part(limit)
            body = await read_body(
                response.aiter_raw(),
                response.headers.get("content-encoding"),
                settings.body.max_body_bytes,
                read_all=settings.body.read_all,
                parts=trail.body,
                sink=part.write if part is not None else None,
            )
        except BaseException:
            if part is not None:
                part.discard()
            raise
        finally:
            await response.aclose()
        trail.body = None
        if location is None:
            return Outcome(response, body, trail=trail, saved=part)
        trail.redirects.append((request.url, status))  # shown in the record: _redirects
        if len(trail.redirects) > req.max_redirects:
            raise TooManyRedirects(f"more than {req.max_redirects} redirects")
        # A Location -L cannot follow: InvalidRedirect or UnsupportedRedirect.
        unfollowable = redirect_problem(request.url, location)
        if unfollowable is not None:
            raise unfollowable
        request = next_request(request, status, redirect_target(request.url, location), req.secret_headers)


async def _unverified_tls(outcome: Outcome, settings: Settings, left: float | None) -> TlsInfo | None:
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
    port = url.port or 443
    connect = None
    mapped = AddressMap.for_request(req)
    if mapped:  # where the request's own connection went (--resolve, --connect-to, --all-ips)
        target, to, fixed = mapped.route(url.host, port)
        connect = (fixed[0] if fixed else target, to)
    return await tls_facts.probe(url.host, port, timeout, connect, mapped.socket_family)


def _retry_wait(outcome: Outcome, method: str, attempt: int, settings: Settings) -> float | None:
    """Seconds to wait before another try, or None when this outcome is final (see retry.py)."""
    policy = settings.retry
    if attempt > policy.retries:
        return None
    response = outcome.response
    status = response.status if response is not None else None
    if not may_retry(method, outcome.error.type if outcome.error is not None else None, status, policy):
        return None
    retry_after = response.headers.get("retry-after") if response is not None else None
    return backoff_seconds(attempt, policy, retry_after, status)


def _too_long(outcome: Outcome, wait: float, ticket: Ticket, tried: float) -> bool:
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
        asked = hinted_seconds(response.headers.get("retry-after"), response.status)
        if asked is not None:
            outcome.error = ErrorInfo(
                ErrorType.RetryAfterTooLong,
                f"the server asked to wait {wait_text(asked)} before a retry (Retry-After), too long for the"
                f" {max(left[0], 0):.1f} s {left[1]} left: not retried",
            )
    return True


async def _attempts(
    wire: Wire,
    request: WireRequest,
    settings: Settings,
    lane: Lane | None,
    gate: Gate | None,
    ticket: Ticket,
) -> Outcome:
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
            outcome = await _exchange(wire, request, settings, trail, ticket, polite)
        except Exception as exc:  # noqa: BLE001 - every failure is classified into the vocabulary
            outcome = Outcome(
                error=classify(exc, Redactor.for_request(settings.request, request.url, trail.last)), trail=trail
            )
        finally:
            if gate is not None and lane is not None:
                gate.leave(host)
        heard = outcome.heard = heard or trail.response is not None or bool(trail.redirects)
        wait = _retry_wait(outcome, request.method, tries, settings)
        if wait is None or _too_long(outcome, wait, ticket, time.perf_counter() - began):
            return outcome
        if outcome.saved is not None:  # --save: only the last try's body is kept
            outcome.saved.discard()
        if lane is not None:
            await lane.park(asyncio.sleep(wait))  # other URLs use our slot meanwhile
        else:
            await asyncio.sleep(wait)


# What makes --scheme-fallback try http:// for an input without a scheme: the https:// try met a
# server that does not speak TLS (a plain HTTP server answers the handshake with text:
# WRONG_VERSION_NUMBER) or a port nothing listens on (as ProjectDiscovery's httpx probes), on the
# input URL's own connection: never after any answer (a redirect followed, a response), and only
# once --retries gave up.
async def _over_http(
    wire: Wire,
    item: UrlItem,
    url: str,
    first: ErrorInfo,
    settings: Settings,
    lane: Lane | None,
    gate: Gate | None,
    ticket: Ticket,
) -> Outcome:
    """``--scheme-fallback``: the https:// URL added to an input without a scheme failed with
    ``first`` (one of ``FALLBACK_ON``); try it over http://. A failure again says both."""
    method, body, headers = ask(wire, item, settings)
    request = build_request(wire, method, "http" + url[len("https") :], body, headers)
    outcome = await _attempts(wire, request, settings, lane, gate, ticket)
    if outcome.error is not None:
        told = f"{outcome.error.message} (over http://, after https:// failed: {first.type})"
        outcome.error = ErrorInfo(outcome.error.type, told)
    return outcome


# --head-fallback: a HEAD answered so is asked again with GET; the GET's answer is the record's
# for these always, and for those only when it is a 2xx (a server that hides HEAD, lychee #27).
HEAD_REFUSED = frozenset({405, 501})
HEAD_NOT_FOUND = frozenset({403, 404})


async def _head_fallback(
    wire: Wire,
    item: UrlItem,
    outcome: Outcome,
    settings: Settings,
    lane: Lane | None,
    gate: Gate | None,
    ticket: Ticket,
) -> Outcome:
    """``--head-fallback``: the outcome of a GET of the URL, reading no body, when the HEAD's
    answer says so; else the HEAD's ``outcome``."""
    status = outcome.response.status if outcome.response is not None else None
    if status not in HEAD_REFUSED and status not in HEAD_NOT_FOUND:
        return outcome
    assert item.url is not None
    no_body = dataclasses.replace(
        settings, body=dataclasses.replace(settings.body, max_body_bytes=0, read_all=False, save_dir=None)
    )
    request = build_request(wire, "GET", item.url, None, ask(wire, item, settings)[2])
    got = await _attempts(wire, request, no_body, lane, gate, ticket)
    if status in HEAD_REFUSED:
        return got
    answered = got.response.status if got.response is not None else None
    return got if answered is not None and 200 <= answered < 300 else outcome


async def _judged(body: Body, settings: Settings) -> str | None:
    """Why the body fails ``--expect-jq``, or None: judged whole, in a child process (jqcheck)."""
    cut = whole_body(body.data, body.complete, body.size, settings)
    if cut is not None:
        return cut
    return await checks_for(settings).check(body.data, time_limit(settings))


async def fetch_one(
    wire: Wire,
    item: UrlItem,
    settings: Settings,
    lane: Lane | None = None,
    gate: Gate | None = None,
    ticket: Ticket | None = None,
) -> FetchResult:
    """Fetch one valid URL (with retries, politeness and redirects as set) and never raise
    (except ``CancelledError`` from outside). ``--max-time`` bounds all tries together, from the
    first request. ``ticket``: the engine's, to read if it cancels the URL (else one of its own).
    An item pinned to one address (``--all-ips``) goes there (``allips.pinned``)."""
    if item.address is not None:
        with pinned(item, settings):
            return with_address(await _fetch_one(wire, item, settings, lane, gate, ticket), item)
    return await _fetch_one(wire, item, settings, lane, gate, ticket)


async def _fetch_one(
    wire: Wire,
    item: UrlItem,
    settings: Settings,
    lane: Lane | None,
    gate: Gate | None,
    ticket: Ticket | None,
) -> FetchResult:
    assert item.url is not None
    if ticket is None:
        ticket = Ticket()
    judging = False
    outcome: Outcome | None = None
    try:
        method, body, headers = ask(wire, item, settings)
        request = build_request(wire, method, item.url, body, headers)
        if item.validators is not None:
            missing = copy_missing(settings.body, item, request.method)  # its --save copy: asked again
            sent = request if missing else conditional(request, item.validators)
            if sent is request:  # not sent (a POST, or the user's own): a 304 then is no not_modified
                item = dataclasses.replace(item, validators=None)
            request = sent
        assert item.url is not None
        outcome = await _attempts(wire, request, settings, lane, gate, ticket)
        if settings.request.head_fallback and request.method == "HEAD":
            outcome = await _head_fallback(wire, item, outcome, settings, lane, gate, ticket)
        first = outcome.error
        # Only a failure of the https:// connection of the input URL itself, no answer heard.
        if first is not None and first.type in FALLBACK_ON and not outcome.heard and scheme_added(item):
            if not settings.request.scheme_fallback:
                outcome.error = ErrorInfo(first.type, f"{first.message} ({NO_SCHEME_HINT})")
            elif (secret := secret_sent(request, settings)) is not None:
                outcome.error = fallback_refused(first, secret)
            else:
                outcome = await _over_http(wire, item, item.url, first, settings, lane, gate, ticket)
        if settings.success.expect_jq is not None and outcome.body is not None and outcome.error is None:
            judging = True
            outcome.jq_problem = await _judged(outcome.body, settings)
            judging = False
        left = ticket.disarm()
        if outcome.response is not None:
            if outcome.saved is not None:  # --save: renamed into place, or a SaveError
                outcome.saved_path, failed = keep(outcome.saved, settings.body, item, outcome.body)
                outcome.saved, outcome.error = None, outcome.error or failed
            return response_result(item, settings, ticket, outcome)
        assert outcome.error is not None
        tls = await _unverified_tls(outcome, settings, left)  # bounded by what --max-time left
    except asyncio.CancelledError:
        # --max-time is the ticket's own timer (call_later at the first request, cancelled here
        # or by disarm, uncancel on expiry), not asyncio.timeout: measured (2026-12, Python 3.11,
        # 200,000 loops of a timer armed, one await, disarmed), asyncio.timeout cost 1.2-2.8 us
        # more CPU per URL on asyncio and 2.4-3.6 us more on uvloop (its Timeout object, its
        # __aenter__/__aexit__ coroutines, reschedule), about 1% of a request's CPU; it would
        # need a fallback on 3.10 too; and the timer has to start at the first request, deep in
        # _exchange (ticket.sending), and say what is left (disarm, time_left) all the same.
        if not ticket.expired:
            ticket.disarm()
            raise
        task = asyncio.current_task()
        if task is not None and hasattr(task, "uncancel"):
            task.uncancel()
        message = f"gave up after --max-time {settings.timeouts.max_time:g} s"
        if judging:
            message += " (while --expect-jq ran)"
        return cut_short_result(item, settings, ticket, classify(TotalTimeout(message)))
    except Exception as exc:  # noqa: BLE001 - every failure the network or input can cause becomes a record
        ticket.disarm()
        return failure_result(item, settings, ticket, classify(exc, redactor_of(settings, item)))
    finally:
        if outcome is not None and outcome.saved is not None:  # not kept: a failure, a cancellation
            outcome.saved.discard()
    trail = outcome.trail
    if trail is not None and trail.response is not None and trail.body is not None:
        # The headers came, then reading the body failed (a ReadTimeout, a body shorter than
        # declared, a broken chunk or gzip stream): the response is kept with its error, as for
        # TotalTimeout (and as curl keeps the status with its errors 18, 28, 61).
        return cut_short_result(item, settings, ticket, outcome.error)
    return failure_result(item, settings, ticket, outcome.error, tls, outcome)
