"""fetchcli's own URL type against httpx.URL of the installed httpx: a corpus of tricky URLs and a
seeded random one, each compared part by part (``str``, scheme, userinfo, host as sent, port,
request target, fragment, netloc, the URL without its userinfo) and on "refused by both or by
neither"; ``join`` against ``httpx.URL.join`` the same way."""

from __future__ import annotations

import random
import subprocess
import sys
from typing import Any

import httpx
import pytest

from fetchcli.transport.wireurl import BadURL, WireURL, join, parse

Parts = dict[str, Any]


def httpx_parts(url: httpx.URL) -> Parts:
    return {
        "str": str(url),
        "scheme": url.scheme,
        "userinfo": url.userinfo.decode("ascii"),
        "host": url.raw_host.decode("ascii"),
        "port": url.port,
        "target": url.raw_path.decode("ascii"),
        "fragment": url.fragment,
        "netloc": url.netloc.decode("ascii"),
    }


def wire_parts(url: WireURL) -> Parts:
    return {
        "str": str(url),
        "scheme": url.scheme,
        "userinfo": url.userinfo,
        "host": url.host,
        "port": url.port,
        "target": url.target,
        "fragment": url.fragment,
        "netloc": url.netloc,
    }


def httpx_outcome(make: Any, refused: tuple[type[Exception], ...] = (httpx.InvalidURL,)) -> Parts | None:
    """httpx's parts, or None where httpx refuses the text (InvalidURL)."""
    try:
        return httpx_parts(make())
    except refused:
        return None


def wire_outcome(make: Any) -> Parts | None:
    try:
        return wire_parts(make())
    except BadURL:
        return None


def short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 300 else f"{text[:150]}...{text[-150:]}"


def same(got: Parts | None, want: Parts | None, what: object) -> None:
    """Fail with a short account (a corpus URL may be 65,536 characters long)."""
    if got == want:
        return
    if got is None or want is None:
        pytest.fail(f"{short(what)}: ours {short(got)}, httpx {short(want)}")
    diff = {key: (short(got[key]), short(want[key])) for key in want if got[key] != want[key]}
    pytest.fail(f"{short(what)}: differs (ours, httpx): {diff}")


def check_parse(text: str) -> None:
    want = httpx_outcome(lambda: httpx.URL(text))
    same(wire_outcome(lambda: parse(text)), want, text)
    if want is None:
        return
    url, reference = parse(text), httpx.URL(text)
    copied = httpx_outcome(lambda: reference.copy_with(userinfo=b""))
    same(wire_outcome(url.without_userinfo), copied, ("without_userinfo", text))
    if url.scheme in ("http", "https") and url.host:
        default = 80 if url.scheme == "http" else 443
        assert url.effective_port == (reference.port if reference.port is not None else default), short(text)


def check_join(base: str, location: str) -> None:
    """The same URL, or both refuse: httpx with InvalidURL or with the ValueError of urljoin (on
    Python 3.10, for "1a://h]/": what looks like an authority holding a "]")."""
    want = httpx_outcome(lambda: httpx.URL(str(httpx.URL(base))).join(location), refused=(httpx.InvalidURL, ValueError))
    same(wire_outcome(lambda: join(parse(base), location)), want, (base, location))


LONG = "a" * 65000

