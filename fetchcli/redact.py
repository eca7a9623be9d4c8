"""What must never be printed: passwords in URLs (the input's and the proxies'), and the values of
secret request headers.

A URL's password is shown as ``***`` (``http://user:***@host/``); a user name with no password
is often a token (``https://TOKEN@host/``), so it is masked whole (``https://***@host/``). A URL
is read as browsers and curl read it: its authority ends at the first ``/``, ``?`` or ``#``.
Input that is not a valid URL is masked more widely (``mask_input``): a password holding ``/``
(``http://u:pa/ss@h/``) was meant as one even though no parser reads it so.

The values of secret headers (``SECRET_HEADERS``, and any named by ``--secret-header``) are never
part of a record. ``Redactor`` removes them, and every known password (the URL's, the proxies',
and the ``Basic`` credentials sent for them), from error messages, which libraries sometimes build
from what they were given, and from what a server says (a proxy or an echo service may repeat a
request's headers): each also as Python's ``repr`` writes it, in a ``str`` or in the UTF-8
``bytes`` a status line is quoted as, once or twice over (``PX\\secret``, ``PX\\xc3\\xa4``).
Masking comes first and cutting to length after: a secret cut in two would no longer be found
whole. A secret shorter than 3 characters is not looked for: it would mask ordinary text.
"""

from __future__ import annotations

import base64
import functools
import itertools
import re
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
    and percent-decoded, and the ``Basic`` credentials sent for its user information."""
    span = _userinfo_span(url) if "@" in url else None
    if span is None:
        return ()
    userinfo = url[span[0] : span[1]]
    user, colon, password = userinfo.partition(":")
    secret = password if colon else user
    if not secret:
        return ()
    credentials = basic_credentials(userinfo)
    return tuple({secret, urllib.parse.unquote(secret), credentials, credentials.partition(" ")[2]})


def basic_credentials(userinfo: str) -> str:
    """``Basic ...`` for a URL's ``user:password`` (percent-escapes decoded, sent as UTF-8)."""
    user, _, password = userinfo.partition(":")
    pair = f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password)}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


# A header whose name holds one of these words (split on ``-`` and ``_``) carries a credential
# by its name: X-Vault-Token, X-Access-Token, X-Amz-Security-Token, X-Goog-Api-Key, X-Api-Secret,
# X-Session-Id, X-CSRF-Token, Client-Password... Masking a value that was not secret costs a
# reader little; showing one that was is what cannot be taken back.
SECRET_WORDS = frozenset(
    {
        "token", "secret", "password", "passwd", "apikey", "credential", "credentials", "session",
        "auth", "authentication", "signature", "csrftoken", "xsrftoken",
    }
)  # fmt: skip
# Two words in a row that name a key (``X-Auth-Key``, ``X-Access-Key``); ``key`` alone is not
# (``Idempotency-Key``, ``Sec-WebSocket-Key``).
SECRET_PAIRS = frozenset({("api", "key"), ("auth", "key"), ("access", "key"), ("private", "key"), ("secret", "key")})
_NAME_WORDS = re.compile(r"[-_]+")


def is_secret_header(name: str, extra: Iterable[str] = ()) -> bool:
    """Whether a header's value is a secret: one of ``SECRET_HEADERS``, a name holding a word of
    ``SECRET_WORDS`` or two words of ``SECRET_PAIRS`` in a row (``X-RapidAPI-Key``,
    ``X-Auth-Key``), or one of ``extra`` (names given to ``--secret-header``, in any case)."""
    lowered = name.lower()
    if lowered in SECRET_HEADERS or any(lowered == other.lower() for other in extra):
        return True
    words = _NAME_WORDS.split(lowered)
    if not SECRET_WORDS.isdisjoint(words):
        return True
    return any((a[-3:] if a.endswith("api") else a, b) in SECRET_PAIRS for a, b in itertools.pairwise(words))


MIN_SECRET_LENGTH = 3  # shorter, a secret would mask ordinary text ("a", "12")


def _quoted(text: str) -> set[str]:
    """``text`` as ``repr`` writes it inside quotes, as a ``str`` and as UTF-8 ``bytes``; a
    quote repr would leave alone (``'`` in ``"..."``) is also taken escaped, as a longer text
    holding both quotes shows it."""
    forms = set()
    for quoted in (repr(text), repr(text.encode("utf-8"))[1:]):
        inner = quoted[1:-1]
        forms.add(inner)
        if quoted[0] == '"':
            forms.add(inner.replace("'", "\\'"))
    return forms


@functools.lru_cache(maxsize=1024)
def secret_forms(secret: str) -> frozenset[str]:
    """Every spelling of ``secret`` to look for: as given, and as ``repr`` quotes it once (h11:
    ``bytearray(b'...')``) and twice (aiohttp: the repr of a message that quotes the bytes)."""
    once = {secret, *_quoted(secret)}
    return frozenset(once.union(*(_quoted(form) for form in once)))


