"""fetchcli builds its TLS context without httpx (``transport/sslcontext.py``: ``--dry-run`` and
the checks before a run import no HTTP library), trusting what httpx would: this keeps the two
equal, for each place the trust can come from (certifi's bundle, ``SSL_CERT_FILE``,
``SSL_CERT_DIR``) and for ``-k``."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest

from fetchcli.settings import RequestSettings
from fetchcli.transport import sslcontext
from tests.certs import issue


def _facts(context: ssl.SSLContext) -> dict[str, object]:
    return {
        "verify_mode": context.verify_mode,
        "check_hostname": context.check_hostname,
        "options": context.options,
        "minimum_version": context.minimum_version,
        "maximum_version": context.maximum_version,
        "verify_flags": context.verify_flags,
        "protocol": context.protocol,
        "ciphers": [cipher["name"] for cipher in context.get_ciphers()],
        "cert_store_stats": context.cert_store_stats(),
        "ca_certs": sorted(str(cert.get("subject")) for cert in context.get_ca_certs()),
    }


def _ours(insecure: bool = False) -> ssl.SSLContext:
    sslcontext._ssl_context.cache_clear()  # built once per settings: the environment changed
    try:
        return sslcontext.ssl_context(RequestSettings(insecure=insecure))
    finally:
        sslcontext._ssl_context.cache_clear()


@pytest.mark.parametrize("source", ["certifi", "SSL_CERT_FILE", "SSL_CERT_DIR"])
def test_the_default_context_trusts_what_httpx_trusts(
    source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    if source != "certifi":
        ca = issue(tmp_path, "ca", is_ca=True)
        if source == "SSL_CERT_FILE":
            monkeypatch.setenv("SSL_CERT_FILE", str(ca.cert))
        else:
            folder = tmp_path / "certs"
            folder.mkdir()
            (folder / ca.cert.name).write_bytes(ca.cert.read_bytes())
            monkeypatch.setenv("SSL_CERT_DIR", str(folder))
    assert sslcontext.default_trust()[0] == source
    ours, theirs = _facts(_ours()), _facts(httpx.create_ssl_context(verify=True))
    assert ours == theirs
    if source == "SSL_CERT_FILE":
        assert ours["cert_store_stats"] == {"x509": 1, "crl": 0, "x509_ca": 1}  # the one CA given
    if source == "certifi":
        assert len(ours["ca_certs"]) > 50  # type: ignore[arg-type]  # certifi's bundle was loaded


def test_the_insecure_context_is_httpx_s() -> None:
    assert _facts(_ours(insecure=True)) == _facts(httpx.create_ssl_context(verify=False))
    assert _ours(insecure=True).verify_mode == ssl.CERT_NONE
