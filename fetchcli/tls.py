"""TLS facts of a connection: protocol, cipher and the server's certificate (expiry, issuer,
subject, names), for ``--cert-expiry-days`` and for a cron job that watches certificates.

The certificate is read as DER (``getpeercert(binary_form=True)``, which works whether or not it
was verified: the parsed form is empty without verification) and parsed with ``cryptography``.
When verification fails there is no connection to read it from, so ``probe`` makes one more
handshake, unverified, only to read it: the record then says why verification failed *and* what
the certificate is, as ``openssl s_client`` would.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from fetchcli.terminal import for_terminal

if TYPE_CHECKING:  # imported when used: `fetchcli --version` and the record types stay light
    import ssl

_SECONDS_PER_DAY = 86400
# Parsed certificates by their DER bytes: one host's connections share one certificate, so a
# run parses each certificate once. Bounded: cleared when full.
_CACHE_LIMIT = 4096
_parsed: dict[bytes, _Certificate] = {}


@dataclass(frozen=True, slots=True)
class _Certificate:
    not_after: datetime
    issuer: str
    subject: str
    san: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TlsInfo:
    """What the record's ``tls`` object holds. ``verified``: True when the certificate was
    verified, False when verification failed (the record's error says why), None with ``-k``
    (not checked). ``days_left``: whole days until ``not_after``, negative once expired."""

    version: str | None
    cipher: str | None
    not_after: str | None
    days_left: int | None
    issuer: str | None
    subject: str | None
    san: tuple[str, ...]
    verified: bool | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "cipher": self.cipher,
            "not_after": self.not_after,
            "days_left": self.days_left,
            "issuer": self.issuer,
            "subject": self.subject,
            "san": list(self.san),
            "verified": self.verified,
        }


def _parse(der: bytes) -> _Certificate | None:
    """The certificate's facts, its names passed through the terminal sanitiser here, where they
    are read, so that every output format gets clean text (a CN can carry escape sequences)."""
    cached = _parsed.get(der)
    if cached is not None:
        return cached
    from cryptography import x509  # only a run that meets https pays for the import

    try:
        cert = x509.load_der_x509_certificate(der)
        try:
            names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            san = tuple(
                [for_terminal(n) for n in names.get_values_for_type(x509.DNSName)]
                + [str(n) for n in names.get_values_for_type(x509.IPAddress)]
            )
        except (x509.ExtensionNotFound, ValueError):
            san = ()
        parsed = _Certificate(
            not_after=cert.not_valid_after_utc,
            issuer=for_terminal(cert.issuer.rfc4514_string()),
            subject=for_terminal(cert.subject.rfc4514_string()),
            san=san,
        )
    except ValueError:  # a certificate cryptography cannot parse: report the connection only
        return None
    if len(_parsed) >= _CACHE_LIMIT:
        _parsed.clear()
    _parsed[der] = parsed
    return parsed


def from_ssl_object(ssl_object: Any, verified: bool | None, now: datetime | None = None) -> TlsInfo | None:
    """The facts of an established TLS connection (an ``ssl.SSLObject`` or ``ssl.SSLSocket``);
    None when there is none."""
    if ssl_object is None:
        return None
    try:
        der = ssl_object.getpeercert(binary_form=True)
        cipher = ssl_object.cipher()
        version = ssl_object.version()
    except (ValueError, OSError, AttributeError):  # closed meanwhile, or not TLS after all
        return None
    cert = _parse(der) if der else None
    days_left = None
    if cert is not None:
        now = now or datetime.now(timezone.utc)
        days_left = int((cert.not_after - now).total_seconds() // _SECONDS_PER_DAY)
    return TlsInfo(
        version=version,
        cipher=cipher[0] if cipher else None,
        not_after=cert.not_after.isoformat().replace("+00:00", "Z") if cert is not None else None,
        days_left=days_left,
        issuer=cert.issuer if cert is not None else None,
        subject=cert.subject if cert is not None else None,
        san=cert.san if cert is not None else (),
        verified=verified,
    )


_unverified: ssl.SSLContext | None = None


def _unverified_context() -> ssl.SSLContext:
    import ssl

    global _unverified
    if _unverified is None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        _unverified = context
    return _unverified


async def probe(host: str, port: int, timeout: float | None) -> TlsInfo | None:
    """Handshake with ``host:port`` without verifying, only to read what it presents (after a
    failed verification); None when that fails too. Sends no request."""
    import asyncio
    import ssl

    address = host.strip("[]")
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(address, port, ssl=_unverified_context(), server_hostname=address), timeout
        )
    except (OSError, asyncio.TimeoutError, ssl.SSLError, ValueError):
        return None
    try:
        return from_ssl_object(writer.get_extra_info("ssl_object"), verified=False)
    finally:
        writer.close()
