"""Issue 22: ``--resolve`` and ``--connect-to``, with curl's syntax and meaning, on both backends:
the connection goes where they say, without a name lookup; the request's Host, the TLS server
name and the certificate checked stay the URL's. Names here never resolve (``.test``); any
lookup of them is refused by the test, so a run that looked one up would fail."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest

from fetchcli.settings import Backend, RequestSettings, Settings, SettingsError
from fetchcli.transport.addressmap import AddressMap, parse_connect_to, parse_resolve
from tests.helpers import collect, self_signed_context
from tests.server import running_server


@pytest.fixture
def no_lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every name looked up; a .test name is refused (nothing leaves the machine)."""
    asked: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        asked.append(name)
        if name.endswith(".test"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def _run(urls: list[str], backend: Backend, **request: Any) -> list[Any]:
    settings = Settings(request=RequestSettings(**request), backend=backend)
    return asyncio.run(collect(urls, settings))


@pytest.mark.live
def test_resolve_sends_the_connection_to_the_address_given(backend: Backend, no_lookups: list[str]) -> None:
    with running_server() as server:
        port = server.port
        resolve = (parse_resolve("--resolve", f"site.test:{port}:127.0.0.1"),)
        [ok, other_port] = _run(
            [f"http://site.test:{port}/headers?r", f"http://site.test:{port + 1 if port < 65535 else 1}/"],
            backend, resolve=resolve,
        )  # fmt: skip
        assert ok.ok and ok.status == 200 and ok.remote_ip == "127.0.0.1", ok.error
        assert server.stats.headers_seen["/headers?r"]["host"] == f"site.test:{port}"  # the URL's
        assert other_port.error is not None and other_port.error.type == "DNSError"  # only HOST:PORT is mapped
    assert "site.test" in no_lookups and all(h == "site.test" for h in no_lookups if h.endswith(".test"))
    assert no_lookups.count("site.test") == 1  # the other port's lookup, not the mapped one's


@pytest.mark.live
def test_connect_to_goes_elsewhere_keeping_host(backend: Backend, no_lookups: list[str]) -> None:
    with running_server() as server:
        connect_to = (parse_connect_to("--connect-to", f"site.test:80:127.0.0.1:{server.port}"),)
        [ok] = _run(["http://site.test/headers?c"], backend, connect_to=connect_to)
        assert ok.ok and ok.remote_ip == "127.0.0.1" and ok.remote_port == server.port, ok.error
        assert server.stats.headers_seen["/headers?c"]["host"] == "site.test"
        any_host = (parse_connect_to("--connect-to", f"::127.0.0.1:{server.port}"),)
        [also] = _run(["http://elsewhere.test:8080/headers?any"], backend, connect_to=any_host)
        assert also.ok and server.stats.headers_seen["/headers?any"]["host"] == "elsewhere.test:8080"
    assert not any(h.endswith(".test") for h in no_lookups)


@pytest.mark.live
def test_tls_keeps_the_urls_name(backend: Backend, tmp_path: Path, no_lookups: list[str]) -> None:
    """The certificate is for 127.0.0.1: reached as site.test, verification fails on the name
    (the URL's), and with -k the TLS facts are read; the connection went to the address."""
    with running_server(ssl_context=self_signed_context(tmp_path)) as server:
        resolve = (parse_resolve("--resolve", f"site.test:{server.port}:127.0.0.1"),)
        url = f"https://site.test:{server.port}/ok/tls"
        [checked] = _run([url], backend, resolve=resolve)
        [insecure] = _run([url], backend, resolve=resolve, insecure=True)
    assert checked.error is not None and checked.error.type == "CertificateError", checked.error
    assert checked.tls is not None and checked.tls.verified is False  # read by a handshake at the address too
    assert insecure.ok and insecure.remote_ip == "127.0.0.1" and insecure.tls is not None
    assert not any(h.endswith(".test") for h in no_lookups)


def test_parsing_follows_curl() -> None:
    assert parse_resolve("--resolve", "Example.COM:443:1.2.3.4,[::1]") == ("example.com", 443, ("1.2.3.4", "::1"))
    assert parse_resolve("--resolve", "[::1]:80:127.0.0.1") == ("::1", 80, ("127.0.0.1",))
    assert parse_connect_to("--connect-to", "a.test:443:b.test:8443") == ("a.test", 443, "b.test", 8443)
    assert parse_connect_to("--connect-to", "::[::1]:") == (None, None, "::1", None)
    for bad in ("a.test:443", "a.test:0:1.2.3.4", "a.test:443:host.name", ":443:1.2.3.4"):
        with pytest.raises(SettingsError):
            parse_resolve("--resolve", bad)
    for bad in ("a:1:b", "a:99999:b:1", "[::1:80::"):
        with pytest.raises(SettingsError):
            parse_connect_to("--connect-to", bad)
    mapped = AddressMap(
        resolve=(("b.test", 8443, ("10.0.0.1",)),),
        connect_to=(("a.test", 443, "b.test", 8443), (None, 80, None, 8080)),
    )
    assert mapped.target("A.test", 443) == ("b.test", 8443) and mapped.addresses("b.test", 8443) == ("10.0.0.1",)
    assert mapped.target("x.test", 80) == ("x.test", 8080) and mapped.target("x.test", 81) == ("x.test", 81)
    assert mapped.addresses("b.test", 443) is None and not AddressMap()


def test_bad_values_are_usage_errors() -> None:
    import subprocess
    import sys

    for args in (["--resolve", "a.test:80:not-an-ip"], ["--connect-to", "a:b"]):
        done = subprocess.run(
            [sys.executable, "-m", "fetchcli", *args, "http://127.0.0.1:9/"], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 2 and done.stderr.startswith(f"fetchcli: error: {args[0]} "), done.stderr
        assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.live
def test_a_host_that_is_not_ascii_matches_the_urls(backend: Backend, no_lookups: list[str]) -> None:
    """``--resolve bücher.test:PORT:ADDR`` applies to ``http://bücher.test:PORT/``, whose host is
    sent and looked up as ``xn--bcher-kva.test``: HOST is put in the same form (it never matched,
    and --dry-run said it applied; review r7u). So does --connect-to's."""
    with running_server() as server:
        port = server.port
        [resolved] = _run(
            [f"http://bücher.test:{port}/ok"],
            backend,
            resolve=(parse_resolve("--resolve", f"BÜCHER.test:{port}:127.0.0.1"),),
        )
        [connected] = _run(
            [f"http://bücher.test:{port}/ok"], backend,
            connect_to=(parse_connect_to("--connect-to", f"bücher.test:{port}:127.0.0.1:{port}"),),
        )  # fmt: skip
    assert resolved.ok and resolved.remote_ip == "127.0.0.1", resolved.error
    assert connected.ok and connected.remote_ip == "127.0.0.1", connected.error
    assert not [name for name in no_lookups if name.endswith(".test")]
    with pytest.raises(SettingsError, match="not a valid IDNA name"):
        parse_resolve("--resolve", "a..ü.test:80:127.0.0.1")


@pytest.mark.parametrize(
    "given",
    ["bücher@evil.test", "evil.test#ü", "a.example?ü", "ü.evil.example/x", "[ü]", "ü\u200bx.test", "ü x.test"],
)
def test_a_host_that_is_not_ascii_is_taken_as_a_host_name_only(given: str) -> None:
    """Not read as URL syntax on the way to its IDNA form (review r8a: 'bücher@evil.test' mapped
    evil.test, the user part dropped): a usage error, as an ASCII host with such characters never
    matches anything."""
    with pytest.raises(SettingsError):
        parse_resolve("--resolve", f"{given}:80:127.0.0.1")
    with pytest.raises(SettingsError):
        parse_connect_to("--connect-to", f"a.example:80:{given}:81")


def test_an_ideographic_full_stop_at_the_end_is_dropped_as_a_dot_is() -> None:
    assert parse_resolve("--resolve", "evil.test\u3002:80:127.0.0.1")[0] == "evil.test"


@pytest.mark.parametrize(
    "given",
    ["user@good.test", "good.test#x", "good.test?x", "good.test/x", "good\\test", "a b.test", "a%2e.test", "a\tb"],
)
def test_an_ascii_host_with_url_syntax_is_a_usage_error(given: str) -> None:
    """An ASCII HOST is held to what a URL's host can be, as a non-ASCII one is (review r9a:
    ``--resolve user@good.test:80:ADDR`` was accepted and never matched, while dry-run listed it)."""
    with pytest.raises(SettingsError, match="which is not a host name"):
        parse_resolve("--resolve", f"{given}:80:127.0.0.1")
    with pytest.raises(SettingsError, match="which is not a host name"):
        parse_connect_to("--connect-to", f"a.example:80:{given}:81")
    assert parse_resolve("--resolve", "*:80:127.0.0.1")[0] == "*"
    assert parse_connect_to("--connect-to", "[::1]:80:[fe80::1]:81") == ("::1", 80, "fe80::1", 81)
