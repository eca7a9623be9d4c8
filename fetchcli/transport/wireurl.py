"""fetchcli's own URL type: what httpx.URL gives for the same text, for the parts fetchcli sends.

The engine parses every URL of a run (and every redirect's Location) once or twice per request,
so this is a lean, pure-Python twin of httpx's parser (``httpx/_urlparse.py``, the same in httpx
0.28 and 0.29) with its rules kept exactly: the same regular expressions split the text; each
part is quoted with the same safe set, existing ``%`` escapes (and a ``%`` not followed by two hex
digits) kept as they are; ``.`` and ``..`` segments dropped when there is a scheme or authority;
the host lower-cased, IDNA-encoded (with the ``idna`` package, imported only for a host that is
not ASCII), checked as IPv4 when it looks like one and as IPv6 inside brackets; a port is
whatever ``int()`` reads and is dropped when it is the default of the scheme *as written*
(``HTTP://h:80`` keeps ``:80`` in httpx too). What httpx refuses with ``InvalidURL`` raises
``BadURL`` with httpx's words. Nothing is cached per URL (a run may hold 1,000,000 of them).

Parsing and quoting rules adapted from httpx (Copyright © 2019, Encode OSS Ltd., BSD-3-Clause).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urljoin

from fetchcli.frozen import quick_builder

__all__ = ["BadURL", "WireURL", "join", "parse"]

MAX_URL_LENGTH = 65536
DEFAULT_PORTS = {"ftp": 21, "http": 80, "https": 443, "ws": 80, "wss": 443}

# The same splitting expressions as httpx (an inner group made non-capturing: same matches).
_URL = re.compile(
    r"(?:(?P<scheme>(?:[a-zA-Z][a-zA-Z0-9+.-]*)?):)?"
    r"(?://(?P<authority>[^/?#]*))?"
    r"(?P<path>[^?#]*)"
    r"(?:\?(?P<query>[^#]*))?"
    r"(?:#(?P<fragment>.*))?"
)
_AUTHORITY = re.compile(r"(?:(?P<userinfo>.*)@)?(?P<host>\[.*\]|[^:@]*):?(?P<port>.*)?")
_IPV4_STYLE = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$")
_CONTROL = re.compile("[\x00-\x1f\x7f]")  # an ASCII character that is not printable


def _printable(codes: range, but: tuple[int, ...]) -> str:
    return "".join(chr(i) for i in codes if i not in but)


_UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
_ASCII = range(0x20, 0x7F)
# WHATWG percent-encode sets, as httpx words them (the unreserved characters are always safe).
_FRAG_SAFE = _printable(_ASCII, (0x20, 0x22, 0x3C, 0x3E, 0x60))
_QUERY_SAFE = _printable(_ASCII, (0x20, 0x22, 0x23, 0x3C, 0x3E))
_PATH_SAFE = _printable(_ASCII, (0x20, 0x22, 0x23, 0x3C, 0x3E, 0x3F, 0x60, 0x7B, 0x7D))
_USERINFO_SAFE = _printable(
    _ASCII,
    (0x20, 0x22, 0x23, 0x3C, 0x3E, 0x3F, 0x60, 0x7B, 0x7D, 0x2F, 0x3B, 0x3D, 0x40, 0x5B, 0x5C, 0x5D, 0x5E, 0x7C),
)
_HOST_SAFE = "!$&'()*+,;=" + '"`{}%|\\'


def _unsafe_run(safe: str) -> re.Pattern[str]:
    """A run of characters to percent-encode: anything not unreserved nor in ``safe``. Every set
    holds ``%`` and the hex digits, so an existing ``%xx`` escape is kept, as httpx keeps it."""
    return re.compile("[^" + re.escape(_UNRESERVED + safe) + "]+")


# The common case, which httpx gives back as written: http or https in lower case, a lower-case
# name (or IPv4 address, checked), a port that is not the default, a path and query with nothing
# to percent-encode. parse() still falls back to the full reading for dot segments.
_AS_WRITTEN = re.compile(
    r"(https?)://([a-z0-9._~-]+)(?::([1-9][0-9]{0,4}))?"
    f"(/[{re.escape(_UNRESERVED + _PATH_SAFE)}]*)?"
    rf"(?:\?([{re.escape(_UNRESERVED + _QUERY_SAFE)}]*))?"
)

_FRAG_UNSAFE = _unsafe_run(_FRAG_SAFE)
_QUERY_UNSAFE = _unsafe_run(_QUERY_SAFE)
_PATH_UNSAFE = _unsafe_run(_PATH_SAFE)
_USERINFO_UNSAFE = _unsafe_run(_USERINFO_SAFE)
_HOST_UNSAFE = _unsafe_run(_HOST_SAFE)


class BadURL(ValueError):
    """Text httpx.URL refuses (``httpx.InvalidURL``): the same cases, in httpx's words. Also
    text httpx fails on with a ``UnicodeEncodeError`` (a lone surrogate in the path, query,
    fragment or userinfo), which cannot be sent either."""


_PERCENT = [f"%{byte:02X}" for byte in range(256)]


def _percent(match: re.Match[str]) -> str:
    try:
        data = match.group().encode("utf-8")
    except UnicodeEncodeError:
        raise BadURL(f"Invalid character in URL: {match.group()!r} cannot be encoded as UTF-8") from None
    return "".join([_PERCENT[byte] for byte in data])


def _quote(text: str, unsafe: re.Pattern[str]) -> str:
    return unsafe.sub(_percent, text) if unsafe.search(text) is not None else text


_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"  # at most 255, no leading zero
_IPV4_OK = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")


def _ipv4_ok(host: str) -> bool:
    """``ipaddress.IPv4Address`` for text of four runs of ASCII digits: each at most 255, without a
    leading zero (one expression: split and int() per octet cost more than the rest of a URL)."""
    return _IPV4_OK.fullmatch(host) is not None


def _encode_host(host: str) -> str:
    if not host:
        return ""
    if _IPV4_STYLE.match(host) is not None:
        if not _ipv4_ok(host):
            raise BadURL(f"Invalid IPv4 address: {host!r}")
        return host
    if host[0] == "[" and host[-1] == "]":
        import ipaddress  # only for a bracketed host

        try:
            ipaddress.IPv6Address(host[1:-1])
        except ipaddress.AddressValueError:
            raise BadURL(f"Invalid IPv6 address: {host!r}") from None
        return host[1:-1]  # as written: httpx does not lower-case it
    if host.isascii():
        return _quote(host.lower(), _HOST_UNSAFE)
    import idna  # only for a host that is not ASCII

    try:
        return idna.encode(host.lower()).decode("ascii")
    except idna.IDNAError:
        raise BadURL(f"Invalid IDNA hostname: {host!r}") from None


def _normalize_path(path: str) -> str:
    """Drop ``.`` and ``..`` segments (RFC 3986 5.2.4, as httpx does it)."""
    if "." not in path:
        return path
    segments = path.split("/")
    if "." not in segments and ".." not in segments:
        return path
    output: list[str] = []
    for segment in segments:
        if segment == ".":
            pass
        elif segment == "..":
            if output and output != [""]:
                output.pop()
        else:
            output.append(segment)
    return "/".join(output)


def _authority(userinfo: str, host: str, port: int | None) -> str:
    hostpart = f"[{host}]" if ":" in host else host
    if port is not None:
        hostpart = f"{hostpart}:{port}"
    return f"{userinfo}@{hostpart}" if userinfo else hostpart


@dataclass(frozen=True, slots=True)
class WireURL:
    """A parsed URL, each part as httpx.URL gives it (see the module's docstring)."""

    scheme: str  # lower case (httpx.URL.scheme)
    userinfo: str  # percent-encoded "user:pass", "" when none (httpx.URL.userinfo, decoded)
    host: str  # as sent: IDNA A-labels, lower case, IPv6 without brackets (httpx.URL.raw_host)
    port: int | None  # None when absent or the scheme's default (httpx.URL.port)
    target: str  # path, "/" when empty, plus "?query" when there is one (httpx.URL.raw_path)
    fragment: str  # unquoted, "" when none (httpx.URL.fragment)
    text: str  # the whole URL as httpx writes it (str(httpx.URL)): what __str__ gives

    def __str__(self) -> str:
        return self.text

    @property
    def netloc(self) -> str:
        """``host`` or ``host:port``, an IPv6 host in brackets (httpx.URL.netloc)."""
        hostpart = f"[{self.host}]" if ":" in self.host else self.host
        return hostpart if self.port is None else f"{hostpart}:{self.port}"

    @property
    def effective_port(self) -> int:
        """The port connected to: ``port``, else the scheme's default (80 for http, 443 for
        https). ValueError for a URL without a port whose scheme has no default."""
        if self.port is not None:
            return self.port
        try:
            return DEFAULT_PORTS[self.scheme]
        except KeyError:
            raise ValueError(f"no port, and no default port for the scheme {self.scheme!r}") from None

    def without_userinfo(self) -> WireURL:
        """This URL without its userinfo: ``httpx.URL.copy_with(userinfo=b"")``, which reads the
        parts again: the default port of the (now lower-case) scheme is dropped too, and a host
        name is lower-cased again."""
        port = self.port
        if port is not None and DEFAULT_PORTS.get(self.scheme) == port:
            port = None
        # A name is lower-cased again: the escapes made from "<", ">", "^" or " " turn to "%3c" etc.
        host = self.host if ":" in self.host else self.host.lower()
        same = not self.userinfo and port == self.port and host == self.host
        if same and len(self.text) <= MAX_URL_LENGTH:
            return self
        old = _authority(self.userinfo, self.host, self.port)
        skip = (len(self.scheme) + 1 if self.scheme else 0) + (len(old) + 2 if old else 0)
        rest = self.text[skip:]  # path ?query #fragment, as written
        if len(self.text) > MAX_URL_LENGTH:  # httpx checks each part it reads again
            path, _, query = rest.partition("#")[0].partition("?")
            fragment = rest.partition("#")[2]
            for name, part in (("authority", old), ("path", path), ("query", query), ("fragment", fragment)):
                if len(part) > MAX_URL_LENGTH:
                    raise BadURL(f"URL component '{name}' too long")
        if same:
            return self
        authority = _authority("", host, port)
        if not self.scheme and not authority and rest.startswith("//"):
            raise BadURL("Relative URLs cannot have a path starting with '//'")
        prefix = f"{self.scheme}:" if self.scheme else ""
        text = f"{prefix}//{authority}{rest}" if authority else f"{prefix}{rest}"
        return WireURL(self.scheme, "", host, port, self.target, self.fragment, text)


_new_url = quick_builder(WireURL)  # one or more per URL: at a plain dataclass's cost (frozen.py)


def parse(text: str) -> WireURL:
    """``httpx.URL(text)``, as a WireURL; BadURL where httpx raises InvalidURL."""
    if len(text) > MAX_URL_LENGTH:
        raise BadURL("URL too long")
    plain = _AS_WRITTEN.fullmatch(text)
    if plain is not None:
        scheme, host, raw_port, path, query = plain.groups()
        port = int(raw_port) if raw_port else None
        if (
            port != DEFAULT_PORTS[scheme]
            and (not path or "/." not in path)
            and (not host[-1].isdigit() or _IPV4_STYLE.match(host) is None or _ipv4_ok(host))
        ):
            target = path or "/"
            if query is not None:
                target = f"{target}?{query}"
            return _new_url(scheme, "", host, port, target, "", text)
    control = _CONTROL.search(text)
    if control is not None:
        char = control.group()
        raise BadURL(f"Invalid non-printable ASCII character in URL, {char!r} at position {control.start()}.")
    match = _URL.match(text)
    assert match is not None  # every text matches (each part may be empty)
    raw_scheme, authority, path, query, frag = match.groups()

    if authority:
        parts = _AUTHORITY.match(authority)
        assert parts is not None
        raw_userinfo, raw_host, raw_port = parts.groups()
        userinfo = _quote(raw_userinfo, _USERINFO_UNSAFE) if raw_userinfo else ""
        host = _encode_host(raw_host)
        if raw_port:
            try:
                port = int(raw_port)  # as httpx: int() reads " 80", "+80", "8_0"
            except ValueError:
                raise BadURL(f"Invalid port: {raw_port!r}") from None
            if port == DEFAULT_PORTS.get(raw_scheme or ""):  # the scheme as written, as httpx
                port = None
        else:
            port = None
    else:
        userinfo = host = ""
        port = None

    scheme = raw_scheme.lower() if raw_scheme else ""
    has_authority = bool(userinfo or host) or port is not None
    if has_authority:
        if path and path[0] != "/":
            raise BadURL("For absolute URLs, path must be empty or begin with '/'")
    elif not scheme:
        if path.startswith("//"):
            raise BadURL("Relative URLs cannot have a path starting with '//'")
        if path.startswith(":"):
            raise BadURL("Relative URLs cannot have a path starting with ':'")
    if scheme or has_authority:
        path = _normalize_path(path)
    path = _quote(path, _PATH_UNSAFE)

    target = path or "/"
    tail = path
    if query is not None:
        query = _quote(query, _QUERY_UNSAFE)
        target = f"{target}?{query}"
        tail = f"{path}?{query}"
    if frag is not None:
        frag = _quote(frag, _FRAG_UNSAFE)
        tail = f"{tail}#{frag}"
        fragment = unquote(frag) if "%" in frag else frag
    else:
        fragment = ""

    netloc = _authority(userinfo, host, port) if has_authority else ""
    if netloc:
        whole = f"{scheme}://{netloc}{tail}" if scheme else f"//{netloc}{tail}"
    else:
        whole = f"{scheme}:{tail}" if scheme else tail
    return _new_url(scheme, userinfo, host, port, target, fragment, whole)


_JOIN_CHANGES = re.compile(r"[?#;\[\]]")


def join(base: WireURL, location: str) -> WireURL:
    """``httpx.URL(str(base)).join(location)``: ``location`` read by httpx's rules, resolved
    against ``base`` by ``urllib.parse.urljoin`` (as httpx does, so it follows the running
    Python), then read again. BadURL where httpx raises InvalidURL, and where ``urljoin`` raises
    ValueError (Python 3.10 does for a "]" in what it takes for an authority, as in "1a://h]/")."""
    if len(base.text) > MAX_URL_LENGTH:
        raise BadURL("URL too long")
    absolute = parse(location)
    resolved = absolute.text
    if (
        absolute.host
        and absolute.scheme in ("http", "https")
        and _JOIN_CHANGES.search(resolved) is None
        and "[" not in base.text
        and "]" not in base.text
    ):
        # urljoin gives such an absolute URL back as it is (urlunparse would drop an empty "?",
        # "#" or ";"; Python checks "[...]" in either URL and may raise): skip it.
        return parse(resolved)
    try:
        resolved = urljoin(base.text, resolved)
    except ValueError as error:
        # Neither URL is quoted: either may hold credentials.
        raise BadURL(f"Location cannot be resolved against the URL: {error}") from None
    return parse(resolved)