CORPUS = [
    # ordinary
    "http://example.com",
    "http://example.com/",
    "https://example.com/path/to/x?q=1&r=two#frag",
    "http://127.0.0.1:8080/index.html",
    "https://www.example.org/search?q=caf%C3%A9&lang=fr",
    # schemes
    "HTTP://EXAMPLE.COM/",
    "HtTpS://a.com",
    "ftp://a.com:21/",
    "ws://a.com:80/",
    "wss://a.com:443/",
    "mailto:user@example.com",
    "x-y+z.1://h/",
    "1http://h/",
    ":foo",
    "://h/",
    "http:",
    "http:/x",
    "http:x",
    "http:///x",
    "http://",
    "//h/p",
    "//h",
    "",
    # hosts: case, IDNA, trailing dots, odd characters
    "http://MiXeD.CaSe.COM/",
    "http://münchen.de/",
    "http://MÜNCHEN.DE/",
    "http://xn--mnchen-3ya.de/",
    "http://XN--MNCHEN-3YA.DE/",
    "http://faß.de/",
    "http://☃.net/",
    "http://中国.icom.museum/",
    "http://例え.テスト/",
    "http://Ⅸ.com/",
    "http://İstanbul.tr/",
    "http://é.com./",
    "http://a.com./",
    "http://a.com../",
    "http://a..b/",
    "http://é..b/",
    "http://.a.com/",
    "http://ü" + "x" * 70 + ".com/",
    "http://" + "x" * 70 + ".com/",
    "http://a b.com/",
    "http://a%20b.com/",
    "http://a_b.com/",
    'http://a"b`c{d}e|f\\g.com/',
    "http://a<b>c^d.com/",
    "http://xn--zz/",
    "http://xn--/",
    "http://-a-.com/",
    "http://a!$&'()*+,;=b/",
    # IPv4
    "http://1.2.3.4/",
    "http://255.255.255.255/",
    "http://0.0.0.0/",
    "http://256.1.1.1/",
    "http://1.2.3.04/",
    "http://01.2.3.4/",
    "http://1.2.3.4444/",
    "http://1.2.3/",
    "http://1.2.3.4.5/",
    "http://0x7f.0.0.1/",
    "http://2130706433/",
    "http://1.2.3.4./",
    # IPv6
    "http://[::1]/",
    "http://[::1]:8080/",
    "http://[::1]:80/",
    "http://[::FFFF:1.2.3.4]/",
    "http://[2001:DB8::1]/x",
    "http://[fe80::1%eth0]/",
    "http://[fe80::1%25eth0]/",
    "http://[fe80::1%]/",
    "http://[::1%1]:99/",
    "http://[zz]/",
    "http://[]/",
    "http://[::1/",
    "http://::1/",
    "http://[::1]x/",
    "http://[1.2.3.4]/",
    "http://[::1]]/",
    "http://[[::1]]/",
    # ports
    "http://a.com:0/",
    "http://a.com:80/",
    "https://a.com:80/",
    "http://a.com:443/",
    "https://a.com:443/",
    "HTTP://a.com:80/",
    "HTTPS://a.com:443/x",
    "http://a.com:65535/",
    "http://a.com:65536/",
    "http://a.com:99999999999999999999/",
    "http://a.com:0080/",
    "http://a.com:00/",
    "http://a.com:/",
    "http://a.com:",
    "http://a.com::80/",
    "http://a.com:8x/",
    "http://a.com:+80/",
    "http://a.com:-1/",
    "http://a.com:8_0/",
    "http://a.com: 80/",
    "http://a.com:٨٠/",
    "http://a.com:" + "9" * 5000 + "/",
    "http://:80/",
    "http://:8080/",
    # userinfo
    "http://user@a.com/",
    "http://user:pass@a.com/",
    "http://user:@a.com/",
    "http://:pass@a.com/",
    "http://@a.com/",
    "http://u@/x",
    "http://u@",
    "http://a@b@c.com/",
    "http://us er:pa ss@a.com/",
    "http://u%40x:p%3Aq@a.com/",
    "http://u%zz:p%4@a.com/",
    "http://u;=[]^|:p!$&'()*+,@a.com/",
    'http://u"<>`{}\\:p@a.com/',
    "http://ü:é@a.com/",
    "http://u:p:q@a.com:81/",
    "//u@//x",
    "//u@/./a",
    # spaces, non-ASCII and control characters
    "http://a.com/a b?c d#e f",
    "http://a.com/ü?ü#ü",
    "http://a.com/\u00a0\u2028\ufeff",
    "http://a.com/😀?😀#😀",
    "http://a.com/\t",
    "http://a.com/\n",
    "http://a.com/\r\nX: y",
    "http://a.com/\x00",
    "http://a.com/?\x7f",
    "http://a.com/#\x1b[31m",
    "\x01http://a.com/",
    "http://a.com/\x80\x9f",
    # '%' escapes
    "http://a.com/%",
    "http://a.com/%zz",
    "http://a.com/%4",
    "http://a.com/%41%4a%4A",
    "http://a.com/?%",
    "http://a.com/#%",
    "http://a.com/#%41%20%zz",
    "http://a.com/%%%",
    # reserved and odd characters per part
    'http://a.com/"<>`{}|\\^[]',
    "http://a.com/?\"<>`{}|\\^[]'",
    "http://a.com/#\"<>`{}|\\^[]'",
    "http://a.com/a;b=c,d",
    # dot segments
    "http://a.com/a/./b/../c",
    "http://a.com/a/b/..",
    "http://a.com/a/b/.",
    "http://a.com/..",
    "http://a.com/../../x",
    "http://a.com/./",
    "http://a.com/.",
    "http://a.com/a/..",
    "http://a.com/%2e%2e/x",
    "http://a.com/%2E./x",
    "http://a.com/.%2e/x",
    "http://a.com/...",
    "http://a.com/a/.../b",
    "http://a.com//../x",
    "http:/.//x",
    "http:a/../b",
    "a/./b/../c",
    "../x",
    # empty path, ? and # alone
    "http://a.com?",
    "http://a.com#",
    "http://a.com?#",
    "http://a.com/?",
    "http://a.com/#",
    "http://a.com?q=1",
    "http://a.com#f",
    "http://a.com??",
    "http://a.com/?a?b#c#d",
    "?",
    "#",
    "?q",
    "#f",
    # backslashes and '//' paths
    "http:\\\\a.com\\x",
    "http://a.com\\x/y",
    "http://a.com/\\x",
    "\\\\a.com/x",
    "http://a.com//x//y",
    "http://a.com///",
    "//",
    "///x",
    "//x//y",
    # length
    "http://a.com/" + LONG,
    "http://a.com/" + "a" * (65536 - 13),
    "http://a.com/" + "a" * (65536 - 12),
    "http://a.com/" + " " * 60000,
    "http://a.com/?" + "é" * 30000,
]


