"""Issue 22: ``-4``/``-6`` and ``--all-ips``, on both backends. Each server below listens on one
loopback address (127.0.0.2, 127.0.0.3, 127.0.0.1, ::1; Linux routes all of 127/8 to lo) and
counts the requests it answers, so where fetchcli connected is counted at the other end, not
taken from fetchcli's own record. Names here never resolve (``.test``); they are mapped with
``--resolve``."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from fetchcli.models import FetchResult
from fetchcli.settings import Backend, BodySettings, PolitenessSettings, RequestSettings, Settings, SettingsError
from fetchcli.transport.addressmap import parse_resolve
from tests.helpers import collect, fetchcli_in_clean_env

GAUGE = [0, 0]  # requests to /slow in flight now, and at most, on all the servers together
ARRIVALS: list[tuple[str, str]] = []  # (address, path) of every request, on all the servers, as they came


class CountingServer:
    """An HTTP/1.1 server on one address that answers every request 200 with its own address,
    counting the requests (and, with TLS, the server names asked for)."""

    def __init__(self, address: str, port: int = 0, ssl_context: ssl.SSLContext | None = None) -> None:
        self.address, self.port, self.hits = address, port, 0
        self.paths: list[str] = []
        self.server_names: list[str | None] = []
        self._ssl = ssl_context
        if ssl_context is not None:
            ssl_context.sni_callback = self._told_name
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None

    def _told_name(self, sock: Any, name: str | None, context: Any) -> None:
        self.server_names.append(name)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.hits += 1
                path = head.split(b" ", 2)[1]
                self.paths.append(path.decode())
                ARRIVALS.append((self.address, path.decode()))
                body = self.address.encode()
                if path == b"/slow":  # counted in flight across every server (GAUGE)
                    GAUGE[0] += 1
                    GAUGE[1] = max(GAUGE)
                    await asyncio.sleep(0.2)
                    GAUGE[0] -= 1
                if path.startswith(b"/to/"):  # /to/TARGET: a redirect there
                    writer.write(b"HTTP/1.1 302 Found\r\nLocation: %s\r\nContent-Length: 0\r\n\r\n" % path[4:])
                else:
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    def start(self) -> CountingServer:
        self._thread.start()

        async def listen() -> None:
            self._server = await asyncio.start_server(self._handle, self.address, self.port, ssl=self._ssl)
            self.port = self._server.sockets[0].getsockname()[1]

        asyncio.run_coroutine_threadsafe(listen(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


@contextmanager
def servers_on(*addresses: str, tls: Callable[[], ssl.SSLContext] | None = None) -> Iterator[list[CountingServer]]:
    """One server per address, all on the same port (tried a few times: a port free on the first
    address may be taken on another); ``tls``: makes each server's own TLS context."""
    for _ in range(20):
        with ExitStack() as stack:
            first = CountingServer(addresses[0], ssl_context=tls() if tls else None).start()
            stack.callback(first.stop)
            started = [first]
            try:
                for address in addresses[1:]:
                    started.append(CountingServer(address, first.port, tls() if tls else None).start())
                    stack.callback(started[-1].stop)
            except OSError:
                continue
            yield started
            return
    pytest.skip(f"no port free on all of {addresses}")


def _ipv6_loopback() -> str | None:
    """Why the -6 tests cannot run here, or None."""
    if not socket.has_ipv6:
        return "this Python has no IPv6"
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError as exc:
        return f"no IPv6 loopback (::1): {exc}"
    return None


needs_ipv6 = pytest.mark.skipif(_ipv6_loopback() is not None, reason=str(_ipv6_loopback()))


def _run(urls: list[str], backend: Backend, concurrency: int | None = None, **request: Any) -> list[FetchResult]:
    settings = Settings(request=RequestSettings(**request), backend=backend, concurrency=concurrency)
    return asyncio.run(collect(urls, settings))


@pytest.mark.live
def test_all_ips_probes_each_address_once(backend: Backend) -> None:
    with servers_on("127.0.0.2", "127.0.0.3") as (two, three):
        resolve = (parse_resolve("--resolve", f"site.test:{two.port}:127.0.0.2,127.0.0.3"),)
        urls = [f"http://site.test:{two.port}/a", f"http://127.0.0.2:{two.port}/literal"]
        # One at a time: the second address must not get the first one's kept-alive connection.
        records = _run(urls, backend, concurrency=1, resolve=resolve, all_ips=True)
        assert [(r.index, r.url, r.remote_ip, r.status) for r in records] == [
            (0, urls[0], "127.0.0.2", 200),
            (0, urls[0], "127.0.0.3", 200),
            (1, urls[1], "127.0.0.2", 200),  # an address is its one address
        ]
        assert [r.snippet for r in records] == ["127.0.0.2", "127.0.0.3", "127.0.0.2"]  # who answered
        assert (two.paths, three.paths) == (["/a", "/literal"], ["/a"])  # one request each, at its address


