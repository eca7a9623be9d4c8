"""Where URLs come from: positional arguments, files and stdin, read lazily, one ``UrlItem`` each.

Nothing here holds more than one line at a time: a file of ten million URLs costs the same
memory as a file of ten. Bad lines are not dropped: they become items with an ``InvalidURL``
error, which the engine reports without making a request.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator
from typing import Protocol

from fetchcli.errortype import ErrorType
from fetchcli.frozen import quick_builder
from fetchcli.models import ErrorInfo, UrlItem
from fetchcli.redact import mask_input

MAX_URL_LENGTH = 8192
SUPPORTED_SCHEMES = ("http", "https")
DEFAULT_SCHEME = "https"
_new_item = quick_builder(UrlItem)  # one per input line: at a plain dataclass's cost (frozen.py)

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):(.*)$", re.DOTALL)
_PORT_THEN_PATH = re.compile(r"^\d+(?:[/?#]|$)")
# Controls (C0, DEL, C1) and every kind of whitespace, none of which may appear in a URL.
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f-\x9f\s\ufffd]")
# A host name: letters (any script, for IDNs), digits, '-', '_' and dots.
_HOST = re.compile(r"^[^\W_](?:[\w\-]*)(?:\.[\w\-]+)*\.?$")
_AUTHORITY_END = re.compile(r"[/?#]")  # compiled once: re.split(pattern, ...) looked it up per URL
_RAW_PREVIEW = 200


def _invalid(index: int, raw: str, message: str, *, cut: bool = False) -> UrlItem:
    """An input that is not fetched. What is kept of it (and shown) is masked first and cut to
    ``_RAW_PREVIEW`` characters after: cut first, a password could lose the '@' that marks it."""
    shown = mask_input(raw, cut=cut)
    shown = shown if len(shown) <= _RAW_PREVIEW else shown[:_RAW_PREVIEW] + "..."
    return UrlItem(index=index, raw=shown, url=None, error=ErrorInfo(ErrorType.InvalidURL, message))


_UTF16_HINT = " (the input looks like UTF-16: fetchcli reads UTF-8; convert it, e.g. iconv -f utf-16 -t utf-8)"


def _describe_char(ch: str) -> str:
    if ch == "\ufffd":
        return "bytes that are not valid UTF-8"
    if ch.isspace():
        return "whitespace"
    return f"a control character (U+{ord(ch):04X})"


def _check_host(host: str) -> tuple[str, str | None] | None:
    """Why ``host`` cannot be a host name or IP literal, as (what, the part to quote), or
    ``None`` when it can."""
    if host.startswith("["):
        if not host.endswith("]"):
            return "an unterminated IPv6 address", None
        try:
            ipaddress.IPv6Address(host[1:-1].split("%", 1)[0])
        except ValueError:
            return "an invalid IPv6 address", host
        return None
    if not _HOST.match(host):
        return "an invalid host", host
    if len(host) > 63 and (len(host.rstrip(".")) > 253 or any(len(label) > 63 for label in host.split("."))):
        return "a host name that is too long:", host[:80]
    return None


# WHATWG (browsers) reads '\' as '/' in an http(s) URL, so its authority ends there; httpx, aiohttp
# and RFC 3986 read it as part of the user information or the host: a URL that went to one host
# for fetchcli and another for a browser, with credentials to match. curl refuses it too.
_BACKSLASH = (
    "URL has a '\\' before its path, which browsers read as '/' and other clients do not:"
    " write '/', or percent-encode it (%5C) in a user name or password"
)
_ENCODE_HINT = "a user name or password holding '/', '?' or '#' must be percent-encoded: %2F, %3F, %23"


def _bad_authority(index: int, raw: str, what: str, part: str | None, hidden: bool) -> UrlItem:
    """``URL has <what> '<part>'``; with ``hidden`` (an '@' comes after the authority, so what
    looks like a host or port may be a piece of a password holding '/', '?' or '#', as in
    ``http://u:pa/ss@h/``, where the WHATWG URL standard and curl see the host ``u``, port
    ``pa``), nothing of it is quoted."""
    if hidden:
        return _invalid(index, raw, f"URL has {what.rstrip(':')} ({_ENCODE_HINT})")
    return _invalid(index, raw, f"URL has {what}" + (f" {part!r}" if part is not None else ""))


# The common case, which every check below passes as it is: http or https in lower case, a host
# name of ASCII letters, digits and '-' (at most 63 characters, so no label and no name is too
# long; one that ends in a number is taken only as a dotted quad), a port from 1 to 99999 (read
# below), then printable ASCII only (no control, no whitespace).
_PLAIN = re.compile(
    r"https?://([A-Za-z0-9][A-Za-z0-9-]*(?:\.[A-Za-z0-9-]+)*)(?::([1-9][0-9]{0,4}))?(?:[/?#][\x21-\x7e]*)?"
)


def _plain(text: str) -> bool:
    """Whether ``text`` is such a URL: valid, and normalised as it is."""
    match = _PLAIN.fullmatch(text)
    if match is None:
        return False
    host, port = match.groups()
    if len(host) > 63 or (port is not None and int(port) > 65535):
        return False
    return not host[host.rfind(".") + 1].isdigit() or _DOTTED_QUAD.fullmatch(host) is not None


def normalise_url(text: str, index: int) -> UrlItem:
    """Validate one URL and add ``https://`` when it has no scheme; never raises."""
    raw = text
    if len(text) > MAX_URL_LENGTH:  # perhaps the start of a longer line (iter_binary_lines)
        return _invalid(index, raw, f"URL is longer than {MAX_URL_LENGTH} characters", cut=True)
    if _plain(text):  # one expression instead of the steps below (a URL list is mostly these)
        return _new_item(index=index, raw=raw, url=text)
    bad = _FORBIDDEN.search(text)
    if bad is not None:
        # A NUL every other character: a UTF-16 file (Windows Notepad's "Unicode") read as UTF-8.
        hint = _UTF16_HINT if text.count("\x00") * 3 >= len(text) else ""
        return _invalid(index, raw, f"URL contains {_describe_char(bad.group())}{hint}")
    if "://" not in text:
        match = _SCHEME.match(text)
        if match is not None and not _PORT_THEN_PATH.match(match.group(2)):
            scheme = match.group(1).lower()
            if scheme in SUPPORTED_SCHEMES:
                return _invalid(index, raw, "URL has no '//' after the scheme")
            return _invalid(index, raw, f"unsupported scheme {scheme!r}: only http and https are fetched")
        text = f"{DEFAULT_SCHEME}:{text}" if text.startswith("//") else f"{DEFAULT_SCHEME}://{text}"
    scheme, _, rest = text.partition("://")
    if scheme.lower() not in SUPPORTED_SCHEMES:
        return _invalid(index, raw, f"unsupported scheme {scheme.lower()!r}: only http and https are fetched")
    authority = _AUTHORITY_END.split(rest, maxsplit=1)[0]
    if "\\" in authority:  # nothing of it quoted: where the user information ends depends on the reader
        return _invalid(index, raw, _BACKSLASH)
    hostport = authority.rpartition("@")[2]
    if hostport.startswith("["):
        host, bracket, after = hostport.partition("]")
        host += bracket  # none: an unterminated IPv6 address (``http://[::1:8080/``), no port read
        port = after[1:] if after.startswith(":") else (None if not after else "!")
    else:
        host, colon, port_text = hostport.partition(":")
        port = port_text if colon else None
    hidden = "@" in rest[len(authority) :]
    if not host:
        return _bad_authority(index, raw, "no host", None, hidden)
    reason = _check_host(host)
    if reason is not None:
        return _bad_authority(index, raw, *reason, hidden)
    if port is not None and (not port.isdigit() or not 0 < int(port) < 65536):
        return _bad_authority(index, raw, "an invalid port", port, hidden)
    if not host.startswith("[") and _NUMBER_LABEL.match(host.rstrip(".").rpartition(".")[2]):
        address = _ipv4(host)
        if address is None:
            return _bad_authority(index, raw, "an invalid IPv4 address", host, hidden)
        if address != host:  # 2130706433, 0x7f.1, 127.1: one spelling for both backends
            start = len(scheme) + 3 + len(authority) - len(hostport)
            text = text[:start] + address + text[start + len(host) :]
    return _new_item(index=index, raw=raw, url=text)