@pytest.mark.parametrize("text", CORPUS, ids=range(len(CORPUS)))
def test_parse_matches_httpx(text: str) -> None:
    check_parse(text)


SCHEMES = ["http", "https", "HTTP", "HtTpS", "ftp", "ws", "x+y", "1a", ""]
SEPARATORS = ["://", "://", "://", ":", ":/", "//", ""]
USERINFOS = ["", "", "", "u@", "u:p@", "us er:p%zz@", "%41:%4@", "a@b@", "ü:é@", ":@", "u;=[]:p&@", "u\\`:p<>@"]
HOSTS = [
    "example.com",
    "EXAMPLE.Com",
    "127.0.0.1",
    "1.2.3.04",
    "300.1.1.1",
    "[::1]",
    "[::FFFF:1.2.3.4]",
    "[fe80::1%eth0]",
    "[zz]",
    "münchen.de",
    "MÜNCHEN.DE",
    "xn--mnchen-3ya.de",
    "faß.de",
    "a..b",
    "é..b",
    "a.com.",
    "é.com.",
    "",
    "a b",
    "a%20b",
    "a_b",
    "[",
    "a]",
    "☃",
    "Ⅸ",
    "a^b",
]
PORTS = ["", "", "", ":", ":0", ":80", ":443", ":8080", ":65535", ":65536", ":0080", ":x", ":+1", ":-1", ": 8", "::1"]
PATHS = [
    "",
    "/",
    "/a/b",
    "/a/./b/../c",
    "/%2e%2e/x",
    "//x",
    "/a b",
    "/ü",
    "/a\\b",
    "/%",
    "/%zz",
    "/%4",
    "/{}`|^",
    "/..",
    "/../..",
    "a/b",
    ":x",
    "/./",
    "/.",
    "/a;b",
    '/"<>',
]
QUERIES = ["", "", "?", "?a=b", "?a b", "?ü", "?%zz", "?a=%41&b='\"<>`{}", "??", "?/../"]
FRAGMENTS = ["", "", "#", "#x", "#a b", "#%41", "#ü", '#`<>"{}', "#%", "##"]
NOISE = [" ", "\t", "\x7f", "%", "#", "?", "/", "@", ":", "[", "]", "\\", ".", "é", "😀", "\u3000", "A"]