@pytest.mark.live
def test_all_ips_with_save_keeps_each_addresss_body(tmp_path: Path) -> None:
    """Each probe's body in a file of its own (the second address's was saved over the first's,
    and both records named the one file)."""
    with servers_on("127.0.0.2", "127.0.0.3") as (two, _):
        resolve = (parse_resolve("--resolve", f"site.test:{two.port}:127.0.0.2,127.0.0.3"),)
        request = RequestSettings(resolve=resolve, all_ips=True)
        settings = Settings(request=request, body=BodySettings(save_dir=str(tmp_path)), concurrency=1)
        records = asyncio.run(collect([f"http://site.test:{two.port}/a"], settings))
    saved = {r.remote_ip: (tmp_path / str(r.saved_path)).read_bytes() for r in records}
    assert saved == {"127.0.0.2": b"127.0.0.2", "127.0.0.3": b"127.0.0.3"}
    assert records[0].saved_path == f"site.test_{two.port}/a" and "~conflict-" in str(records[1].saved_path)


@pytest.mark.live
def test_per_host_counts_each_address_probe(backend: Backend) -> None:
    """--per-host 1: the probes of one host's addresses go one after the other."""
    with servers_on("127.0.0.2", "127.0.0.3") as (two, three):
        GAUGE[:] = [0, 0]
        resolve = (parse_resolve("--resolve", f"site.test:{two.port}:127.0.0.2,127.0.0.3"),)
        settings = Settings(
            request=RequestSettings(resolve=resolve, all_ips=True),
            politeness=PolitenessSettings(per_host=1),
            backend=backend,
        )
        records = asyncio.run(collect([f"http://site.test:{two.port}/slow"] * 2, settings))
        assert [r.status for r in records] == [200] * 4 and (two.hits, three.hits) == (2, 2)
        assert GAUGE == [0, 1]


@pytest.mark.live
def test_all_ips_redirects_stay_pinned_to_the_urls_host_only(backend: Backend) -> None:
    """A redirect to the same host and port goes to the probed address; one to another host is
    looked up as usual (here: --resolve gives other.test 127.0.0.2 alone)."""
    with servers_on("127.0.0.2", "127.0.0.3") as (two, three):
        port = two.port
        resolve = (
            parse_resolve("--resolve", f"site.test:{port}:127.0.0.2,127.0.0.3"),
            parse_resolve("--resolve", f"other.test:{port}:127.0.0.2"),
        )
        urls = [f"http://site.test:{port}/to//same", f"http://site.test:{port}/to/http://other.test:{port}/other"]
        records = _run(urls, backend, resolve=resolve, all_ips=True, follow_redirects=True)
        assert [(r.index, r.remote_ip, r.status) for r in records] == [
            (0, "127.0.0.2", 200),
            (0, "127.0.0.3", 200),
            (1, "127.0.0.2", 200),
            (1, "127.0.0.2", 200),  # other.test's own address, not the pinned 127.0.0.3
        ]
        assert sorted(two.paths) == sorted(
            ["/to//same", "/same", f"/to/http://other.test:{port}/other", "/other", "/other"]
        )
        assert sorted(three.paths) == sorted(["/to//same", "/same", f"/to/http://other.test:{port}/other"])


@pytest.mark.live
def test_all_ips_keeps_the_tls_name_and_reports_a_dead_address(backend: Backend, tmp_path: Path) -> None:
    """Each address is asked for the URL's name (SNI) and its certificate is checked against it;
    an address where nothing listens gives its own failed record, naming that address."""
    from tests.certs import issue, server_context

    ca = issue(tmp_path, "ca", is_ca=True)
    issued = issue(tmp_path, "site", ca=ca, ip="192.0.2.1", dns_names=("site.test",))
    with servers_on("127.0.0.2", "127.0.0.3", tls=lambda: server_context(issued)) as (two, three):
        resolve = (parse_resolve("--resolve", f"site.test:{two.port}:127.0.0.2,127.0.0.3,127.0.0.4"),)
        url = f"https://site.test:{two.port}/tls"
        records = _run([url], backend, resolve=resolve, all_ips=True, cacert=str(ca.cert))
        assert [(r.remote_ip, r.ok) for r in records] == [
            ("127.0.0.2", True),
            ("127.0.0.3", True),
            ("127.0.0.4", False),
        ]
        assert records[2].error is not None and records[2].error.type == "ConnectionRefused"
        assert all(r.tls is not None and r.tls.verified for r in records[:2])
        assert (two.hits, three.hits) == (1, 1)
        assert two.server_names == three.server_names == ["site.test"]


