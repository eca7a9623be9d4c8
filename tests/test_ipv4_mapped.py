"""``-6`` and IPv4-mapped IPv6 addresses (``::ffff:a.b.c.d``): a connection to one is IPv4 on
the wire (a dual-stack socket), so ``-6`` (IPv6 only) refuses it, as ``-4`` does (it is not an
IPv4 address: curl's ``-4`` skips it too). Without either it is used as given. Where requests
went is counted at an IPv4-only server on 127.0.0.1."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from fetchcli.settings import Backend
from fetchcli.transport.addressmap import AddressMap, parse_resolve
from tests.test_all_ips import _run, needs_ipv6, servers_on

MAPPED = "::ffff:127.0.0.1"
NORMALISED = str(ipaddress.ip_address(MAPPED))  # as --resolve keeps it (Python 3.11: ::ffff:7f00:1)


def test_of_family_refuses_a_mapped_address_under_either_family() -> None:
    assert AddressMap().of_family("site.test", [MAPPED]) == [MAPPED]
    assert AddressMap(family=6).of_family("site.test", [MAPPED, "::1"]) == ["::1"]
    with pytest.raises(
        socket.gaierror, match=r"site.test has no IPv6 address \(-6; ::ffff:127.0.0.1 is 127.0.0.1, IPv4-mapped"
    ):
        AddressMap(family=6).of_family("site.test", [MAPPED])
    with pytest.raises(socket.gaierror, match="IPv4-mapped IPv6 address"):
        AddressMap(family=4).of_family(MAPPED, [MAPPED])


@pytest.mark.live
@needs_ipv6
def test_ipv6_only_refuses_an_ipv4_mapped_address(backend: Backend) -> None:
    with servers_on("127.0.0.1") as (v4,):
        resolve = (parse_resolve("--resolve", f"mapped.test:{v4.port}:[{MAPPED}]"),)
        url = f"http://mapped.test:{v4.port}/"
        [named] = _run([url], backend, resolve=resolve, ipv6=True)
        [literal] = _run([f"http://[{MAPPED}]:{v4.port}/"], backend, ipv6=True)
        [probed] = _run([url], backend, resolve=resolve, ipv6=True, all_ips=True)
        [four] = _run([url], backend, resolve=resolve, ipv4=True)
        assert v4.hits == 0  # none of them reached the server over IPv4
        [either] = _run([url], backend, resolve=resolve)
        assert either.ok and v4.hits == 1  # without -4/-6: as given
    assert named.error is not None and named.error.type == "DNSError"
    assert named.error.message == (
        # said in the form given, not Python's ::ffff:7f00:1 (review r10u)
        f"mapped.test has no IPv6 address (-6; {MAPPED} is 127.0.0.1, IPv4-mapped: IPv4 on the wire)"
    )
    assert literal.error is not None and literal.error.type == "DNSError"
    assert literal.error.message == (
        f"{MAPPED} is an IPv4-mapped IPv6 address (IPv4 on the wire) and -6 allows IPv6 only"
    )
    assert probed.error == named.error
    assert four.error is not None and four.error.message == (
        f"mapped.test has no IPv4 address (-4; {MAPPED} is IPv4-mapped IPv6, not IPv4: give 127.0.0.1)"
    )
    assert NORMALISED in (MAPPED, "::ffff:7f00:1")