def _longest_first(forms: Iterable[str]) -> tuple[str, ...]:
    # Longest first, so a secret that contains another is removed whole.
    return tuple(sorted(set(forms), key=len, reverse=True))


class Redactor:
    """Removes known secrets (in every spelling of ``secret_forms``) from free text: error
    messages, and what a server says."""

    __slots__ = ("_secrets",)

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = _longest_first(_spellings(secrets))

    @classmethod
    def for_headers(cls, headers: Iterable[tuple[str, str]], extra: Iterable[str] = ()) -> Redactor:
        return cls(_header_secrets(headers, tuple(extra)))

    @classmethod
    def for_request(cls, req: RequestSettings, *urls: object) -> Redactor:
        """The redactor of a run (built once): every secret header value, and each proxy's
        password, as given, percent-decoded and as the ``Basic`` credentials sent for it; with
        ``urls``, their passwords too (a URL fetched, a redirect's target)."""
        run = _for_request(req)
        own = [secret for url in urls for secret in url_secrets(str(url))]  # most URLs have none
        return run.with_secrets(own) if own else run

    @property
    def holds_secrets(self) -> bool:
        """Whether there is anything to look for (else calling it returns the text unchanged)."""
        return bool(self._secrets)

    def with_secrets(self, extra: Iterable[str]) -> Redactor:
        new = _spellings(extra).difference(self._secrets)
        if not new:
            return self
        redactor = Redactor()
        redactor._secrets = _longest_first((*self._secrets, *new))
        return redactor

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def head(self, text: str, end: int) -> str:
        """``text`` up to ``end``, masked: every secret that starts before ``end`` is masked whole
        (also one that runs past it), and nothing else after ``end`` is kept. For the start of a
        long text (a body): only as much of it is searched as the result needs."""
        if end >= len(text) or not self._secrets:
            return self(text[:end])
        window = text[: end + len(self._secrets[0]) - 1]
        spans: list[tuple[int, int]] = []
        for secret in self._secrets:
            start = window.find(secret, 0, end + len(secret) - 1)
            while start >= 0:
                spans.append((start, start + len(secret)))
                start = window.find(secret, start + 1, end + len(secret) - 1)
        if not spans:
            return text[:end]
        spans.sort()
        parts: list[str] = []
        kept = 0
        for start, stop in spans:
            if start >= kept:
                parts += (window[kept:start], MASK)
            kept = max(kept, stop)
        if kept < end:
            parts.append(window[kept:end])
        return "".join(parts)


def _spellings(secrets: Iterable[str]) -> set[str]:
    return {form for secret in secrets if len(secret) >= MIN_SECRET_LENGTH for form in secret_forms(secret)}


def header_secrets(headers: Iterable[tuple[str, str]], extra: Iterable[str] = ()) -> list[str]:
    """The secrets among ``headers`` (a JSON Lines line's own): as the run's ``-H`` are found."""
    return _header_secrets(headers, tuple(extra))


def _header_secrets(headers: Iterable[tuple[str, str]], extra: tuple[str, ...]) -> list[str]:
    secrets: list[str] = []
    for name, value in headers:
        if value and is_secret_header(name, extra):
            secrets.append(value)
            if name.lower() == "cookie" and ";" in value:  # each cookie, and its value alone
                for pair in value.split(";"):
                    cookie = pair.strip()
                    secrets += [cookie, cookie.partition("=")[2].strip()]
            scheme, _, credentials = value.partition(" ")
            credentials = credentials.strip()
            if credentials:  # 'Bearer TOKEN': the token alone must not leak either
                secrets.append(credentials)
                if scheme.lower() == "basic":  # nor the password it encodes
                    secrets += _decoded_basic(credentials)
    return secrets


def _decoded_basic(credentials: str) -> tuple[str, ...]:
    """``user:password`` and the password of ``Basic`` credentials, or () when they are not base64."""
    try:
        pair = base64.b64decode(credentials, validate=True).decode("utf-8")
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
        return ()
    return (pair, pair.partition(":")[2])


# The last settings asked about (the run's, all run long: once per record) and their redactor;
# hashing the settings for the lru_cache walked all their fields (about 1,500 instructions).
_last_run: tuple[RequestSettings, Redactor] | None = None


def _for_request(req: RequestSettings) -> Redactor:
    global _last_run
    last = _last_run
    if last is not None and last[0] is req:
        return last[1]
    redactor = _built_for_request(req)
    _last_run = (req, redactor)
    return redactor


@functools.lru_cache(maxsize=8)
def _built_for_request(req: RequestSettings) -> Redactor:
    secrets = _header_secrets(req.headers, req.secret_headers)
    for proxy in req.proxies:
        secrets += url_secrets(proxy)
    return Redactor(secrets)