@pytest.mark.live
def test_all_ips_name_that_does_not_resolve_is_one_dns_record(backend: Backend) -> None:
    [record] = _run(["http://nowhere.invalid/"], backend, all_ips=True)
    assert record.error is not None and record.error.type == "DNSError" and record.remote_ip is None


@pytest.mark.live
@needs_ipv6
def test_ipv4_and_ipv6_choose_the_family(backend: Backend) -> None:
    with servers_on("127.0.0.1", "::1") as (v4, v6):
        resolve = (parse_resolve("--resolve", f"both.test:{v4.port}:[::1],127.0.0.1"),)
        url = f"http://both.test:{v4.port}/"
        [four] = _run([url], backend, resolve=resolve, ipv4=True)
        assert four.ok and four.remote_ip == "127.0.0.1" and (v4.hits, v6.hits) == (1, 0)
        [six] = _run([url], backend, resolve=resolve, ipv6=True)
        assert six.ok and six.remote_ip == "::1" and (v4.hits, v6.hits) == (1, 1)
        [either] = _run([url], backend, resolve=resolve)  # the first address given
        assert either.remote_ip == "::1" and (v4.hits, v6.hits) == (1, 2)
        records = _run([url], backend, resolve=resolve, all_ips=True, ipv4=True)  # -4 before --all-ips
        assert [r.remote_ip for r in records] == ["127.0.0.1"] and (v4.hits, v6.hits) == (2, 2)
        records = _run([url], backend, resolve=resolve, all_ips=True)
        assert [r.remote_ip for r in records] == ["::1", "127.0.0.1"] and (v4.hits, v6.hits) == (3, 3)


@pytest.mark.live
def test_family_without_an_address_is_a_dns_error(backend: Backend) -> None:
    with servers_on("127.0.0.1") as (v4,):
        only4 = (parse_resolve("--resolve", f"four.test:{v4.port}:127.0.0.1"),)
        [none] = _run([f"http://four.test:{v4.port}/"], backend, resolve=only4, ipv6=True)
        [literal] = _run([f"http://127.0.0.1:{v4.port}/"], backend, ipv6=True)
        [literal6] = _run([f"http://[::1]:{v4.port}/"], backend, ipv4=True)
        [pinned] = _run([f"http://four.test:{v4.port}/"], backend, resolve=only4, ipv6=True, all_ips=True)
        assert v4.hits == 0
    assert none.error is not None and none.error.type == "DNSError"
    assert none.error.message == "four.test has no IPv6 address (-6)"
    assert literal.error is not None and literal.error.type == "DNSError"
    assert literal.error.message == "127.0.0.1 is an IPv4 address and -6 allows IPv6 only"
    assert literal6.error is not None and literal6.error.message == "::1 is an IPv6 address and -4 allows IPv4 only"
    assert pinned.error == none.error


def test_usage_errors() -> None:
    with pytest.raises(SettingsError, match="--ipv4"):
        RequestSettings(ipv4=True, ipv6=True) and Settings(request=RequestSettings(ipv4=True, ipv6=True))
    with pytest.raises(SettingsError, match="--all-ips"):
        Settings(request=RequestSettings(all_ips=True, proxy="http://127.0.0.1:9"))
    Settings(request=RequestSettings(all_ips=True, proxy="http://127.0.0.1:9", no_proxy=("*",)))


def test_usage_errors_on_the_command_line(tmp_path: Path) -> None:
    for args in (
        ["-4", "-6"],
        ["--all-ips", "--resume", str(tmp_path / "r.jsonl")],
        ["--all-ips", "--proxy", "http://127.0.0.1:9"],
    ):
        done = fetchcli_in_clean_env(*args, "http://127.0.0.1:9/")
        assert done.returncode == 2, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith("fetchcli: error: --")


def test_dry_run_says_so() -> None:
    done = fetchcli_in_clean_env("--dry-run", "-6", "--all-ips", "http://site.test/")
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("addresses")]
    assert lines == [
        "addresses     IPv6 only (from --ipv6)",
        "addresses     every address of each URL's host probed, one record each (from --all-ips)",
    ]


