"""Redirects (``-L``) and credentials, fetchcli's own on every backend: which responses are
redirects, whether a ``Location`` can be followed, and the next request: its method, its URL and
what of the headers it keeps. The rules are httpx's (``AsyncClient._build_redirect_request``), so
a record does not depend on the backend, plus fetchcli's own: a proxy's credentials and
``Cookie`` never follow a redirect, and every secret header (not only ``Authorization``) is
dropped when a redirect leaves the origin."""

from __future__ import annotations

import base64
import functools
import re
from urllib.parse import unquote

from fetchcli.errors import InvalidRedirect, UnsupportedRedirect
from fetchcli.frozen import quick_builder
from fetchcli.redact import is_secret_header, mask_input
from fetchcli.transport.contract import Timeouts, WireRequest
from fetchcli.transport.wireurl import BadURL, WireURL, join, parse
from fetchcli.urls import SUPPORTED_SCHEMES, normalise_url

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_new_request = quick_builder(WireRequest)  # one or more per URL: at a plain dataclass's cost (frozen.py)

_SCHEME_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_PATH_START = re.compile(r"[/?#]")
_NOT_FOLLOWED_BACKSLASH = (
    "Location has a '\\' before its path, which browsers read as '/' (another host) and other clients"
    " do not: not followed"
)


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _authority_problem(location: str) -> str | None:
    """What is wrong with the authority of ``location`` (one of http or https, or relative to
    one: read as the WHATWG URL standard reads such URLs), or None. A '\\' among the slashes that
    start it or before its path is read as '/' by browsers (``http:\\\\h/``, ``/\\h``,
    ``http://u:p@h2\\@h1/`` go to ``h``, ``h``, ``h2``) but not by httpx, so where a redirect goes
    and who is sent its credentials would depend on the client: it is refused, as curl refuses
    it. An authority without a host (``http:///x``, ``//``) is refused too: httpx would take the
    request's host, or re-request the same URL."""
    prefix = _SCHEME_PREFIX.match(location)
    rest = location[prefix.end() :] if prefix is not None else location
    if len(rest) < 2 or rest[0] not in "/\\" or rest[1] not in "/\\":
        return None  # no authority: a path ("http:/path" keeps the request's host, as httpx does)
    authority = _PATH_START.split(rest[2:], maxsplit=1)[0]
    if "\\" in rest[:2] or "\\" in authority:
        return _NOT_FOLLOWED_BACKSLASH
    hostport = authority.rpartition("@")[2]
    host = hostport.partition("]")[0] if hostport.startswith("[") else hostport.partition(":")[0]
    if not host.strip("["):
        return f"redirect to a URL with no host: {mask_input(location)!r}"
    return None


def redirect_target(base: WireURL, location: str) -> WireURL:
    """The URL ``location`` leads to from ``base``, worked out as httpx does (``BadURL`` if
    none): a ``Location`` with a scheme and no host (``http:/path``) takes the request's host; a
    relative one is joined to the request's URL; the request's fragment is kept if the new URL
    has none (RFC 9110, 10.2.2)."""
    target = parse(location)
    if target.scheme and not target.host:
        fragment = f"#{target.fragment}" if target.fragment else ""
        target = parse(f"{target.scheme}://{_bracketed(base.host)}{target.target}{fragment}")
    elif not target.scheme:
        target = join(base, location)
    if base.fragment and not target.fragment:
        target = parse(f"{target}#{base.fragment}")
    return target


def redirect_problem(base: WireURL, location: str) -> InvalidRedirect | UnsupportedRedirect | None:
    """Why ``-L`` cannot follow ``location`` from ``base``, as an exception to raise, or None when
    it can: the URL it leads to must be one fetchcli would accept as input
    (``urls.normalise_url``): http or https, a valid host and a port of 1-65535; its authority
    must mean the same to every client (``_authority_problem``). A message quotes the Location
    masked (``redact.mask_input``): it may hold credentials."""
    try:
        scheme = parse(location).scheme
    except BadURL:
        return InvalidRedirect(f"Location is not a URL: {mask_input(location)!r}")
    if scheme and scheme not in SUPPORTED_SCHEMES:
        return UnsupportedRedirect(f"redirect to unsupported URL scheme {scheme!r}")
    problem = _authority_problem(location)
    if problem is not None:
        return InvalidRedirect(problem)
    try:
        target = redirect_target(base, location)
    except BadURL:
        return InvalidRedirect(f"Location is not a URL: {mask_input(location)!r}")
    error = normalise_url(str(target), 0).error
    if error is not None:
        return InvalidRedirect(f"redirect to an invalid URL: {error.message}")
    problem = host_problem(target)
    if problem is not None:
        return InvalidRedirect(f"redirect to an invalid URL: {problem}")
    return None


def host_problem(url: WireURL) -> str | None:
    """Why httpx would refuse to send to ``url``'s host, which its URL parser accepted: an IDNA
    A-label (``xn--``) that does not decode (httpx decodes one when it reads ``URL.host``), as
    ``InvalidCodepoint`` says it; None when nothing is wrong. Checked for the input's URL and
    for a redirect's, on both backends, so that nothing is sent to such a host."""
    if not url.host.startswith("xn--"):
        return None
    import idna  # only for such a host

    try:
        idna.decode(url.host)
    except (UnicodeError, ValueError) as exc:  # idna's errors are UnicodeError subclasses
        return str(exc) or "invalid host"
    return None


