"""The identity of a URL: ``url_key``, the one normalised form that ``--unique`` compares,
``--shard`` hashes (``key_hash``) and a state file records, so that spellings of one resource
count as one URL.

Two URLs have one key only if both backends send one request for them (the same request line
and ``Host``): the rules are what httpx and aiohttp do to a URL before sending it (RFC 3986
section 6.2.2, syntax-based normalisation, and 6.2.3 for the default port, where the backends
apply them), applied to a URL as ``urls.normalise_url`` returns it (validated, a missing
scheme added, an IPv4 host in any form already dotted: ``http://127.1/`` is ``http://127.0.0.1/``):

- the scheme and the host name in lower case; an internationalised host name in its ASCII form
  (IDNA, ``bücher.example`` -> ``xn--bcher-kva.example``);
- the default port dropped (``:80`` for http, ``:443`` for https), leading zeros of a port too;
- an empty path is ``/``; dot segments resolved (``/a/./b/../c`` -> ``/a/c``, ``/a/b/..`` ->
  ``/a``, as both backends send it);
- a character outside ASCII percent-encoded as UTF-8 (``é`` -> ``%C3%A9``, as both backends
  send it);
- the fragment dropped (``#top``: never sent to the server).

Kept as they are, because the backends send them as they are: percent-escapes (``%2f`` is not
``%2F``, ``%7E`` is not ``~``, and ``/a/%2E%2E/b`` is not ``/b``: an escaped dot is no dot
segment), an IPv6 address as written (``[0:0::1]`` is not ``[::1]``, nor ``[::A]`` ``[::a]``);
and the user name and password (other credentials, another answer), the query (its parameters'
order, an empty ``?``), a trailing slash and a trailing dot of the host.

Pure and cheap (a few string operations per URL, nothing built per call): it runs for every
URL of a large run. ``url_hash`` is the stable 64-bit hash of a text (BLAKE2b).
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fetchcli.models import UrlItem

__all__ = ["input_key", "item_key", "key_hash", "request_key", "url_hash", "url_key"]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_NOT_ASCII = re.compile(r"[^\x00-\x7f]+")


def url_hash(text: str) -> int:
    """A stable 64-bit hash of a text: the same on every machine and Python version (BLAKE2b,
    not the salted ``hash()``)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")


def _quote(match: re.Match[str]) -> str:
    return "".join(f"%{b:02X}" for b in match.group().encode("utf-8", "surrogatepass"))


def _escapes(text: str) -> str:
    """Non-ASCII characters percent-encoded as UTF-8, as both backends send them; escapes kept."""
    return text if text.isascii() else _NOT_ASCII.sub(_quote, text)


def _without_dot_segments(path: str) -> str:
    """Dot segments of an absolute path resolved as both backends resolve them before sending:
    ``/a/./b/../c`` -> ``/a/c``; a last ``.`` or ``..`` leaves no trailing slash (``/a/b/..`` ->
    ``/a``, where RFC 3986 section 5.2.4 has ``/a/``)."""
    kept = [""]
    for segment in path.split("/")[1:]:
        if segment == "..":
            if len(kept) > 1:
                kept.pop()
        elif segment != ".":
            kept.append(segment)
    return "/".join(kept) or "/"


def _host(host: str) -> str:
    if host.startswith("["):
        return host  # an IPv6 address: both backends send it as written, in its case
    if host.isascii():
        return host.lower()
    import idna  # only for a host outside ASCII (httpx's and yarl's IDNA codec)

    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        return host.lower()  # not a name either backend can ask for: the fetch fails anyway


# A URL that is its own key: lower-case scheme and host name, no user name, a port that is not
# the default (nor begins with 0), a path, no fragment, dot segment or non-ASCII character.
_KEY_ALREADY = re.compile(r"https?://[a-z0-9.\-]+(?::[1-9][0-9]*)?/[^#]*")


def _is_key(url: str) -> bool:
    return (
        _KEY_ALREADY.fullmatch(url) is not None
        and url.isascii()
        and "/." not in url
        and ":80/" not in url
        and ":443/" not in url
    )


def url_key(url: str) -> str:
    """``url`` normalised by the rules above; a text that is not ``scheme://...`` is its own key."""
    if _is_key(url):
        return url  # most URLs of a list: one regular expression, half the cost of the rest
    return normalise(url)


def normalise(url: str) -> str:
    """``url_key`` without its shortcut for a URL that is its own key (tests compare the two)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    if "#" in rest:
        rest = rest[: rest.index("#")]
    end = rest.find("/")
    question = rest.find("?", 0, end) if end >= 0 else rest.find("?")
    if question >= 0:
        end = question
    if end < 0:
        authority, path, query = rest, "/", ""
    else:
        authority, (path, question_mark, query) = rest[:end], rest[end:].partition("?")
        if not query.isascii():
            query = _escapes(query)
        query = question_mark + query
        if not path.isascii():
            path = _escapes(path)
        elif not path:
            path = "/"
        if "/." in path:
            path = _without_dot_segments(path)
    at = authority.rfind("@")
    userinfo = ""
    if at >= 0:
        userinfo, authority = authority[: at + 1], authority[at + 1 :]
        if not userinfo.isascii():
            userinfo = _escapes(userinfo)
    scheme = scheme.lower()
    colon = authority.rfind(":")
    if authority[:1] == "[" and "]" not in authority:
        colon = -1  # an IPv6 address never closed (an invalid URL): no port in it, kept as it is
    if colon >= 0 and authority.find("]", colon) < 0:  # a port, not a colon of an IPv6 address
        host, port = authority[:colon], authority[colon + 1 :]
        if port.isdigit() and port.isascii():
            number = int(port)
            port = "" if number == _DEFAULT_PORTS.get(scheme) else f":{number}"
        elif port:
            port = ":" + port
    else:
        host, port = authority, ""
    host = host.lower() if host.isascii() and host[:1] != "[" else _host(host)
    return f"{scheme}://{userinfo}{host}{port}{path}{query}"


def key_hash(url: str) -> int:
    """``url_hash(url_key(url))``: what ``--shard`` divides by and ``--unique`` remembers."""
    return url_hash(url_key(url))


def item_key(item: UrlItem) -> str:
    """What identifies an input URL: its ``url_key``, or its raw line when it is invalid."""
    return url_key(item.url) if item.url is not None else item.raw.strip()


def request_key(item: UrlItem) -> str:
    """What ``--unique`` compares: the ``item_key``, and for a JSON Lines line with a request of
    its own, its method, headers and body too (the same URL with two bodies is two requests; a
    line's ``meta`` is not part of its request)."""
    own = item.request
    if own is None:
        return item_key(item)
    body = "" if own.body is None else hashlib.blake2b(own.body, digest_size=16).hexdigest()
    headers = "\n".join(f"{name.lower()}: {value}" for name, value in own.headers)
    return f"{item_key(item)}\t{own.method or ''}\t{headers}\t{body}"


def input_key(text: str) -> str:
    """The key of one line of input, validated and completed as fetchcli reads it
    (``urls.normalise_url``): ``example.com`` and ``HTTPS://EXAMPLE.COM:443/#x`` are both
    ``https://example.com/``."""
    from fetchcli.urls import normalise_url

    return item_key(normalise_url(text.strip(), 0))
