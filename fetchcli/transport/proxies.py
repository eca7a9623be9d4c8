"""Which proxy, if any, a URL goes through: ``--proxy``, or the environment as curl and httpx
read it, with ``NO_PROXY`` / ``--noproxy`` exceptions.

- ``--proxy URL`` serves every scheme; as in curl, one without a scheme is ``http://``, and
  ``--proxy ''`` means no proxy at all (the environment's included). Without it (and unless ``--no-env-proxy``), ``http://``
  URLs use ``http_proxy``/``HTTP_PROXY``, ``https://`` URLs ``https_proxy``/``HTTPS_PROXY``, both
  falling back to ``all_proxy``/``ALL_PROXY``; the lower-case name wins when both are set.
- ``NO_PROXY`` (or ``--noproxy``, which replaces it) applies to ``--proxy`` too, as in curl: a
  comma-separated list of host names (``example.com`` also matches ``www.example.com``; a leading
  dot is allowed), IP addresses, CIDR networks (``10.0.0.0/8``), or ``*`` for every host.
- A proxy variable that is not a usable URL (``http_proxy=http://p:abc``) is a usage error
  naming the variable (never quoting its value: it may hold a password), before anything is
  fetched, also when no URL of the run would use it: URLs are read lazily, so which schemes a
  run meets is not known up front, and a broken environment is better loud than a failure
  that appears the day an ``http://`` URL joins the list.
- A proxy's credentials (``http://user:password@proxy:3128``, or ``-H 'Proxy-Authorization: ...'``,
  which replaces them) go to the proxy alone (``ProxyWay``): on the ``CONNECT`` of an ``https://``
  URL, on the request of an ``http://`` URL, which an HTTP proxy is sent whole. No library is
  handed them in a URL, where its error messages would quote them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fetchcli.redact import authority, basic_credentials
from fetchcli.settings import RequestSettings, check_proxy

SCHEMES = ("http", "https")


@dataclass(frozen=True, slots=True)
class Proxies:
    """The proxies of a run, resolved once. ``source`` says where each came from (for
    ``--dry-run``): ``--proxy`` or an environment variable's name, by scheme (``all`` for
    ``--proxy``); ``no_proxy_source``: the variable ``no_proxy`` came from, if any."""

    proxy: str | None = None
    by_scheme: tuple[tuple[str, str], ...] = ()
    no_proxy: tuple[str, ...] = ()
    source: tuple[tuple[str, str], ...] = ()
    no_proxy_source: str | None = None


def _env(environ: Mapping[str, str], name: str) -> tuple[str, str] | None:
    for variable in (name.lower(), name.upper()):
        value = environ.get(variable, "").strip()
        if value:
            return variable, value
    return None


def split_hosts(text: str) -> tuple[str, ...]:
    return tuple(part.strip().lower() for part in text.split(",") if part.strip())


def resolve_proxies(flag: str | None, noproxy: str | None, environ: Mapping[str, str]) -> Proxies:
    """``environ`` is empty with ``--no-env-proxy``."""
    exceptions = _env(environ, "no_proxy") if noproxy is None else None  # --noproxy replaces it
    no_proxy = split_hosts(exceptions[1] if exceptions else noproxy or "")
    excepted = exceptions[0] if exceptions else None
    if flag is not None:
        flag = flag.strip()
        if not flag:  # curl's -x "": no proxy, whatever the environment says
            return Proxies(no_proxy=no_proxy, no_proxy_source=excepted)
        return Proxies(
            proxy=_with_scheme(flag), no_proxy=no_proxy, source=(("all", "--proxy"),), no_proxy_source=excepted
        )
    by_scheme, source = [], []
    fallback = _env(environ, "all_proxy")
    for scheme in SCHEMES:
        found = _env(environ, f"{scheme}_proxy") or fallback
        if found is not None:
            url = _with_scheme(found[1])
            check_proxy(found[0], url)
            by_scheme.append((scheme, url))
            source.append((scheme, found[0]))
    return Proxies(by_scheme=tuple(by_scheme), no_proxy=no_proxy, source=tuple(source), no_proxy_source=excepted)


def _with_scheme(value: str) -> str:
    """``proxy:3128`` -> ``http://proxy:3128``, as curl reads a proxy without a scheme; a
    scheme in capitals (``HTTP://``) in lower case."""
    scheme, sep, rest = value.partition("://")
    if not sep:
        return f"http://{value}"
    return value if scheme.islower() or not scheme.isalnum() else f"{scheme.lower()}://{rest}"


def bypasses(host: str, no_proxy: tuple[str, ...]) -> bool:
    """Whether ``host`` (a name or an IP address, without brackets) is reached directly."""
    if not no_proxy:
        return False
    host = host.strip("[]").lower().rstrip(".")
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for entry in no_proxy:
        if entry == "*":
            return True
        if address is not None:
            try:
                if address in ipaddress.ip_network(entry.strip("[]"), strict=False):
                    return True
            except ValueError:  # a name: it cannot match an address
                pass
            continue
        name = entry.lstrip(".").rstrip(".")
        if name and (host == name or host.endswith("." + name)):
            return True
    return False


def proxy_for(
    scheme: str, host: str, proxy: str | None, by_scheme: tuple[tuple[str, str], ...], no_proxy: tuple[str, ...]
) -> str | None:
    """The proxy for a URL (``RequestSettings.proxy``, ``proxy_by_scheme``, ``no_proxy``), or None
    to connect directly."""
    chosen = proxy
    if chosen is None:
        for known, url in by_scheme:
            if known == scheme:
                chosen = url
                break
    if chosen is None or bypasses(host, no_proxy):
        return None
    return chosen


@dataclass(frozen=True, slots=True)
class ProxyWay:
    """How requests reach one proxy: its URL without user information (a SOCKS proxy's kept: they
    are SOCKS's own authentication), and what only the proxy is told: the run's User-Agent and
    the credentials, as ``headers`` (on a ``CONNECT``), and the credentials alone as
    ``authorization`` (for the request of an ``http://`` URL, sent to the proxy whole)."""

    url: str
    headers: tuple[tuple[str, str], ...] = ()
    authorization: str | None = None


def proxy_way(proxy: str, user_agent: str, authorization: str | None) -> ProxyWay:
    """``authorization``: the value of ``-H Proxy-Authorization``; it replaces the URL's
    credentials, as ``-H`` replaces any header fetchcli would send."""
    if not proxy.startswith("http"):
        return ProxyWay(proxy)
    userinfo, _ = authority(proxy)
    if userinfo is not None:
        start = proxy.index("://") + 3
        proxy = proxy[:start] + proxy[start + len(userinfo) + 1 :]
        if authorization is None and userinfo:
            authorization = basic_credentials(userinfo)
    credentials = (("Proxy-Authorization", authorization),) if authorization is not None else ()
    return ProxyWay(proxy, (("User-Agent", user_agent), *credentials), authorization)


ProxyRoute = Callable[[Any], "str | None"]  # of a WireURL or an httpx.URL: its scheme and host


def proxy_route(req: RequestSettings) -> ProxyRoute | None:
    """How to pick each request's proxy, or None when every request takes the same way (no
    proxy, or one proxy and no exceptions)."""
    if not req.proxies or (req.proxy is not None and not req.no_proxy):
        return None

    def route(url: Any) -> str | None:
        return proxy_for(url.scheme, url.host, req.proxy, req.proxy_by_scheme, req.no_proxy)

    return route
