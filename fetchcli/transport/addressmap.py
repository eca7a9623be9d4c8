"""``--resolve`` and ``--connect-to``: where a connection goes, as curl's options of the same
names say, the same on both backends (aiohttp's connector, ``aioconnector.BoundedConnector``; the httpx
backend's network backend, ``netbackend.TimedBackend``).

- ``--resolve [+]HOST:PORT:ADDR[,ADDR...]``: a connection to HOST on PORT goes to these addresses
  (in order, the first that answers), without looking the name up; HOST ``*``: any host no entry names
  (curl's wildcard); curl's ``+`` prefix is allowed, ``-`` (remove a cached entry) is not.
- ``--connect-to HOST1:PORT1:HOST2:PORT2``: a connection to HOST1 on PORT1 goes to HOST2 on
  PORT2 instead (an empty HOST1 or PORT1: any; an empty HOST2 or PORT2: the same). The first
  that matches applies; then ``--resolve`` applies to where it leads.

Only where the TCP connection goes changes: the request's ``Host``, the TLS server name and the
certificate checked are the URL's, and so is the connection pool's key. A host is matched in
lower case, as sent (IDNA A-labels; an IPv6 address without brackets). A proxy's own name is
mapped too when it matches (as curl does).

``-4``/``-6`` (``family``): only addresses of that family are connected to, whether looked up,
given by ``--resolve`` or written in the URL (an address of the other family, or a name with
none of that family, fails as a ``DNSError`` naming it: ``of_family``); the proxy's too, as curl.
An IPv4-mapped IPv6 address (``::ffff:192.0.2.7``) is of neither: IPv4 on the wire.

``--all-ips`` (``engine/allips.py``): each request of a URL's record may be pinned (``PIN``, set
for the URL's task) to one address of the URL's host and port: a connection to that host and
port goes to that address, as if ``--resolve`` named it alone (a redirect to another host or
port is looked up as usual).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass

from fetchcli.settings import RequestSettings, SettingsError


def _host(text: str) -> str:
    return text.strip("[]").lower().rstrip(".") if text.startswith("[") else text.lower().rstrip(".")


def _given_host(flag: str, text: str, given: str) -> str:
    """A HOST of ``--resolve``/``--connect-to`` as the URL's host is compared with it: a name
    that is not ASCII (``bücher.example``) in its IDNA form (``xn--bcher-kva.example``), as
    the URL's is; a name IDNA refuses is a usage error (it would never match)."""
    host = _host(text)
    shown = repr(text if len(text) <= 80 else text[:80] + "...")
    # A URL's host never holds these, so such a HOST would never match, unsaid (and parse() below
    # would read them as URL syntax: 'bücher@evil.test' as the host evil.test); an IPv6 address
    # in brackets holds colons and is compared as an address, never as a name.
    bracketed = text.startswith("[")
    delimiters = _URL_DELIMITERS - {":"} if bracketed else _URL_DELIMITERS
    if (
        (bracketed and not host.isascii())
        or not host.isprintable()
        or any(c in delimiters or c.isspace() for c in host)
    ):
        raise SettingsError(flag, f"has {shown}, which is not a host name")
    if host.isascii():
        return host
    from fetchcli.transport.wireurl import BadURL, parse

    try:
        return parse(f"http://{host}/").host.rstrip(".")  # 'evil.test。' is 'evil.test.' in IDNA
    except BadURL:
        raise SettingsError(flag, f"has a host name that is not a valid IDNA name, {shown}") from None


_URL_DELIMITERS = frozenset("/?#@[]\\:%")


def _split(text: str, parts: int) -> list[str]:
    """``text`` cut at colons into ``parts`` fields; a field in brackets (an IPv6 address) keeps its colons."""
    fields: list[str] = []
    rest = text
    while rest and len(fields) < parts - 1:
        if rest.startswith("["):
            end = rest.find("]")
            if end < 0:
                return []
            fields.append(rest[: end + 1])
            rest = rest[end + 1 :]
            if rest and not rest.startswith(":"):
                return []
            rest = rest[1:]
            continue
        field, colon, rest = rest.partition(":")
        fields.append(field)
        if not colon:
            break
    else:
        fields.append(rest)
    return fields if len(fields) == parts else []


