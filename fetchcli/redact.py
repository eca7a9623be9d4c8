"""What must never be printed: passwords in URLs and the values of secret request headers.

A URL's password is shown as ``***`` (``http://user:***@host/``); a user name with no password
is often a token (``https://TOKEN@host/``), so it is masked whole (``https://***@host/``). The
values of ``-H Authorization``, ``Cookie`` and ``Proxy-Authorization`` are never part of a record;
``Redactor`` also removes them, and a URL's credentials, from error messages, which libraries
sometimes build from what they were given.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable

SECRET_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
MASK = "***"


def _userinfo_span(url: str) -> tuple[int, int] | None:
    """Start and end (the index of the last '@') of a URL's userinfo, or None when it has none."""
    start = url.find("://")
    if start < 0:
        return None
    start += 3
    end = len(url)
    for sep in "/?#":
        found = url.find(sep, start)
        if 0 <= found < end:
            end = found
    at = url.rfind("@", start, end)
    return (start, at) if at >= 0 else None


def mask_credentials(url: str) -> str:
    """``url`` with its password (or a lone user name) replaced by ``***``."""
    if "@" not in url:
        return url  # the common case: nothing to look for
    span = _userinfo_span(url)
    if span is None:
        return url
    start, at = span
    user, colon, _password = url[start:at].partition(":")
    shown = f"{user}:{MASK}" if colon else MASK
    return url[:start] + shown + url[at:]


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


class Redactor:
    """Removes known secrets from free text (error messages)."""

    __slots__ = ("_secrets",)

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is removed whole.
        self._secrets = tuple(sorted({s for s in secrets if len(s) >= 3}, key=len, reverse=True))

    @classmethod
    def for_headers(cls, headers: Iterable[tuple[str, str]]) -> Redactor:
        secrets: list[str] = []
        for name, value in headers:
            if name.lower() in SECRET_HEADERS and value:
                secrets.append(value)
                _scheme, _, credentials = value.partition(" ")
                if credentials:  # 'Bearer TOKEN': the token alone must not leak either
                    secrets.append(credentials.strip())
        return cls(secrets)

    def with_secrets(self, extra: Iterable[str]) -> Redactor:
        extra = tuple(extra)
        return Redactor((*self._secrets, *extra)) if extra else self

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text
