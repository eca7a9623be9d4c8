"""Two backends, one behaviour: the same hostile-server matrix on aiohttp and httpx gives the
same status, error.type and attempts, and the server sees the same number of requests.

Each case also states what the answer must be, so two backends wrong in the same way still fail.
"""

from __future__ import annotations

import dataclasses
import json
import resource
import socket
import ssl
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fetchcli.settings import Backend, RequestSettings, RetrySettings, Settings, SuccessSettings, TimeoutSettings
from tests.helpers import answering_port, run, self_signed_context
from tests.server import LoopbackServer, running_server

UNRESOLVABLE = "no-such-host.fetchcli.test"


@pytest.fixture
def no_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """One name that does not resolve, without asking any resolver (no traffic leaves)."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == UNRESOLVABLE:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture(scope="module")
def tls_context(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    return self_signed_context(tmp_path_factory.mktemp("tls"))


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    path: str  # on the plain server, or a full URL with {port}, {tls_port}, {v6_port}
    expect: tuple[int | None, str | None, int]  # status, error.type, attempts
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    snippet: str | None = None  # what the body must start with, where it matters
    same_message: bool = False  # error.message too is the same on both backends (fetchcli's words)


FOLLOW = {"follow_redirects": True, "max_redirects": 3}
CASES = [
    Case("hang", "/hang", (None, "ReadTimeout", 1), {"timeout": 0.5}, same_message=True),
    Case("trickle", "/trickle", (200, "TotalTimeout", 1), {"max_time": 0.6}),  # the status came: kept
    Case("reset mid-status", "/reset-status", (None, "RemoteProtocolError", 1)),
    Case("over-long chunk size", "/bad-chunk", (None, "RemoteProtocolError", 1), same_message=True),
    Case("short body", "/short", (200, "RemoteProtocolError", 1), same_message=True),  # the headers came: status kept
    Case("1 MiB header", "/bigheader", (None, "RemoteProtocolError", 1)),
    Case("redirect chain", "/redirect/2", (200, None, 3), FOLLOW),  # attempts: every request sent
    Case("redirect loop", "/loop", (None, "TooManyRedirects", 4), FOLLOW),
    Case("broken Location, not followed", "/evil-location", (302, None, 1)),
    Case("redirect not followed: its location", "/location?to=..%2Fa%20b%3Fq%23f", (302, None, 1)),
    Case("broken Location, -L", "/evil-location", (None, "InvalidRedirect", 1), FOLLOW),
    Case("307 POST", "/307", (200, None, 2), {**FOLLOW, "method": "POST"}, snippet="POST"),
    Case("308 PUT", "/308", (200, None, 2), {**FOLLOW, "method": "PUT"}, snippet="PUT"),
    Case("URL credentials", "http://user:pw@127.0.0.1:{port}/headers?creds", (200, None, 1)),
    Case("decimal host", "http://2130706433:{port}/ok/decimal", (200, None, 1)),
    Case("IPv6 host", "http://[::1]:{v6_port}/ok/v6", (200, None, 1)),
    Case("refused port", "http://127.0.0.1:9/", (None, "ConnectionRefused", 1), same_message=True),
    Case("unresolvable name", f"http://{UNRESOLVABLE}/", (None, "DNSError", 1), same_message=True),
    Case("self-signed TLS", "https://127.0.0.1:{tls_port}/ok/tls", (None, "CertificateError", 1), same_message=True),
    Case("TLS to a plain-HTTP port", "https://127.0.0.1:{http_port}/", (None, "TLSError", 1), same_message=True),
    Case("self-signed TLS with -k", "https://127.0.0.1:{tls_port}/ok/tls-k", (200, None, 1), {"insecure": True}),
    Case(
        "TLS handshake never answered",
        "https://127.0.0.1:{silent_port}/",
        (None, "ConnectTimeout", 1),
        {"timeout": 0.5},
        same_message=True,
    ),
    Case("retried 503", "/fail/{key}/2?status=503", (200, None, 3), {"retries": 3}),
    Case("dropped, GET retried", "/drop/{key}/1", (200, None, 2), {"retries": 3}),
    Case(
        "dropped, POST not retried", "/drop/{key}/1", (None, "RemoteProtocolError", 1), {"retries": 3, "method": "POST"}
    ),
    Case("-4, an IPv4 address", "/ok/four", (200, None, 1), {"ipv4": True}),
    Case("-6, an IPv6 address", "http://[::1]:{v6_port}/ok/six", (200, None, 1), {"ipv6": True}),
    Case("-6, an IPv4 address", "/ok/not-six", (None, "DNSError", 1), {"ipv6": True}, same_message=True),
    Case("-4, a name without IPv4", f"http://{UNRESOLVABLE}/", (None, "DNSError", 1), {"ipv4": True}),
    Case("--all-ips, an address", "/ok/all-ips", (200, None, 1), {"all_ips": True}),
    Case("--expect-jq met", "/say?text=%7B%22a%22%3A%5B1%2C2%5D%7D", (200, None, 1), {"expect_jq": ".a[] > 0"}),
    Case("--expect-jq on HTML", "/html", (200, "ExpectFailed", 1), {"expect_jq": ".a"}, same_message=True),
]


def _settings(case: Case, backend: Backend) -> Settings:
    options = dict(case.settings)
    timeouts = TimeoutSettings(timeout=options.pop("timeout", 5), max_time=options.pop("max_time", 30))
    retry = RetrySettings(retries=options.pop("retries", 0), backoff=0.01, max_wait=0.05)
    success = SuccessSettings(expect_jq=options.pop("expect_jq", None))
    return Settings(
        request=RequestSettings(**options), timeouts=timeouts, retry=retry, success=success, backend=backend
    )


@pytest.fixture(scope="module")
def servers(tls_context: ssl.SSLContext) -> Iterator[dict[str, LoopbackServer]]:
    with (
        running_server() as plain,
        running_server(ssl_context=tls_context) as tls,
        running_server(host="::1") as v6,
    ):
        yield {"plain": plain, "tls": tls, "v6": v6}


@pytest.fixture(scope="module")
def silent_port() -> Iterator[int]:
    """A port that takes connections (the kernel's backlog) and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


@pytest.fixture(scope="module")
def http_port() -> Iterator[int]:
    """A port whose server answers whatever it is sent with an HTTP/1.1 400 at once: a TLS
    ClientHello to it gets plain text back (OpenSSL's "wrong version number", a TLSError)."""
    with answering_port(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n") as port:
        yield port


def _outcomes(
    backend: Backend, servers: dict[str, LoopbackServer], silent: int, http: int
) -> list[tuple[str, Any, int, Any]]:
    plain = servers["plain"]
    outcomes = []
    for case in CASES:
        key = f"{backend.value}-{case.name.replace(' ', '-')}"
        target = case.path.format(
            port=plain.port,
            tls_port=servers["tls"].port,
            v6_port=servers["v6"].port,
            key=key,
            silent_port=silent,
            http_port=http,
        )
        url = target if "://" in target else plain.url(target)
        seen_before = sum(s.stats.requests + s.stats.dropped for s in servers.values())
        (result,) = run([url], _settings(case, backend))
        seen = sum(s.stats.requests + s.stats.dropped for s in servers.values()) - seen_before
        error = result.error.type if result.error is not None else None
        # Beyond the outcome: the redirects listed and the TLS facts read (for the self-signed
        # server, read by the extra handshake after the failed verification).
        tls = result.tls.to_dict() if result.tls is not None else None
        timing = result.timing.to_dict() if result.timing is not None else {}
        phases = tuple(name for name, value in timing.items() if value is not None)  # which were timed
        message = result.error.message if result.error is not None and case.same_message else None
        assert message is None or ("\n" not in message and "\\n" not in message), (backend, case.name, message)
        facts = ([(hop.url, hop.status) for hop in result.redirects], tls, phases, message, result.location)
        outcomes.append((case.name, (result.status, error, result.attempts), seen, facts))
        if result.status is not None and "://" in target:  # where the connection went, on both
            assert result.remote_ip == ("::1" if "[::1]" in target else "127.0.0.1"), (backend, case.name)
        if case.snippet is not None:  # the method and body were re-sent along the redirect
            assert result.snippet.startswith(case.snippet), (backend, case.name, result.snippet)
    return outcomes


@pytest.mark.usefixtures("no_dns")
@pytest.mark.slow  # seconds of timers
def test_both_backends_give_the_same_record_for_the_same_event(
    servers: dict[str, LoopbackServer], silent_port: int, http_port: int
) -> None:
    aio = _outcomes(Backend.aiohttp, servers, silent_port, http_port)
    plain = _outcomes(Backend.httpx, servers, silent_port, http_port)
    expected = [(case.name, case.expect) for case in CASES]
    assert [(name, outcome) for name, outcome, *_ in aio] == expected, "aiohttp"
    assert [(name, outcome) for name, outcome, *_ in plain] == expected, "httpx"
    assert [seen for _, _, seen, _ in aio] == [seen for _, _, seen, _ in plain]  # what the server received
    assert [facts for *_, facts in aio] == [facts for *_, facts in plain]  # redirects, TLS facts, messages
    tls = {name: facts[1] for name, _, _, facts in aio if facts[1] is not None}
    assert tls["self-signed TLS"]["verified"] is False and tls["self-signed TLS with -k"]["verified"] is None
    assert tls["self-signed TLS"]["subject"] == "CN=127.0.0.1"
    phases = {name: facts[2] for name, _, _, facts in aio}
    assert phases["self-signed TLS with -k"] == ("connect_ms", "tls_ms", "ttfb_ms")
    assert phases["IPv6 host"] == ("connect_ms", "ttfb_ms") and phases["refused port"] == ()


@pytest.mark.parametrize("retries", [0, 3])
@pytest.mark.live
def test_requests_seen_equal_the_attempts_reported(backend: Backend, retries: int) -> None:
    """With 20% of connections reset, the server's count and the records' agree exactly."""
    with running_server() as server:
        server.fault_rate = 0.2
        urls = [server.url(f"/ok/{n}") for n in range(400)]
        settings = Settings(retry=RetrySettings(retries=retries, backoff=0.001, max_wait=0.01), backend=backend)
        results = run(urls, settings)
        assert server.stats.requests + server.stats.dropped == sum(r.attempts for r in results)
        failed = [r for r in results if not r.ok]
        if retries == 0:
            # A request reset on a kept-alive connection before any answer is sent once more on a
            # new connection (the only extra attempts without --retries); any other reset fails.
            assert server.stats.dropped == len(failed) + sum(r.attempts - 1 for r in results)
            assert len(failed) > 0
        else:
            assert len(failed) < server.stats.dropped


def test_a_post_is_sent_once_after_a_read_error_unless_all_methods_are_retried(
    server: LoopbackServer, backend: Backend, tmp_path: Path
) -> None:
    retry = RetrySettings(retries=3, backoff=0.001, max_wait=0.01)
    post = RequestSettings(method="POST")
    key = f"post-{backend.value}"
    (once,) = run([server.url(f"/drop/{key}/1")], Settings(request=post, retry=retry), backend=backend)
    assert once.attempts == 1 and not once.ok
    (again,) = run(
        [server.url(f"/drop/{key}-all/1")],
        Settings(request=post, retry=dataclasses.replace(retry, all_methods=True)),
        backend=backend,
    )
    assert again.attempts == 2 and again.ok


def _few_file_descriptors() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (40, 40))


def test_out_of_file_descriptors_is_the_same_error_on_both_backends(server: LoopbackServer, backend: Backend) -> None:
    urls = [server.url(f"/slow/200?fds={backend.value}-{n}") for n in range(120)]
    done = subprocess.run(
        [sys.executable, "-m", "fetchcli", "--backend", backend.value, "-c", "100", *urls],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=_few_file_descriptors,
    )
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(records) == 120 and done.returncode == 1, done.stderr
    kinds = Counter((r["error"] or {}).get("type") for r in records)
    assert set(kinds) == {None, "TooManyOpenFiles"} and kinds["TooManyOpenFiles"] > 0, kinds
