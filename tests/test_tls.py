"""TLS facts in the record (``tls``), ``--cert-expiry-days``, ``--cacert``/``--capath`` and
client certificates, against loopback servers whose certificates the tests make."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from fetchcli.settings import RequestSettings, Settings, SuccessSettings
from tests.certs import Issued, issue, server_context
from tests.helpers import fetchcli_in_clean_env, run
from tests.server import LoopbackServer, running_server
from tests.test_cli import fetchcli_process

INSECURE = RequestSettings(insecure=True)


@pytest.fixture(scope="module")
def expiring(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LoopbackServer, Issued]]:
    """A server whose self-signed certificate expires in 3 days."""
    cert = issue(tmp_path_factory.mktemp("expiring"), "127.0.0.1", days=3)
    with running_server(ssl_context=server_context(cert)) as srv:
        yield srv, cert


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Issued:
    return issue(tmp_path_factory.mktemp("ca"), "fetchcli test CA", days=365, is_ca=True)


@pytest.fixture(scope="module")
def ca_signed(tmp_path_factory: pytest.TempPathFactory, ca: Issued) -> Iterator[LoopbackServer]:
    cert = issue(tmp_path_factory.mktemp("signed"), "signed", days=90, ca=ca)
    with running_server(ssl_context=server_context(cert)) as srv:
        yield srv


def _not_after(cert: Issued) -> str:
    return cert.certificate.not_valid_after_utc.isoformat().replace("+00:00", "Z")


def test_facts_are_read_with_k(expiring: tuple[LoopbackServer, Issued], backend: object) -> None:
    server, cert = expiring
    [result] = run([server.url("/ok/k")], Settings(request=INSECURE), backend=backend)  # type: ignore[arg-type]
    assert result.ok and result.tls is not None
    tls = result.tls.to_dict()
    assert tls["version"] in ("TLSv1.2", "TLSv1.3")
    assert tls["cipher"]
    assert tls["not_after"] == _not_after(cert)
    assert tls["days_left"] == 2  # 3 days less the moments since the certificate was made: 2 whole days
    assert tls["subject"] == "CN=127.0.0.1" and tls["issuer"] == "CN=127.0.0.1"
    assert set(tls["san"]) == {"127.0.0.1", "localhost"}
    assert tls["verified"] is None  # -k: not checked


def test_facts_are_read_when_verification_fails(expiring: tuple[LoopbackServer, Issued], backend: object) -> None:
    """The record says why verification failed and still what the certificate is."""
    server, cert = expiring
    [result] = run([server.url("/ok/v")], backend=backend)  # type: ignore[arg-type]
    assert result.error is not None and result.error.type == "CertificateError"
    assert result.tls is not None
    assert result.tls.verified is False
    assert result.tls.not_after == _not_after(cert) and result.tls.days_left == 2
    assert result.tls.subject == "CN=127.0.0.1"


def test_cert_expiry_days(expiring: tuple[LoopbackServer, Issued], backend: object) -> None:
    server, _ = expiring
    within = Settings(request=INSECURE, success=SuccessSettings(cert_expiry_days=14))
    [result] = run([server.url("/ok/14")], within, backend=backend)  # type: ignore[arg-type]
    assert not result.ok and result.status == 200
    assert result.error is not None and result.error.type == "CertificateExpiring"
    assert "expires in 2 days" in result.error.message and "--cert-expiry-days 14" in result.error.message
    beyond = Settings(request=INSECURE, success=SuccessSettings(cert_expiry_days=2))
    [result] = run([server.url("/ok/2")], beyond, backend=backend)  # type: ignore[arg-type]
    assert result.ok and result.error is None


def test_cert_expiry_days_passes_plain_http(server: LoopbackServer) -> None:
    [result] = run([server.url("/ok/http")], Settings(success=SuccessSettings(cert_expiry_days=14)))
    assert result.ok and result.tls is None


def test_cacert_trusts_a_private_ca(ca_signed: LoopbackServer, ca: Issued, backend: object) -> None:
    url = ca_signed.url("/ok/ca")
    [untrusted] = run([url], backend=backend)  # type: ignore[arg-type]
    assert untrusted.error is not None and untrusted.error.type == "CertificateError"
    trusting = Settings(request=RequestSettings(cacert=str(ca.cert)))
    [trusted] = run([url], trusting, backend=backend)  # type: ignore[arg-type]
    assert trusted.ok, trusted.error
    assert trusted.tls is not None and trusted.tls.verified is True
    assert trusted.tls.issuer == "CN=fetchcli test CA" and trusted.tls.subject == "CN=signed"
    assert 88 <= (trusted.tls.days_left or 0) <= 89


def test_capath_trusts_a_hashed_directory(ca_signed: LoopbackServer, ca: Issued, tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to name a CA file by its subject hash")
    subject_hash = subprocess.run(
        ["openssl", "x509", "-hash", "-noout", "-in", str(ca.cert)], check=True, capture_output=True, text=True
    ).stdout.strip()
    (tmp_path / f"{subject_hash}.0").write_bytes(ca.cert.read_bytes())
    [result] = run([ca_signed.url("/ok/capath")], Settings(request=RequestSettings(capath=str(tmp_path))))
    assert result.ok, result.error


@pytest.mark.live
def test_client_certificate(tmp_path: Path, ca: Issued, backend: object) -> None:
    """A server that demands a client certificate: --cert and --key present one."""
    server_cert = issue(tmp_path, "mtls", ca=ca)
    client = issue(tmp_path, "client", ca=ca, client=True)
    with running_server(ssl_context=server_context(server_cert, client_ca=ca)) as srv:
        base = RequestSettings(cacert=str(ca.cert))
        [refused] = run([srv.url("/ok/anonymous")], Settings(request=base), backend=backend)  # type: ignore[arg-type]
        assert not refused.ok and refused.error is not None
        with_cert = RequestSettings(cacert=str(ca.cert), client_cert=str(client.cert), client_key=str(client.key))
        [accepted] = run([srv.url("/ok/mtls")], Settings(request=with_cert), backend=backend)  # type: ignore[arg-type]
        assert accepted.ok, accepted.error
        assert accepted.snippet == "hello from /ok/mtls"


def test_plain_http_has_no_tls(server: LoopbackServer) -> None:
    [result] = run([server.url("/ok/plain")])
    assert result.tls is None and result.to_dict()["tls"] is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cacert", "/nonexistent/ca.pem"], "--cacert cannot be used"),
        (["--cert", "/nonexistent/client.pem"], "--cert cannot be used"),
        (["--key", "k.pem"], "--key needs --cert"),
        (["--cert-expiry-days", "-1"], "--cert-expiry-days must be 0 or more"),
    ],
)
def test_unusable_tls_options_are_usage_errors(args: list[str], message: str) -> None:
    done = fetchcli_process(*args, "http://127.0.0.1:9/")
    assert done.returncode == 2
    assert done.stderr.startswith(f"fetchcli: error: {message}"), done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_cron_watch_of_certificate_expiry(expiring: tuple[LoopbackServer, Issued]) -> None:
    """The README's recipe: -k so that a self-signed certificate is still read; exit 1 and the
    reason when one expires within 14 days."""
    server, _ = expiring
    done = fetchcli_process("-k", "--cert-expiry-days", "14", "-f", "csv", "--fields", "url,tls.days_left,error.type",
                            server.url("/ok/cron"))  # fmt: skip
    assert done.returncode == 1, done.stderr
    header, row = done.stdout.splitlines()
    assert header == "url,tls.days_left,error.type"
    assert row == f"{server.url('/ok/cron')},2,CertificateExpiring"
    done = fetchcli_process("-k", "--fields", "tls", server.url("/ok/json"))
    record = json.loads(done.stdout)
    assert record["tls"]["days_left"] == 2 and record["tls"]["verified"] is None


def test_ssl_cert_file_is_trusted_as_curl_and_httpx_do(ca_signed: LoopbackServer, ca: Issued) -> None:
    url = ca_signed.url("/ok/env-ca")
    done = fetchcli_in_clean_env(url, env={"SSL_CERT_FILE": str(ca.cert)})
    assert done.returncode == 0, done.stdout
    assert json.loads(done.stdout)["tls"]["verified"] is True
    assert fetchcli_in_clean_env(url, env={}).returncode == 1  # the default bundle does not know the CA


def test_an_unusable_ssl_cert_file_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    """The CA bundle loads in a thread of its own while the rest starts up (transport/sslcontext.py); an error
    there still comes out as one usage line, naming the variable it came from."""
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    done = fetchcli_in_clean_env("http://127.0.0.1:9/", env={"SSL_CERT_FILE": str(garbage)})
    assert done.returncode == 2
    assert done.stderr.startswith("fetchcli: error: SSL_CERT_FILE cannot be used: ")
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_the_ca_bundle_loads_in_a_thread_the_interpreter_waits_for(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run that ends before it needs the TLS context (a usage error found meanwhile) must not
    finalise the interpreter while that thread is inside OpenSSL (a SIGSEGV was seen instead of
    exit status 2): the thread that loads the CA bundle is not a daemon, so exit waits for it."""
    import threading

    from fetchcli.settings import RequestSettings
    from fetchcli.transport import sslcontext

    started: list[threading.Thread] = []
    real_start = threading.Thread.start

    def start(thread: threading.Thread) -> None:
        started.append(thread)
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", start)
    sslcontext._ssl_context.cache_clear()
    sslcontext.prepare_ssl_context(RequestSettings())
    [thread] = [t for t in started if t.name == "fetchcli-tls"]
    assert not thread.daemon
    thread.join()