def leaves_origin(url: WireURL, location: WireURL) -> bool:
    """Whether a redirect leaves the origin as httpx decides it when it drops Authorization
    (fetchcli drops the other secret headers with it): another scheme, host or port, except an
    upgrade of the same host from http:80 to https:443."""
    if url.host != location.host:
        return True
    if url.scheme == location.scheme:
        return url.effective_port != location.effective_port
    return (url.scheme, url.effective_port, location.scheme, location.effective_port) != ("http", 80, "https", 443)


def _same_origin(url: WireURL, other: WireURL) -> bool:
    return url.scheme == other.scheme and url.host == other.host and url.effective_port == other.effective_port


_CONDITIONS = ("If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "If-Range")


def _without(headers: list[tuple[str, str]], *names: str) -> list[tuple[str, str]]:
    lowered = {name.lower() for name in names}
    return [(k, v) for k, v in headers if k.lower() not in lowered]


def with_credentials(url: WireURL, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``headers`` with the credentials of ``url`` (``user:password@``) as ``Authorization:
    Basic``, replacing one already there in its place, else last (as httpx's ``BasicAuth``)."""
    if not url.userinfo:
        return headers
    user, _, password = url.userinfo.partition(":")
    token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode("ascii")
    value = f"Basic {token}"
    out: list[tuple[str, str]] = []
    placed = False
    for name, old in headers:
        if name.lower() == "authorization":
            if not placed:
                out.append((name, value))
                placed = True
            continue
        out.append((name, old))
    if not placed:
        out.append(("Authorization", value))
    return out


_EMPTY_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})  # sent with Content-Length: 0, as httpx sends them


def first_request(
    method: str, url: WireURL, defaults: tuple[tuple[str, str], ...], timeouts: Timeouts, body: bytes | None = None
) -> WireRequest:
    """The request for ``url``, its headers as httpx's ``Request`` makes them: ``Host`` first
    (unless the defaults carry one), ``Content-Length: 0`` for a POST, PUT or PATCH without a
    body (a body's length is the transport's to send), the default headers, the URL's
    credentials as ``Authorization``."""
    empty = body is None and method in _EMPTY_BODY_METHODS
    if not url.userinfo and not empty and not _names_host(defaults):
        return _new_request(method, url, (("Host", url.netloc), *defaults), timeouts, body)  # the common case
    headers = list(defaults)
    auto = [] if _names_host(defaults) else [("Host", url.netloc)]
    if empty and not any(name.lower() == "content-length" for name, _ in headers):
        auto.append(("Content-Length", "0"))
    return _new_request(method, url, tuple(with_credentials(url, auto + headers)), timeouts, body)


@functools.lru_cache(maxsize=64)
def _names_host(headers: tuple[tuple[str, str], ...]) -> bool:
    """Whether ``headers`` (the run's defaults: one tuple all run long) name ``Host``; kept, not
    looked through again for every URL (a generator over them, about 2,000 instructions)."""
    return any(name.lower() == "host" for name, _ in headers)


_BODY_HEADERS = ("Content-Length", "Transfer-Encoding", "Content-Type", "Content-Encoding", "Content-Language")


def next_request(request: WireRequest, status: int, target: WireURL, secret_headers: tuple[str, ...]) -> WireRequest:
    """The request a redirect (``status`` to ``target``) leads to, by httpx's rules: 303 and
    302 become GET (but HEAD), 301 turns a POST into a GET; a body goes only with the method
    kept; ``Authorization`` is dropped off the origin (but an http:80 -> https:443 upgrade of
    the host), ``Host`` set to the new origin. And fetchcli's: ``Proxy-Authorization`` and
    ``Cookie`` never follow; off the origin, every secret header goes with ``Authorization``; a
    body dropped takes its Content-Type (and -Encoding, -Language) with it, as curl does; the
    conditional headers (``If-None-Match``...) stay with the URL they were sent to."""
    method = request.method
    if status in (302, 303) and method != "HEAD":
        method = "GET"
    if status == 301 and method == "POST":
        method = "GET"
    headers = list(request.headers)
    if not _same_origin(target, request.url):
        if leaves_origin(request.url, target):
            headers = [(k, v) for k, v in headers if not is_secret_header(k, secret_headers)]
        headers = [(k, target.netloc) if k.lower() == "host" else (k, v) for k, v in headers]
        if not any(k.lower() == "host" for k, _ in headers):
            headers.append(("Host", target.netloc))
    body = request.body
    if method != request.method and method == "GET":
        # The body's own headers go with it (as curl does and the Fetch standard says): a form's
        # Content-Type on a GET without a body would describe nothing.
        named = ("Content-Length", "Transfer-Encoding") if body is None else _BODY_HEADERS
        headers = _without(headers, *named)
        body = None
    # Validators describe the URL asked, not the one it leads to (a 304 from there would be
    # about another resource), and they go nowhere else (an ETag can track).
    headers = _without(headers, "Cookie", "Proxy-Authorization", *_CONDITIONS)
    return WireRequest(method, target, tuple(with_credentials(target, headers)), request.timeouts, body)