def random_url(rng: random.Random, *, start: str = "") -> str:
    text = "".join(
        [
            start or rng.choice(SCHEMES) + rng.choice(SEPARATORS),
            rng.choice(USERINFOS),
            rng.choice(HOSTS),
            rng.choice(PORTS),
            rng.choice(PATHS),
            rng.choice(PATHS) if rng.random() < 0.3 else "",
            rng.choice(QUERIES),
            rng.choice(FRAGMENTS),
        ]
    )
    if rng.random() < 0.15:  # a stray character anywhere
        at = rng.randrange(len(text) + 1)
        text = text[:at] + rng.choice(NOISE) + text[at:]
    return text


def test_parse_matches_httpx_on_random_urls() -> None:
    rng = random.Random(20)
    for _ in range(4000):
        check_parse(random_url(rng))


def test_a_lone_surrogate_is_refused() -> None:
    """httpx fails with UnicodeEncodeError (not InvalidURL) where a part to percent-encode holds a
    lone surrogate (text read with errors="surrogateescape"); it cannot be sent: BadURL."""
    for text in ("http://a.com/\udcff", "http://a.com/?\udcff", "http://a.com/#\udcff", "http://\udcff@a.com/"):
        with pytest.raises(UnicodeEncodeError):
            httpx.URL(text)
        with pytest.raises(BadURL):
            parse(text)
    check_parse("http://\udcff.com/")  # a host goes through IDNA: both refuse it as a URL


def test_an_ipv6_zone_that_is_not_ascii_is_kept_as_httpx_keeps_it() -> None:
    """httpx accepts it (ipaddress does) and keeps the host as written: its raw_host then fails."""
    text = "http://[fe80::1%é]:8080/x"
    url = parse(text)
    assert str(url) == str(httpx.URL(text))
    assert url.host == "fe80::1%é"
    assert url.netloc == "[fe80::1%é]:8080"


def test_a_wireurl_is_a_small_immutable_value() -> None:
    url = parse("HTTPS://u:p@Example.COM:8443/a/../b?q#f")
    assert url == parse("https://u:p@example.com:8443/b?q#f")
    assert hash(url) == hash(parse("https://u:p@example.com:8443/b?q#f"))
    with pytest.raises(AttributeError):
        url.host = "other"  # type: ignore[misc]
    assert not hasattr(url, "__dict__")
    assert (url.scheme, url.userinfo, url.host, url.port, url.target, url.fragment) == (
        "https",
        "u:p",
        "example.com",
        8443,
        "/b?q",
        "f",
    )
    assert url.netloc == "example.com:8443"
    assert url.effective_port == 8443
    assert parse("http://a.com").effective_port == 80
    assert parse("https://a.com").effective_port == 443
    assert str(url.without_userinfo()) == "https://example.com:8443/b?q#f"
    with pytest.raises(ValueError):
        _ = parse("gopher://a.com/").effective_port
    assert isinstance(BadURL("x"), ValueError)


def test_bad_urls_are_worded_as_httpx_words_them() -> None:
    for text in ("http://a.com:x/", "http://1.2.3.04/", "http://[zz]/", "http://é..b/", "http://a.com/\t", "x" * 70000):
        with pytest.raises(httpx.InvalidURL) as theirs:
            httpx.URL(text)
        with pytest.raises(BadURL) as ours:
            parse(text)
        assert str(ours.value) == str(theirs.value)