@pytest.mark.live
@pytest.mark.parametrize("window", [None, 1])
def test_deadline_during_a_lookup(backend: Backend, monkeypatch: pytest.MonkeyPatch, window: int | None) -> None:
    """A lookup that has not ended when --deadline strikes: its URL is one NotStarted record.
    The URL after it, looked up already, was not held back by it: each address probed (port 9:
    refused); with an order window of 1, only the first (the window full), the other one a
    NotStarted record naming it."""
    import time

    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "slow.test":
            time.sleep(2)  # longer than the deadline (the executor's thread ends it anyway)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    resolve = (parse_resolve("--resolve", "site.test:9:127.0.0.2,127.0.0.3"),)
    settings = Settings(
        request=RequestSettings(resolve=resolve, all_ips=True), backend=backend, deadline=0.3, order_window=window
    )
    records = asyncio.run(collect(["http://slow.test/", "http://site.test:9/"], settings))
    assert [(r.index, r.remote_ip, r.error.type if r.error else None) for r in records] == [
        (0, None, "NotStarted"),
        (1, "127.0.0.2", "ConnectionRefused"),
        (1, "127.0.0.3", "NotStarted" if window == 1 else "ConnectionRefused"),
    ]


@pytest.mark.live
def test_all_ips_after_connect_to(backend: Backend) -> None:
    """--connect-to first, then the addresses of where it leads: each probed on its port."""
    from fetchcli.transport.addressmap import parse_connect_to

    with servers_on("127.0.0.2", "127.0.0.3") as (two, three):
        connect_to = (parse_connect_to("--connect-to", f"site.test:80:multi.test:{two.port}"),)
        resolve = (parse_resolve("--resolve", f"multi.test:{two.port}:127.0.0.2,127.0.0.3"),)
        records = _run(["http://site.test/via"], backend, connect_to=connect_to, resolve=resolve, all_ips=True)
        assert [(r.remote_ip, r.remote_port, r.status) for r in records] == [
            ("127.0.0.2", two.port, 200),
            ("127.0.0.3", two.port, 200),
        ]
        assert (two.paths, three.paths) == (["/via"], ["/via"])


@pytest.mark.live
def test_family_applies_to_the_proxy_too(backend: Backend) -> None:
    """As curl: -6 with a proxy at an IPv4 address cannot reach the proxy (nothing is sent)."""
    with servers_on("127.0.0.1") as (proxy,):
        [record] = _run(["http://site.test/"], backend, proxy=f"http://127.0.0.1:{proxy.port}", ipv6=True)
        assert proxy.hits == 0
    assert record.error is not None and record.error.type == "ProxyError"
    assert "127.0.0.1 is an IPv4 address and -6 allows IPv6 only" in record.error.message


@pytest.mark.live
def test_all_ips_with_workers_on_the_command_line() -> None:
    """Through the CLI and worker processes: the pinned items travel to the workers."""
    import json

    with servers_on("127.0.0.2", "127.0.0.3") as (two, three):
        done = fetchcli_in_clean_env(
            "--all-ips", "--workers", "2", "--resolve", f"site.test:{two.port}:127.0.0.2,127.0.0.3",
            f"http://site.test:{two.port}/w", "--summary",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        records = [json.loads(line) for line in done.stdout.splitlines()]
        assert [(r["index"], r["remote_ip"], r["status"]) for r in records] == [
            (0, "127.0.0.2", 200),
            (0, "127.0.0.3", 200),
        ]
        assert (two.hits, three.hits) == (1, 1)
        assert " 2 probes: 2 ok" in done.stderr and "probes/s" in done.stderr  # the summary counts records


@pytest.mark.live
def test_all_ips_scheme_fallback_stays_on_the_address(backend: Backend) -> None:
    """An input without a scheme, --scheme-fallback: https:// refused at each address (here
    --connect-to sends 443 to port 9, where nothing listens), then http:// at that same address."""
    from fetchcli.transport.addressmap import parse_connect_to

    with servers_on("127.0.0.2", "127.0.0.3") as (two, three):
        connect_to = (
            parse_connect_to("--connect-to", "site.test:443::9"),
            parse_connect_to("--connect-to", f"site.test:80::{two.port}"),
        )
        resolve = (parse_resolve("--resolve", "site.test:9:127.0.0.2,127.0.0.3"),)
        settings = Settings(
            request=RequestSettings(connect_to=connect_to, resolve=resolve, all_ips=True, scheme_fallback=True),
            backend=backend,
        )
        records = asyncio.run(collect(["site.test/fb"], settings))
        assert [(r.remote_ip, r.status, r.final_url) for r in records] == [
            ("127.0.0.2", 200, "http://site.test/fb"),
            ("127.0.0.3", 200, "http://site.test/fb"),
        ]
        assert (two.paths, three.paths) == (["/fb"], ["/fb"])
