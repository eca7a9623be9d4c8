"""Review r22 of issue 22's first features (request bodies, ``location``, ``--resolve``): what an
attacker or a surprised user met, each proven against a real loopback server on both backends."""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from fetchcli.settings import Backend, RequestSettings, Settings, SettingsError
from fetchcli.transport.addressmap import AddressMap, parse_resolve
from tests.helpers import fetchcli_in_clean_env, run
from tests.server import running_server
from tests.test_trust_scheme import PlainServer  # answers a TLS handshake with plain HTTP, as real servers do


@pytest.fixture
def plain() -> Iterator[PlainServer]:
    server = PlainServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.live
def test_a_body_is_never_sent_in_cleartext_by_scheme_fallback(plain: PlainServer, backend: Backend) -> None:
    """``-d password=...`` to a URL without a scheme: https:// meets a plain HTTP server; the
    fallback would POST the password over http://. A body may be a secret, as a secret header."""
    settings = Settings(
        request=RequestSettings(scheme_fallback=True, method="POST", body=b"password=TOPSECRET"), backend=backend
    )
    [result] = run([f"127.0.0.1:{plain.port}/method"], settings)
    assert plain.paths == [] and plain.handshakes == 1  # nothing was sent over http://
    assert not result.ok and result.error is not None and result.error.type == "TLSError", result.error
    assert "--scheme-fallback did not try http://" in result.error.message
    assert "request body" in result.error.message and "TOPSECRET" not in result.error.message


@pytest.mark.live
def test_the_command_line_says_why_a_body_is_not_sent_over_http(plain: PlainServer, backend: Backend) -> None:
    done = fetchcli_in_clean_env(
        "--backend", backend.value, "-f", "jsonl", "--scheme-fallback", "-d", "password=TOPSECRET",
        f"127.0.0.1:{plain.port}/method",
    )  # fmt: skip
    assert plain.paths == []
    assert done.returncode == 1, done.stderr
    assert "did not try http://" in done.stdout and "TOPSECRET" not in done.stdout + done.stderr


@pytest.mark.live
def test_a_location_of_another_scheme_is_shown_as_it_came(backend: Backend) -> None:
    """``javascript:alert(1)`` was shown as ``javascript://127.0.0.1alert(1)`` and ``mailto:a@b``
    as ``mailto://***@b``: the request's host was put into any scheme without a host, a rule
    for ``http:/path`` alone. ``-L`` does not follow these (UnsupportedRedirect)."""
    with running_server() as server:
        targets = ["javascript:alert(1)", "mailto:a@b", "data:text/html,<b>x</b>", "ftp:/pub", "https:/x"]
        urls = [server.url("/location?to=" + urllib.parse.quote(target, safe="")) for target in targets]
        results = run(urls, Settings(), backend=backend)
    assert [r.status for r in results] == [302] * 5
    assert [r.location for r in results] == [*targets[:4], "https://127.0.0.1/x"]  # https:/x: as -L goes


@pytest.mark.live
def test_a_redirect_that_drops_the_body_drops_its_content_type(backend: Backend) -> None:
    """``-L -d k=v`` meeting a 302: the GET that follows has no body, so no form Content-Type
    either (curl sends none; the Fetch standard removes it). A header the user gave to a request
    without a body (-X POST -H) is theirs and stays."""
    with running_server() as server:
        form = (("Content-Type", "application/x-www-form-urlencoded"),)
        with_body = RequestSettings(method="POST", body=b"k=v", headers=form, follow_redirects=True)
        without = RequestSettings(method="POST", headers=form, follow_redirects=True)
        for settings, key in ((with_body, "body"), (without, "none")):
            url = server.url("/location?to=" + urllib.parse.quote(f"/headers?{key}", safe=""))
            [result] = run([url], Settings(request=settings), backend=backend)
            assert result.ok and len(result.redirects) == 1, result.error
        seen = server.stats.headers_seen
    assert "content-type" not in seen["/headers?body"] and "content-length" not in seen["/headers?body"]
    assert seen["/headers?none"]["content-type"] == "application/x-www-form-urlencoded"


def test_resolve_takes_curls_wildcard_and_prefix_and_refuses_what_it_cannot_do() -> None:
    """``*:PORT:ADDR`` and ``+HOST:PORT:ADDR`` were taken as host names "*" and "+host" that no URL
    has: accepted, silently never applied. An unbalanced bracket was taken as an address."""
    assert parse_resolve("--resolve", "+a.test:80:127.0.0.1") == ("a.test", 80, ("127.0.0.1",))
    mapped = AddressMap(resolve=(parse_resolve("--resolve", "*:80:127.0.0.2"), ("b.test", 80, ("127.0.0.3",))))
    assert mapped.addresses("any.test", 80) == ("127.0.0.2",) and mapped.addresses("any.test", 81) is None
    assert mapped.addresses("b.test", 80) == ("127.0.0.3",)  # a named entry first, wherever it is (curl)
    for bad in ("-a.test:80", "-a.test:80:127.0.0.1", "a.test:80:[::1", "a.test:80:::1]"):
        with pytest.raises(SettingsError):
            parse_resolve("--resolve", bad)


@pytest.mark.live
def test_a_wildcard_resolve_reaches_the_server(backend: Backend) -> None:
    with running_server() as server:
        resolve = (parse_resolve("--resolve", f"*:{server.port}:127.0.0.1"),)
        settings = Settings(request=RequestSettings(resolve=resolve), backend=backend)
        [result] = run([f"http://any.name.test:{server.port}/headers?wild"], settings)
        assert result.ok and result.remote_ip == "127.0.0.1", result.error
        assert server.stats.headers_seen["/headers?wild"]["host"] == f"any.name.test:{server.port}"


@pytest.mark.live
def test_a_body_and_its_file_name_may_be_any_bytes(backend: Backend, tmp_path: Path) -> None:
    """``--data-binary $'\\xff\\xfe'`` and ``-d @$'name\\xff.txt'`` were usage errors ("not valid
    UTF-8"), where curl sends the bytes and reads the file: a body is bytes, a file name too."""
    (tmp_path / os.fsdecode(b"name\xff.txt")).write_bytes(b"a=1\n")
    with running_server() as server:
        for args in (["--data-binary", "\udcff\udcfe"], ["-d", "@" + os.fsdecode(b"name\xff.txt")]):
            done = fetchcli_in_clean_env("--backend", backend.value, "-q", *args, server.url("/method"), cwd=tmp_path)
            assert done.returncode == 0, done.stderr
        assert [body for _, _, _, body in server.stats.bodies] == [b"\xff\xfe", b"a=1"]


def test_a_body_larger_than_memory_is_a_usage_error_not_a_traceback(tmp_path: Path) -> None:
    """``--data-binary @FILE`` of a file larger than the memory the process may have (here a 4 GiB
    sparse file under a 1 GiB address-space limit: nothing is really allocated) was a MemoryError
    traceback with exit status 1. Standard input that never ends (``yes | fetchcli -d @-``) too."""
    import resource
    import subprocess
    import sys

    big = tmp_path / "big.bin"
    with open(big, "wb") as file:
        file.truncate(4 << 30)

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    for args in (["--data-binary", f"@{big}"], ["-d", "@-"]):
        with open(big, "rb") as stdin:
            done = subprocess.run(
                [sys.executable, "-m", "fetchcli", *args, "http://127.0.0.1:9/"],
                stdin=stdin, capture_output=True, text=True, timeout=120, preexec_fn=limited,
                env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
            )  # fmt: skip
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-300:]
        assert len(done.stderr.strip().splitlines()) == 1 and "more than memory holds" in done.stderr