def scheme_added(item: UrlItem) -> bool:
    """Whether the input had no scheme, so that ``https://`` was added (``--scheme-fallback``)."""
    return item.url is not None and "://" not in item.raw


_NUMBER_LABEL = re.compile(r"^(?:\d+|0[xX][0-9A-Fa-f]*)$")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_DOTTED_QUAD = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")  # already the one spelling


def _ipv4(host: str) -> str | None:
    """A host that ends in a number is an IPv4 address in any of the forms the WHATWG URL
    standard (and so every browser) reads: ``2130706433``, ``0x7f.1``, ``0177.0.0.1``, ``127.1``.
    Returns it dotted, or None when it is not a valid one."""
    if _DOTTED_QUAD.fullmatch(host):
        return host
    parts = host.rstrip(".").split(".")
    if len(parts) > 4:
        return None
    numbers = []
    for part in parts:
        if part[:2].lower() == "0x":
            digits, base = part[2:] or "0", 16
        elif len(part) > 1 and part.startswith("0"):
            digits, base = part[1:], 8
        else:
            digits, base = part, 10
        try:
            numbers.append(int(digits, base))
        except ValueError:
            return None
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(numbers)):
        return None
    value = sum(n << (8 * (3 - i)) for i, n in enumerate(leading)) + last
    return ".".join(str((value >> shift) & 255) for shift in (24, 16, 8, 0))


