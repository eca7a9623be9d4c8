"""What one URL is asked with: the first ``WireRequest`` for it (``build_request``), from the
run's method, headers and body or its JSON Lines line's own (``ask``), made conditional by a
state file's validators (``conditional``, ``--conditional``); and whether ``--scheme-fallback``
may ask it again over http:// (``secret_sent``: never what the user keeps secret)."""

from __future__ import annotations

import dataclasses

from fetchcli.engine.redirect import first_request, host_problem
from fetchcli.errors import InvalidRequestURL
from fetchcli.errortype import ErrorType
from fetchcli.models import ErrorInfo, UrlItem
from fetchcli.redact import is_secret_header
from fetchcli.settings import Settings
from fetchcli.text import clean_line
from fetchcli.transport.contract import Wire, WireRequest
from fetchcli.transport.wireurl import BadURL, parse

__all__ = [
    "FALLBACK_ON",
    "NO_SCHEME_HINT",
    "Ask",
    "ask",
    "build_request",
    "conditional",
    "fallback_refused",
    "secret_sent",
]

_CONDITIONAL = ("GET", "HEAD")  # a conditional request for anything else is a precondition (412), not a cache check


def conditional(request: WireRequest, validators: tuple[str, str]) -> WireRequest:
    """``request`` with ``If-None-Match`` / ``If-Modified-Since`` from a state file's validators
    (ETag, Last-Modified; an empty one is not sent; a weak ETag is, as RFC 9110 13.1.2 allows
    for If-None-Match), unless it is not a GET or HEAD, or the user's headers give either."""
    etag, modified = validators
    if request.method not in _CONDITIONAL or request.header("if-none-match") or request.header("if-modified-since"):
        return request
    added = ([("If-None-Match", etag)] if etag else []) + ([("If-Modified-Since", modified)] if modified else [])
    return dataclasses.replace(request, headers=(*request.headers, *added)) if added else request


def build_request(
    wire: Wire,
    method: str,
    url: str,
    body: bytes | None = None,
    headers: tuple[tuple[str, str], ...] | None = None,
) -> WireRequest:
    """The first request for ``url``, with the wire's timeouts, ``headers`` (None: the wire's)
    and ``body``."""
    try:
        parsed = parse(url)
    except BadURL as exc:
        raise InvalidRequestURL(str(exc) or "invalid URL") from exc
    problem = host_problem(parsed)
    if problem is not None:
        raise InvalidRequestURL(problem)
    return first_request(method, parsed, wire.default_headers if headers is None else headers, wire.timeouts, body)


# What a URL is asked with: (method, body, headers; None: the wire's).
Ask = tuple[str, bytes | None, tuple[tuple[str, str], ...] | None]


def ask(wire: Wire, item: UrlItem, settings: Settings) -> Ask:
    """The run's request (``-X``, ``-H``, the body), with what the item's JSON Lines line
    (``models.UrlRequest``) says instead: its method (else the run's, or POST for a body of its
    own when the run's is GET or HEAD), its headers each replacing the run's of that name, its
    body with that body's Content-Type (and Accept, for ``json``) unless its headers name them.
    Nothing is built for an item without one (the common case)."""
    req, own = settings.request, item.request
    if own is None:
        return req.method, req.body, None
    body = own.body if own.body is not None else req.body
    method = own.method_with(req.method)
    added = list(own.headers)
    named = {name.lower() for name, _ in added}
    if own.body is not None:
        for name, value in (("Content-Type", own.content_type), ("Accept", own.accept)):
            if value is not None and name.lower() not in named:
                added.append((name, value))
                named.add(name.lower())
    if not added:
        return method, body, None
    kept = tuple((name, value) for name, value in wire.default_headers if name.lower() not in named)
    return method, body, kept + tuple(added)


FALLBACK_ON = frozenset({ErrorType.TLSError, ErrorType.ConnectionRefused})
NO_SCHEME_HINT = "the input has no scheme, so https:// was tried; --scheme-fallback tries http:// next"


def secret_sent(request: WireRequest, settings: Settings) -> str | None:
    """What of ``request`` the user keeps secret (a secret header, by name; credentials in the
    URL; a body, which fetchcli cannot tell from a password: ``-d password=...``), which a
    fallback to http:// would send in cleartext; None when nothing."""
    if request.url.userinfo:
        return "credentials in the URL"
    if request.body is not None:
        return "a request body (-d, --data-binary, --json)"
    extra = settings.request.secret_headers
    for name, _ in request.headers:
        if is_secret_header(name, extra):
            return f"a secret header ({clean_line(name)})"
    return None


def fallback_refused(first: ErrorInfo, secret: str) -> ErrorInfo:
    """The https:// failure, saying why --scheme-fallback did not try http://."""
    return ErrorInfo(
        first.type,
        f"{first.message} (--scheme-fallback did not try http://: the request carries {secret},"
        " which is never sent in cleartext; give the URL with its scheme to choose)",
    )
