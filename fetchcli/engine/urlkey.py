"""The identity of a URL: ``url_key``, the one normalised form that ``--unique`` compares,
``--shard`` hashes (``key_hash``) and a state file records, so that spellings of one resource
count as one URL.

The rules (RFC 3986 section 6.2.2, syntax-based normalisation, and 6.2.3 for the default port),
applied to a URL as ``sources.normalise_url`` returns it (validated, a missing scheme added, an
IPv4 host in any form already dotted: ``http://127.1/`` is ``http://127.0.0.1/``):

- the scheme and the host in lower case; an internationalised host name in its ASCII form
  (IDNA, ``bücher.example`` -> ``xn--bcher-kva.example``); an IPv6 address in its short form
  (``[0:0::1]`` -> ``[::1]``);
- the default port dropped (``:80`` for http, ``:443`` for https), leading zeros of a port too;
- an empty path is ``/``; dot segments resolved (``/a/./b/../c`` -> ``/a/c``);
- percent-escapes in upper case (``%2f`` -> ``%2F``); an escaped unreserved character (letter,
  digit, ``-``, ``.``, ``_``, ``~``) decoded (``%7E`` -> ``~``); a character outside ASCII
  percent-encoded as UTF-8 (``é`` -> ``%C3%A9``, as both backends send it);
- the fragment dropped (``#top``: never sent to the server).

Kept as they are: the user name and password (other credentials, another answer), the query
(its parameters' order, an empty ``?``), a trailing slash and a trailing dot of the host.

Pure and cheap (a few string operations per URL, nothing built per call): it runs for every
URL of a large run. ``url_hash`` is the stable 64-bit hash of a text (BLAKE2b).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fetchcli.models import UrlItem

__all__ = ["input_key", "item_key", "key_hash", "url_hash", "url_key"]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
# Every escape's replacement, by its hex digits in upper case, built once: 7E -> '~', 2F -> '%2F'.
_ESCAPES = {f"{n:02X}": chr(n) if chr(n) in _UNRESERVED else f"%{n:02X}" for n in range(256)}
_NOT_ASCII = re.compile(r"[^\x00-\x7f]+")


def url_hash(text: str) -> int:
    """A stable 64-bit hash of a text: the same on every machine and Python version (BLAKE2b,
    not the salted ``hash()``)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")


def _escape(match: re.Match[str]) -> str:
    return _ESCAPES[match.group(1).upper()]


def _quote(match: re.Match[str]) -> str:
    return "".join(f"%{b:02X}" for b in match.group().encode("utf-8", "surrogatepass"))


def _escapes(text: str) -> str:
    """Percent-escapes in one case, unreserved characters decoded, non-ASCII encoded."""
    if "%" in text:
        text = _ESCAPE.sub(_escape, text)
    if not text.isascii():
        text = _NOT_ASCII.sub(_quote, text)
    return text


def _without_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4 for an absolute path: ``/a/./b/../c`` -> ``/a/c``."""
    segments = path.split("/")
    kept = [""]
    for segment in segments[1:]:
        if segment == "..":
            if len(kept) > 1:
                kept.pop()
        elif segment != ".":
            kept.append(segment)
    if segments[-1] in (".", ".."):
        kept.append("")
    return "/".join(kept)


def _host(host: str) -> str:
    if host.isascii():
        host = host.lower()
        if host.startswith("["):
            address, percent, zone = host[1:-1].partition("%")
            try:
                return f"[{ipaddress.IPv6Address(address).compressed}{percent}{zone}]"
            except ValueError:
                return host
        return host
    import idna  # only for a host outside ASCII (httpx's and yarl's IDNA codec)

    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        return host.lower()  # not a name either backend can ask for: the fetch fails anyway


# A URL that is its own key: lower-case scheme and host name, no user name, a port that is not
# the default (nor begins with 0), a path, no escape, fragment, dot segment or non-ASCII character.
_KEY_ALREADY = re.compile(r"https?://[a-z0-9.\-]+(?::[1-9][0-9]*)?/[^%#]*")


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
        if "%" in query or not query.isascii():
            query = _escapes(query)
        query = question_mark + query
        if "%" in path or not path.isascii():
            path = _escapes(path)
        elif not path:
            path = "/"
        if "/." in path:
            path = _without_dot_segments(path)
    at = authority.rfind("@")
    userinfo = ""
    if at >= 0:
        userinfo, authority = authority[: at + 1], authority[at + 1 :]
        if "%" in userinfo or not userinfo.isascii():
            userinfo = _escapes(userinfo)
    scheme = scheme.lower()
    colon = authority.rfind(":")
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


def input_key(text: str) -> str:
    """The key of one line of input, validated and completed as fetchcli reads it
    (``sources.normalise_url``): ``example.com`` and ``HTTPS://EXAMPLE.COM:443/#x`` are both
    ``https://example.com/``."""
    from fetchcli.urls import normalise_url

    return item_key(normalise_url(text.strip(), 0))
