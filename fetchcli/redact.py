"""What must never be printed: passwords in URLs (the input's and the proxies'), and the values of
secret request headers.

A URL's password is shown as ``***`` (``http://user:***@host/``); a user name with no password
is often a token (``https://TOKEN@host/``), so it is masked whole (``https://***@host/``). A URL
is read as browsers and curl read it: its authority ends at the first ``/``, ``?`` or ``#``.
Input that is not a valid URL is masked more widely (``mask_input``): a password holding ``/``
(``http://u:pa/ss@h/``) was meant as one even though no parser reads it so.

The values of secret headers (``SECRET_HEADERS``, and any named by ``--secret-header``) are never
part of a record. ``Redactor`` removes them, and every known password (the URL's, the proxies'),
from error messages, which libraries sometimes build from what they were given. Masking comes
first and cutting to length after: a secret cut in two would no longer be found whole.
"""

from __future__ import annotations

import base64
import functools
import urllib.parse
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fetchcli.settings import RequestSettings

# Secret whatever --secret-header adds: credentials by definition, and the API-key headers of
# common services (GitLab's PRIVATE-TOKEN, the X-Api-Key of API gateways).
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-api-key", "api-key", "x-auth-token", "private-token"}
)
MASK = "***"
_END = "/?#"


def _start(url: str) -> int:
    """Where a URL's authority starts: after ``scheme://``, after a leading ``//``, or at 0."""
    found = url.find("://")
    if found >= 0:
        return found + 3
    return 2 if url.startswith("//") else 0


def _authority_end(url: str, start: int) -> int:
    end = len(url)
    for sep in _END:
        found = url.find(sep, start, end)
        if found >= 0:
            end = found
    return end


def authority(url: str) -> tuple[str | None, str]:
    """``(userinfo or None, host[:port])`` of a URL, its authority ending at the first ``/``,
    ``?`` or ``#`` after ``://``, the userinfo at its last ``@`` (the WHATWG URL standard, curl)."""
    start = _start(url)
    text = url[start : _authority_end(url, start)]
    userinfo, at, hostport = text.rpartition("@")
    return (userinfo if at else None), hostport


def _userinfo_span(url: str) -> tuple[int, int] | None:
    """Start and end (the index of the last '@') of a URL's userinfo, or None when it has none."""
    if url.find("://") < 0:
        return None
    start = _start(url)
    at = url.rfind("@", start, _authority_end(url, start))
    return (start, at) if at >= 0 else None


def _masked(url: str, start: int, at: int) -> str:
    user, colon, _password = url[start:at].partition(":")
    shown = f"{user}:{MASK}" if colon else MASK
    return url[:start] + shown + url[at:]


def mask_credentials(url: str) -> str:
    """``url`` with its password (or a lone user name) replaced by ``***``."""
    if "@" not in url:
        return url  # the common case: nothing to look for
    span = _userinfo_span(url)
    if span is None:
        return url
    return _masked(url, *span)


def hides_userinfo(url: str) -> bool:
    """Whether an ``@`` after a URL's authority may end a user name or password that holds
    ``/``, ``?`` or ``#`` (``http://u:pa/ss@h/``): then no part of the authority may be quoted."""
    start = _start(url)
    return "@" in url[_authority_end(url, start) :]


def mask_input(text: str, *, cut: bool = False) -> str:
    """Input that is not a valid URL, masked for display: the user information ends at the last
    ``@`` before the first ``/``, ``?`` or ``#`` that follows an ``@`` (so ``http://u:pa/ss@h/``
    is ``http://u:***@h/``), with or without a scheme. ``cut``: the text is the start of a longer
    line; when it holds no ``@``, everything after the scheme may be a user name: all is masked."""
    start = _start(text)
    first = text.find("@", start)
    if first < 0:
        return text[:start] + MASK if cut and start < len(text) else text
    at = text.rfind("@", start, _authority_end(text, first))
    return _masked(text, start, at)


def url_secrets(url: str) -> tuple[str, ...]:
    """The strings of ``url`` that must not be printed: its password (or lone user name), raw
    and percent-decoded."""
    span = _userinfo_span(url) if "@" in url else None
    if span is None:
        return ()
    user, colon, password = url[span[0] : span[1]].partition(":")
    secret = password if colon else user
    if not secret:
        return ()
    return tuple({secret, urllib.parse.unquote(secret)})


def basic_credentials(userinfo: str) -> str:
    """``Basic ...`` for a URL's ``user:password`` (percent-escapes decoded, sent as UTF-8)."""
    user, _, password = userinfo.partition(":")
    pair = f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password)}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


def is_secret_header(name: str, extra: Iterable[str] = ()) -> bool:
    """Whether a header's value is a secret: one of ``SECRET_HEADERS`` or of ``extra`` (names
    given to ``--secret-header``, in any case)."""
    lowered = name.lower()
    return lowered in SECRET_HEADERS or any(lowered == other.lower() for other in extra)


class Redactor:
    """Removes known secrets from free text (error messages)."""

    __slots__ = ("_secrets",)

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is removed whole.
        self._secrets = tuple(sorted({s for s in secrets if len(s) >= 3}, key=len, reverse=True))

    @classmethod
    def for_headers(cls, headers: Iterable[tuple[str, str]], extra: Iterable[str] = ()) -> Redactor:
        return cls(_header_secrets(headers, tuple(extra)))

    @classmethod
    def for_request(cls, req: RequestSettings, *urls: object) -> Redactor:
        """The redactor of a run (built once): every secret header value, and each proxy's
        password, as given, percent-decoded and as the ``Basic`` credentials sent for it; with
        ``urls``, their passwords too (a URL fetched, a redirect's target)."""
        run = _for_request(req)
        return run.with_secrets(secret for url in urls for secret in url_secrets(str(url))) if urls else run

    def with_secrets(self, extra: Iterable[str]) -> Redactor:
        extra = tuple(extra)
        return Redactor((*self._secrets, *extra)) if extra else self

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text


def _header_secrets(headers: Iterable[tuple[str, str]], extra: tuple[str, ...]) -> list[str]:
    secrets: list[str] = []
    for name, value in headers:
        if value and is_secret_header(name, extra):
            secrets.append(value)
            _scheme, _, credentials = value.partition(" ")
            if credentials:  # 'Bearer TOKEN': the token alone must not leak either
                secrets.append(credentials.strip())
    return secrets


@functools.lru_cache(maxsize=8)
def _for_request(req: RequestSettings) -> Redactor:
    secrets = _header_secrets(req.headers, req.secret_headers)
    for proxy in req.proxies:
        secrets += url_secrets(proxy)
        userinfo, _ = authority(proxy)
        if userinfo:
            credentials = basic_credentials(userinfo)
            secrets += (credentials, credentials.partition(" ")[2])
    return Redactor(secrets)