def test_idna_is_imported_only_for_a_host_that_is_not_ascii() -> None:
    code = (
        "import sys\n"
        "from fetchcli.transport.wireurl import parse\n"
        "parse('http://example.com/a?b#c'); parse('http://[::1]:8/'); parse('http://127.0.0.1/')\n"
        "print('idna' in sys.modules, 'httpx' in sys.modules)\n"
        "parse('http://münchen.de/')\n"
        "print('idna' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "True"]


BASES = [
    "http://a.com",
    "http://a.com/",
    "http://a.com/b/c/d;p?q#f",
    "https://u:p@a.com:8443/x/y/",
    "HTTP://a.com:80/x",
    "http://[::1]:8080/a/b",
    "http://münchen.de/ü/?ü",
    "http://a.com/%2e%2e/x/",
    "http://a.com/a b/c?d e",
    "http://a.com/..//x",
    "https://a.com?q",
    "http://a.com//x//y",
    "http://a.com/" + " " * 30000,  # written by httpx, 90,013 characters: too long to read again
]
LOCATIONS = [
    "",
    "x",
    "x/y",
    "./x",
    "../x",
    "../../../../x",
    ".",
    "..",
    "./",
    "../",
    "/x",
    "/x/../y",
    "//other.com/x",
    "//other.com",
    "//u:p@other.com:81/x",
    "?q=1",
    "?",
    "#f",
    "#",
    "?q#f",
    "g;x",
    "g;x?y#s",
    "https://other.com/p",
    "HTTPS://OTHER.com:443/p?#",
    "http://other.com/?",
    "http://other.com/#",
    "http:x",
    "http:/x",
    "https:x",
    "mailto:u@h",
    "ftp://h/x",
    "//",
    "///x",
    "ü/é",
    "%zz",
    "a b",
    "\\x",
    "x\\y",
    "//münchen.de/",
    "//[::1]:99/",
    "http://a.com:x/",
    "//1.2.3.04/",
    "a\tb",
    "/" + "a" * 65600,
    "a:b",
    ":x",
    "//h/" + " " * 30000,
    "1a://h]/x",
]


@pytest.mark.parametrize("base", BASES)
def test_join_matches_httpx(base: str) -> None:
    for location in LOCATIONS:
        check_join(base, location)


def httpx_reads_again(base: str) -> bool:
    """Whether httpx reads ``base`` and then what it writes of it (join's starting point)."""
    try:
        httpx.URL(str(httpx.URL(base)))
    except httpx.InvalidURL:
        return False
    return True


def test_join_matches_httpx_on_random_urls() -> None:
    rng = random.Random(2020)
    pieces = ["", "x", "y/", "..", ".", "/", "//", "?", "#", "q=1", "ü", "%41", "%", " ", "h.com", ":", "@", ";p"]
    bases: list[str] = []
    while len(bases) < 300:
        base = random_url(rng, start=rng.choice(["http://", "https://", "HTTP://"]))
        if httpx_reads_again(base):
            bases.append(base)
    for base in bases:
        for _ in range(10):
            if rng.random() < 0.3:
                location = random_url(rng)
            else:
                location = "".join(rng.choice(pieces) for _ in range(rng.randrange(6)))
            check_join(base, location)


def test_join_matches_httpx_on_random_absolute_locations() -> None:
    """Locations that are absolute URLs (what most servers send), with what urljoin might change."""
    rng = random.Random(2021)
    pieces = ["", "a", "/", "//", "/b", ";", ";p", "?", "?q", "#", "#f", "[", "]", "%41", ".", "..", "/./", ":"]
    hosts = ["h.com", "H.com", "1.2.3.4", "[::1]", "a]", "[x", ""]
    for _ in range(3000):
        base = random_url(rng, start=rng.choice(["http://", "https://", "HTTP://"]))
        location = "".join(
            [
                rng.choice(["http://", "https://", "HTTP://", "http:", "ftp://"]),
                rng.choice(hosts),
                rng.choice(["", ":80", ":443", ":8080", ":0080"]),
                *(rng.choice(pieces) for _ in range(rng.randrange(5))),
            ]
        )
        if httpx_reads_again(base):
            check_join(base, location)