def _port(flag: str, text: str, given: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise SettingsError(flag, f"has a port that is not 1-65535 in {given!r}")
    return int(text)


def parse_resolve(flag: str, text: str) -> tuple[str, int, tuple[str, ...]]:
    """``[+]HOST:PORT:ADDR[,ADDR...]`` -> (host, port, addresses); a ``SettingsError`` otherwise.
    ``HOST`` ``*``: any host on that port (curl's wildcard)."""
    given = text.strip()
    if given.startswith("-"):  # curl's "-HOST:PORT" takes an entry of an earlier run's cache away
        raise SettingsError(flag, f"has nothing to remove in {text!r}: fetchcli keeps no names between runs")
    fields = _split(given.removeprefix("+"), 3)  # curl's "+": the entry times out, which here is the run's end
    if not fields or not fields[0]:
        raise SettingsError(flag, f"must look like HOST:PORT:ADDRESS[,ADDRESS...], not {text!r}")
    port = _port(flag, fields[1], text)
    addresses = []
    for address in fields[2].split(","):
        bare = address.strip()
        if bare.startswith("[") and bare.endswith("]"):
            bare = bare[1:-1]
        try:
            addresses.append(str(ipaddress.ip_address(bare)))
        except ValueError:
            raise SettingsError(flag, f"has {address.strip()!r}, which is not an IP address, in {text!r}") from None
    return _given_host(flag, fields[0], text), port, tuple(addresses)


def parse_connect_to(flag: str, text: str) -> tuple[str | None, int | None, str | None, int | None]:
    """``HOST1:PORT1:HOST2:PORT2`` (each may be empty) -> the four, None for an empty one."""
    fields = _split(text.strip(), 4)
    if not fields:
        raise SettingsError(flag, f"must look like HOST1:PORT1:HOST2:PORT2 (any may be empty), not {text!r}")
    host1, port1, host2, port2 = fields
    return (
        _given_host(flag, host1, text) if host1 else None,
        _port(flag, port1, text) if port1 else None,
        _given_host(flag, host2, text) if host2 else None,
        _port(flag, port2, text) if port2 else None,
    )


# --all-ips: (host as matched, the address, (port, the port to connect to) pairs) for the URL's task
Pin = tuple[str, str, tuple[tuple[int, int], ...]]
PIN: ContextVar[Pin | None] = ContextVar("fetchcli_address_pin", default=None)


def pin_for(host: str, address: str, ports: tuple[tuple[int, int], ...]) -> Pin:
    """The ``PIN`` of requests to ``host``: on each port of ``ports``, ``address`` on the port
    paired with it (``--connect-to``'s)."""
    return _host(host), address, ports


def family_of(address: str) -> int:
    """4 or 6."""
    return 6 if ":" in address else 4


def is_mapped(address: str) -> bool:
    """Whether ``address`` is an IPv4-mapped IPv6 address (``::ffff:192.0.2.7``): a connection
    to it is IPv4 on the wire (through a dual-stack socket)."""
    try:
        return ":" in address and ipaddress.IPv6Address(address).ipv4_mapped is not None
    except ValueError:
        return False


def _kind(address: str) -> str:
    if is_mapped(address):
        return "an IPv4-mapped IPv6 address (IPv4 on the wire)"
    return f"an IPv{family_of(address)} address"


@dataclass(frozen=True, slots=True)
class AddressMap:
    """The run's ``--resolve`` and ``--connect-to`` entries, ``-4``/``-6`` (``family``: 4, 6 or
    0) and whether requests may be pinned (``pinning``: ``--all-ips``)."""

    resolve: tuple[tuple[str, int, tuple[str, ...]], ...] = ()
    connect_to: tuple[tuple[str | None, int | None, str | None, int | None], ...] = ()
    family: int = 0
    pinning: bool = False

    def __bool__(self) -> bool:
        return bool(self.resolve or self.connect_to or self.family or self.pinning)

    @classmethod
    def for_request(cls, req: RequestSettings) -> AddressMap:
        """The map of a run's request settings."""
        return cls(req.resolve, req.connect_to, req.family, req.all_ips)

    @property
    def socket_family(self) -> int:
        """``socket.AF_INET``, ``AF_INET6``, or ``AF_UNSPEC`` (0): what a name lookup asks for."""
        return socket.AF_INET if self.family == 4 else socket.AF_INET6 if self.family == 6 else socket.AF_UNSPEC

    def of_family(self, host: str, addresses: Iterable[str]) -> list[str]:
        """``addresses`` of the family -4/-6 allows (all without them); none: a ``socket.gaierror``
        (a ``DNSError`` in the record) that says why. An IPv4-mapped IPv6 address is of neither:
        not IPv4 to -4 (as curl), and IPv4 on the wire to -6."""
        found = list(addresses)
        if not self.family:
            return found
        kept = [address for address in found if family_of(address) == self.family and not is_mapped(address)]
        if kept:
            return kept
        bare = host.strip("[]")
        if is_address(bare):
            raise socket.gaierror(f"{bare} is {_kind(bare)} and -{self.family} allows IPv{self.family} only")
        mapped = next((address for address in found if is_mapped(address)), None)
        why = ""
        if mapped is not None:  # said in the form it was given (::ffff:192.0.2.7), not Python's (::ffff:c000:207)
            ipv4 = ipaddress.IPv6Address(mapped).ipv4_mapped
            shown = f"::ffff:{ipv4}"
            if self.family == 6:
                why = f"; {shown} is {ipv4}, IPv4-mapped: IPv4 on the wire"
            else:
                why = f"; {shown} is IPv4-mapped IPv6, not IPv4: give {ipv4}"
        raise socket.gaierror(f"{bare} has no IPv{self.family} address (-{self.family}{why})")

    def lookup_failed(self, exc: OSError) -> OSError:
        """A failed name lookup; under -4/-6 one that says only that family was asked for (the
        system's "Name or service not known" for a name that has addresses of the other one)."""
        if not self.family or not isinstance(exc, socket.gaierror):
            return exc
        said = exc.strerror or str(exc)
        return socket.gaierror(exc.errno, f"{said} (IPv{self.family} addresses only: -{self.family})")

    def target(self, host: str, port: int) -> tuple[str, int]:
        """Where a connection to ``host`` on ``port`` goes (``--connect-to``, the first match)."""
        key = _host(host)
        for host1, port1, host2, port2 in self.connect_to:
            if (host1 is None or host1 == key) and (port1 is None or port1 == port):
                return (host2 if host2 is not None else host), (port2 if port2 is not None else port)
        return host, port

    def route(self, host: str, port: int) -> tuple[str, int, tuple[str, ...] | None]:
        """Where a connection to ``host`` on ``port`` goes: the host and port after
        ``--connect-to``, and the addresses ``--resolve`` gives them (None: look the name up);
        the pinned address (``PIN``) when the request's URL's host and port are pinned."""
        if self.pinning:
            pin = PIN.get()
            if pin is not None and pin[0] == _host(host):
                for known, to in pin[2]:
                    if known == port:
                        return host, to, (pin[1],)
        target, port = self.target(host, port)
        return target, port, self.addresses(target, port)

    def addresses(self, host: str, port: int) -> tuple[str, ...] | None:
        """The addresses ``--resolve`` gives ``host`` on ``port``, or None: look it up."""
        key = _host(host)
        wildcard = None
        for name, known, addresses in self.resolve:
            if known == port:
                if name == key:
                    return addresses
                if name == "*" and wildcard is None:
                    wildcard = addresses
        return wildcard  # curl's "*:PORT": only when no entry names the host


def is_address(text: str) -> bool:
    """Whether ``text`` is an IPv4 or IPv6 address (not a name)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
