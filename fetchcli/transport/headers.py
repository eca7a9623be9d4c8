"""The headers every request of a run carries (ours, then ``-H``), and how each proxy is reached:
with its credentials and the run's User-Agent told the proxy alone."""

from __future__ import annotations

from collections.abc import Iterable

from fetchcli._version import __version__
from fetchcli.settings import RequestSettings, Settings
from fetchcli.transport.proxies import ProxyWay, proxy_way

ACCEPT_ENCODING = "gzip, deflate"
DEFAULT_USER_AGENT = f"fetchcli/{__version__}"


def headers_of(settings: Settings) -> list[tuple[bytes, bytes]]:
    """The default headers of every request: ours, replaced by any ``-H`` of the same name, then
    the ``-H`` headers but ``Proxy-Authorization``, which only a proxy is sent (``proxy_ways``).
    Values are sent as UTF-8 (names are ASCII tokens: settings checked them), as curl sends what
    it is given; httpx alone would refuse anything but ASCII."""
    req = settings.request
    headers = [("User-Agent", req.user_agent or DEFAULT_USER_AGENT), ("Accept-Encoding", ACCEPT_ENCODING)]
    given = [(name, value) for name, value in req.headers if name.lower() != "proxy-authorization"]
    overridden = {name.lower() for name, _ in given}
    headers = [(name, value) for name, value in headers if name.lower() not in overridden]
    return [(name.encode("ascii"), value.encode("utf-8")) for name, value in headers + given]


def _given(req: RequestSettings, name: str) -> str | None:
    """The value of the last ``-H`` of this name (lower case), or None."""
    found = [value for given, value in req.headers if given.lower() == name]
    return found[-1] if found else None


def proxy_ways(req: RequestSettings) -> dict[str, ProxyWay]:
    """How to reach each proxy of a run (by its URL as given): without its credentials in a URL;
    they, and the run's User-Agent, are told the proxy alone (``proxies.ProxyWay``)."""
    user_agent = _given(req, "user-agent") or req.user_agent or DEFAULT_USER_AGENT
    authorization = _given(req, "proxy-authorization")
    return {proxy: proxy_way(proxy, user_agent, authorization) for proxy in req.proxies}


def default_headers(settings: Settings) -> tuple[tuple[str, str], ...]:
    """Every request's headers as ``build_client``'s client sends them: httpx's ``Accept: */*``
    and ``Connection: keep-alive`` (unless ``-H`` gives them), then ``headers_of``; so both
    backends send the same bytes."""
    given = [(name.decode("ascii"), value.decode("utf-8")) for name, value in headers_of(settings)]
    named = {name.lower() for name, _ in given}
    base = [
        (name, value) for name, value in (("Accept", "*/*"), ("Connection", "keep-alive")) if name.lower() not in named
    ]
    return tuple(base + given)


def spellings_vary(headers: Iterable[tuple[str, str]]) -> bool:
    """Whether a header name repeats spelled in another case (``X-A`` then ``x-a``)."""
    spelled: dict[str, str] = {}
    return any(spelled.setdefault(name.lower(), name) != name for name, _ in headers)


def one_spelling(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """``headers`` in order, each repeat of a name spelled as its first. aiohttp (3.x,
    ``ClientSession._prepare_headers``) keeps only the last of the repeats of a name when their
    spellings differ (``-H 'X-A: 1' -H 'x-a: 2'`` sent ``x-a: 2`` alone); names are
    case-insensitive, values must all go, as on the httpx backend."""
    spelled: dict[str, str] = {}
    return [(spelled.setdefault(name.lower(), name), value) for name, value in headers]