def url_text(line: str) -> str | None:
    """The URL on a line, or ``None`` for blank lines and ``#`` comments."""
    text = line.strip().lstrip("\ufeff").strip()
    if not text or text.startswith("#"):
        return None
    return text


class LineSource(Protocol):
    def readline(self, size: int = -1, /) -> bytes: ...


def iter_binary_lines(
    stream: LineSource, *, max_length: int = MAX_URL_LENGTH, errors: str = "replace"
) -> Iterator[str]:
    """Decoded lines of a byte stream, reading at most ``max_length`` + 1 bytes of any line.

    A longer line is consumed to its end and yielded as its first ``max_length`` + 1 characters,
    which validation then rejects as too long: memory stays bounded even without newlines.
    ``errors``: how bytes that are not UTF-8 are decoded (``surrogateescape``: to name them).
    """
    limit = max_length + 2  # room for the URL, one byte more to detect overflow, and '\n'
    while True:
        chunk = stream.readline(limit)
        if not chunk:
            return
        if len(chunk) == limit and not chunk.endswith(b"\n"):
            while True:  # discard the rest of an over-long line
                more = stream.readline(65536)
                if not more or more.endswith(b"\n"):
                    break
        yield chunk.decode("utf-8", errors=errors)


# A URL list's line that is a JSON object: a JSON Lines file read as a URL list (named *.json, or
# on stdin). Its record shows the object's url, never the rest (a secret header's value).
_URL_IN_OBJECT = re.compile(r'"url"\s*:\s*"([^"\\]*(?:\\.[^"\\]*)*)"')  # unrolled, as jsonl's
_JSON_HINT = "a JSON object, not a URL: to read a request a line, give --input-format jsonl (or name the file *.jsonl)"


def _json_object_line(text: str, index: int) -> UrlItem:
    found = _URL_IN_OBJECT.search(text)
    return _invalid(index, found.group(1) if found is not None else "{...}", _JSON_HINT)


def iter_items(lines: Iterable[str], *, start: int = 0, a_file: bool = False) -> Iterator[UrlItem]:
    """Turn lines into ``UrlItem``s, skipping blanks and comments; indexes count URLs only.
    ``a_file``: the lines of a file or stdin, where a JSON object says to read them as JSON Lines."""
    index = start
    for line in lines:
        text = url_text(line)
        if text is None:
            continue
        item = normalise_url(text, index)
        if a_file and item.error is not None and text.startswith("{"):
            item = _json_object_line(text, index)
        yield item
        index += 1


def iter_all(groups: Iterable[Iterable[str]]) -> Iterator[UrlItem]:
    """Items from several line sources in order (arguments first, then each file)."""
    index = 0
    for lines in groups:
        for item in iter_items(lines, start=index):
            index = item.index + 1
            yield item
