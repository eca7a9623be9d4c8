"""A finished URL -> its ``FetchResult``. The record of a response (ok, or failing the success
policy: ``--ok-status``, ``--expect-text``/``--expect-regex``/``--expect-jq``, ``--cert-expiry-days``), of a
failure, of a URL cut short (``--max-time``, a stop) with what was known when it stopped, and of
a URL never sent (an invalid URL, ``NotStarted``, an internal error). No I/O and no waiting:
``request.py`` sends, follows redirects and retries, and hands what it learnt (an ``Outcome``,
the URL's ``Ticket``) to these builders."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fetchcli.engine.allips import with_address
from fetchcli.engine.redirect import redirect_target
from fetchcli.engine.servertext import ServerText
from fetchcli.engine.snippet import Body, body_text
from fetchcli.engine.ticket import Ticket, Trail, now_iso
from fetchcli.errors import internal_error
from fetchcli.errortype import ErrorType
from fetchcli.frozen import quick_builder
from fetchcli.models import ErrorInfo, FetchResult, Redirect, Timing, TlsInfo, UrlItem
from fetchcli.redact import Redactor, header_secrets
from fetchcli.settings import Settings
from fetchcli.text import clean_line
from fetchcli.transport import tls as tls_facts
from fetchcli.transport.contract import WireResponse, charset_of
from fetchcli.transport.wireurl import parse

if TYPE_CHECKING:
    from fetchcli.engine.savefile import SavePart

_new_result = quick_builder(FetchResult)  # a FetchResult, built at a plain dataclass's cost (frozen.py)


@dataclass(slots=True)
class Outcome:
    """What the tries of one URL came to (``request._attempts``): the last response and its body
    read, or the error, and the trail of that try."""

    response: WireResponse | None = None
    body: Body | None = None
    error: ErrorInfo | None = None
    trail: Trail | None = None
    heard: bool = False  # a server answered some request of these tries (or of an earlier try)
    jq_problem: str | None = None  # why the body fails --expect-jq (jqcheck.py)
    saved: SavePart | None = None  # --save: the body's part file, until it is kept or discarded
    saved_path: str | None = None  # --save: where it was kept, relative to DIR


def _header_int(value: str | None) -> int | None:
    if value is not None and value.strip().isdigit():
        return int(value)
    return None


def invalid_result(item: UrlItem) -> FetchResult:
    error = item.error or ErrorInfo(ErrorType.InvalidURL, "invalid URL")
    return _new_result(
        index=item.index, url=item.display_url, ok=False, fetched_at=now_iso(), error=error, meta=item.meta
    )


def unfinished_result(
    item: UrlItem, error_type: ErrorType, message: str, ticket: Ticket | None = None, settings: Settings | None = None
) -> FetchResult:
    """A URL cancelled in flight (``Cancelled``) or never started (``NotStarted``). With the
    ``ticket`` of a URL that was sent: its tries, when it was sent and how long it had waited
    (no ``elapsed_ms``: the stop cut it short, it is not the URL's time); with ``settings`` too,
    what was known, as for ``TotalTimeout`` (``cut_short_result``): the status received, the redirects.
    An ``--all-ips`` item's record names its address."""
    result = _unfinished(item, error_type, message, ticket, settings)
    return with_address(result, item) if item.address is not None else result


def _unfinished(
    item: UrlItem, error_type: ErrorType, message: str, ticket: Ticket | None = None, settings: Settings | None = None
) -> FetchResult:
    if ticket is not None and ticket.sent is not None and ticket.trail is not None and settings is not None:
        return cut_short_result(item, settings, ticket, ErrorInfo(error_type, message), elapsed=False)
    if ticket is None or ticket.sent is None:
        return _new_result(
            index=item.index,
            url=item.display_url,
            meta=item.meta,
            ok=False,
            fetched_at=now_iso(),
            error=ErrorInfo(error_type, message),
            attempts=ticket.attempts if ticket is not None else 0,
            queued_ms=_waited_unsent(ticket),
        )
    return _new_result(
        index=item.index,
        url=item.display_url,
        meta=item.meta,
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


_HEADERS_READ = (b"content-type", b"content-length", b"server", b"etag", b"last-modified")
# A validator longer than this, or holding a control character, is not kept (nor sent back):
# it is server text, and an ETag is an opaque token of a few dozen characters, a date 29.
MAX_VALIDATOR = 512


def validator(value: str | None) -> str | None:
    """An ``ETag`` or ``Last-Modified`` as a state file keeps it, or None: empty, longer than
    ``MAX_VALIDATOR``, or holding a control character (CR, LF, NUL, DEL...)."""
    if not value or len(value) > MAX_VALIDATOR:
        return None
    return value if value.isprintable() else None  # isprintable: no C0, DEL, C1 or format character


def _validators(headers: dict[bytes, str]) -> tuple[str | None, str | None] | None:
    etag, modified = headers.get(b"etag"), headers.get(b"last-modified")
    if etag is None and modified is None:
        return None  # the common case: nothing to check
    if etag is not None and ", " in etag:
        etag = None  # repeated: which one would be sent back?
    return validator(etag), validator(modified)


def _headers_read(response: WireResponse) -> dict[bytes, str]:
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


def _charset(content_type: str | None) -> str | None:
    """The charset ``Content-Type`` names (parsed with ``email.message``, as httpx does), asked
    only when the header names a charset at all."""
    if content_type is None or "charset" not in content_type.lower():
        return None
    return charset_of(content_type)


def _timing(outcome: Outcome) -> Timing | None:
    """The phases of the last request; no ``ttfb_ms`` when it failed (a body broken right after
    its headers fails while sending on one backend and while reading on the other)."""
    clock = outcome.trail.clock if outcome.trail is not None else None
    if clock is None:
        return None
    if outcome.response is None:  # failed (RetryAfterTooLong keeps its response, and its ttfb)
        clock.ttfb_ms = None
    return clock.freeze()


def _redirects(trail: Trail | None, shown: ServerText) -> tuple[Redirect, ...]:
    """The redirects followed, as the record shows them (their URLs came from servers)."""
    return tuple(Redirect(shown.url(url), status) for url, status in trail.redirects) if trail is not None else ()


def redactor_of(settings: Settings, item: UrlItem, *urls: object) -> Redactor:
    """The run's redactor with the passwords of ``item``'s URL and of ``urls``, and the values of
    the secret headers of ``item``'s own request (a JSON Lines line's ``headers``)."""
    redact = Redactor.for_request(settings.request, item.url, *urls)
    own = item.request
    if own is None or not own.headers:
        return redact
    return redact.with_secrets(header_secrets(own.headers, settings.request.secret_headers))


def _server_text(settings: Settings, item: UrlItem, trail: Trail | None) -> ServerText:
    """How the record of ``item`` shows what servers said: the run's secrets (and its line's)
    masked, and the passwords of the URL asked first and last (a redirect's target may carry
    credentials)."""
    assert item.url is not None
    if trail is None or not trail.last.userinfo:  # the common case: no credentials from a redirect
        return ServerText(redactor_of(settings, item))
    return ServerText(redactor_of(settings, item, trail.last))


def _peer(response: WireResponse) -> tuple[str | None, int | None]:
    """The IP address and port the response came from."""
    peer = response.peer
    if isinstance(peer, tuple) and len(peer) >= 2:
        return str(peer[0]), int(peer[1])
    return None, None


def _tls(response: WireResponse, settings: Settings) -> TlsInfo | None:
    """The TLS facts of the connection the response came on (None for http://)."""
    if response.url.scheme != "https":
        return None
    return tls_facts.from_ssl_object(response.ssl_object, verified=None if settings.request.insecure else True)


def _location(response: WireResponse, shown: ServerText) -> str | None:
    """Where a 3xx points (``Location``), resolved against the URL that answered as ``-L``
    would resolve it, masked and cleaned as any URL a server led to; the header as it came
    (masked, cleaned) when it is not a URL, or not one of http or https (``javascript:x``,
    ``mailto:a@b``: the request's host is put only into an ``http:/path``, as ``-L`` does). None
    for any other status, or without the header."""
    if not 300 <= response.status < 400:
        return None
    value = response.headers.get("location")
    if value is None:
        return None
    try:
        if parse(value).scheme not in _RESOLVED_SCHEMES:
            return shown.url(value)
        return shown.url(redirect_target(response.url, value))
    except ValueError:  # BadURL: not a URL
        return shown.url(value)


_RESOLVED_SCHEMES = frozenset({"", "http", "https"})  # a relative Location, or one -L may follow


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


def response_result(item: UrlItem, settings: Settings, ticket: Ticket, outcome: Outcome) -> FetchResult:
    """The record of a URL that got a response (``outcome.response``, its body read): ok, or not
    by the success policy (``outcome.error``, ``--cert-expiry-days``, ``--expect-*``, the status)."""
    response, body = outcome.response, outcome.body
    assert response is not None and body is not None
    headers = _headers_read(response)
    # A 304 answering the validators --conditional sent: the copy the state file knows is current.
    not_modified = True if response.status == 304 and item.validators is not None else None
    content_type = headers.get(b"content-type")
    text, binary = body_text(body.data, _charset(content_type))  # once, for all that reads it
    server = headers.get(b"server")
    remote_ip, remote_port = _peer(response)
    tls = _tls(response, settings)
    unmet = outcome.error or _expiring(tls, settings)
    if unmet is None and not_modified is None:  # a 304 has no body: the copy checked before is current
        unmet = _unmet_expectation(text, settings)
        if unmet is None and outcome.jq_problem is not None:
            unmet = ErrorInfo(ErrorType.ExpectFailed, outcome.jq_problem)
    # What reading the body's text costs is part of the URL's time (elapsed_ms comes last).
    shown = _server_text(settings, item, outcome.trail)
    title = None if binary else shown.title(text)
    snippet = "" if binary else shown.snippet(text, settings.body.snippet_length)
    return _new_result(
        index=item.index,
        url=item.display_url,
        meta=item.meta,
        ok=unmet is None and (not_modified is True or settings.success.status_ok(response.status)),
        not_modified=not_modified,
        validators=_validators(headers),
        error=unmet,
        status=response.status,
        reason=shown.line(response.reason),
        http_version=response.http_version,
        final_url=shown.url(response.url),
        location=_location(response, shown),
        redirects=_redirects(outcome.trail, shown),
        method=outcome.trail.method if outcome.trail is not None else None,
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
        saved_path=outcome.saved_path,
        elapsed_ms=ticket.elapsed_ms(),  # last: the arguments above are evaluated before it
    )


def failure_result(
    item: UrlItem,
    settings: Settings,
    ticket: Ticket,
    error: ErrorInfo,
    tls: TlsInfo | None = None,
    outcome: Outcome | None = None,
) -> FetchResult:
    """The record of a URL that got no response: ``error`` (its message masked once more), with
    the ``tls`` facts read after a ``CertificateError``, and from the last try's ``outcome`` (None
    when the failure came before any try) the redirects followed and the phases timed."""
    assert item.url is not None
    redirects: tuple[Redirect, ...] = ()
    timing: Timing | None = None
    if outcome is not None:
        redirects = _redirects(outcome.trail, _server_text(settings, item, outcome.trail))
        timing = _timing(outcome)
    error = ErrorInfo(error.type, redactor_of(settings, item)(error.message))  # once more
    sent = ticket.sent is not None
    return _new_result(
        index=item.index,
        url=item.display_url,
        meta=item.meta,
        ok=False,
        elapsed_ms=ticket.elapsed_ms() if sent else None,
        queued_ms=ticket.queued_ms() if sent else _waited_unsent(ticket),
        fetched_at=ticket.fetched_at() if sent else now_iso(),
        error=error,
        attempts=ticket.attempts,
        tls=tls,
        redirects=redirects,
        timing=timing,
        method=outcome.trail.method
        if outcome is not None and outcome.trail is not None and ticket.sent is not None
        else None,
    )


def cut_short_result(
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
    redact = redactor_of(settings, item)
    error = ErrorInfo(error.type, redact(error.message))
    trail = ticket.trail
    response = trail.response if trail is not None else None
    shown = _server_text(settings, item, trail)
    redirects = _redirects(trail, shown)
    timing = trail.clock.freeze() if trail is not None and trail.clock is not None else None
    if trail is None or response is None:
        sent = ticket.sent is not None  # not when its only request waited in the pool
        return _new_result(
            index=item.index,
            url=item.display_url,
            meta=item.meta,
            ok=False,
            final_url=shown.url(trail.last) if trail is not None and trail.redirects else None,
            redirects=redirects,
            method=trail.method if trail is not None and sent else None,
            timing=timing,
            fetched_at=ticket.fetched_at() if sent else now_iso(),
            error=error,
            attempts=ticket.attempts,
            queued_ms=ticket.queued_ms() if sent else _waited_unsent(ticket),
            elapsed_ms=ticket.elapsed_ms() if sent and elapsed else None,
        )
    headers = _headers_read(response)
    content_type, server = headers.get(b"content-type"), headers.get(b"server")
    remote_ip, remote_port = _peer(response)
    data = b"".join(trail.body) if trail.body else b""
    text, binary = body_text(data, _charset(content_type)) if data else ("", False)
    return _new_result(
        index=item.index,
        url=item.display_url,
        meta=item.meta,
        ok=False,
        bytes_read=len(data),
        truncated=error.type is ErrorType.BodyTooLarge,  # --save: the rest of the body was not read
        binary=binary,
        title=None if binary or not data else shown.title(text),
        snippet="" if binary else shown.snippet(text, settings.body.snippet_length),
        status=response.status,
        reason=shown.line(response.reason),
        http_version=response.http_version,
        final_url=shown.url(response.url),
        location=_location(response, shown),
        redirects=redirects,
        method=trail.method,
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
