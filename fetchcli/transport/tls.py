"""TLS facts of a connection: protocol, cipher and the server's certificate (expiry, issuer,
subject, names), for ``--cert-expiry-days`` and for a cron job that watches certificates.

The certificate is read as DER (``getpeercert(binary_form=True)``, which works whether or not it
was verified: the parsed form is empty without verification) and parsed with ``cryptography``.
When verification fails there is no connection to read it from, so ``probe`` makes one more
handshake, unverified, only to read it: the record then says why verification failed *and* what
the certificate is, as ``openssl s_client`` would.
"""

from __future__ import annotations

import hashlib
import sys
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from fetchcli.models import TlsInfo
from fetchcli.text import for_terminal

if TYPE_CHECKING:  # imported when used: `fetchcli --version` and the record types stay light
    import ssl

_SECONDS_PER_DAY = 86400
# A record keeps at most this many names of a certificate's subjectAltName (``san_truncated``
# says when there were more): a certificate can carry thousands.
SAN_LIMIT = 100
# Parsed certificates by the SHA-256 of their DER bytes: one host's connections share one
# certificate, so a run parses each certificate once. Bounded by the bytes the entries hold (a
# certificate can be 100 KB of names), least recently used first out.
CACHE_BYTES = 4 * 1024 * 1024
_ENTRY_OVERHEAD = 256  # the entry, its key, its dataclass and the dict's slot, roughly


@dataclass(frozen=True, slots=True)
class _Certificate:
    not_after: datetime
    issuer: str
    subject: str
    san: tuple[str, ...]
    san_truncated: bool
    size: int  # what the cache counts for it


class _Cache:
    """Parsed certificates, least recently used first out when ``budget`` bytes are held."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.held = 0
        self._entries: OrderedDict[bytes, _Certificate] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: bytes) -> _Certificate | None:
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
        return found

    def put(self, key: bytes, cert: _Certificate) -> None:
        if cert.size > self.budget or key in self._entries:
            return
        while self._entries and self.held + cert.size > self.budget:
            self.held -= self._entries.popitem(last=False)[1].size
        self._entries[key] = cert
        self.held += cert.size

    def clear(self) -> None:
        self._entries.clear()
        self.held = 0


_parsed = _Cache(CACHE_BYTES)


def _size(*texts: str) -> int:
    return _ENTRY_OVERHEAD + sum(map(sys.getsizeof, texts)) + sys.getsizeof(texts)


def _parse(der: bytes) -> _Certificate | None:
    """The certificate's facts, its names passed through the terminal sanitiser here, where they
    are read, so that every output format gets clean text (a CN can carry escape sequences)."""
    key = hashlib.sha256(der).digest()
    cached = _parsed.get(key)
    if cached is not None:
        return cached
    from cryptography import x509  # only a run that meets https pays for the import

    try:
        cert = x509.load_der_x509_certificate(der)
        try:
            names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            every = names.get_values_for_type(x509.DNSName) + [
                str(n) for n in names.get_values_for_type(x509.IPAddress)
            ]
        except (x509.ExtensionNotFound, ValueError):
            every = []
        san = tuple(for_terminal(name) for name in every[:SAN_LIMIT])
        issuer = for_terminal(cert.issuer.rfc4514_string())
        subject = for_terminal(cert.subject.rfc4514_string())
        parsed = _Certificate(
            not_after=cert.not_valid_after_utc,
            issuer=issuer,
            subject=subject,
            san=san,
            san_truncated=len(every) > SAN_LIMIT,
            size=_size(issuer, subject, *san),
        )
    except ValueError:  # a certificate cryptography cannot parse: report the connection only
        return None
    _parsed.put(key, parsed)
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
        san_truncated=cert.san_truncated if cert is not None else False,
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


async def probe(
    host: str, port: int, timeout: float | None, connect: tuple[str, int] | None = None, family: int = 0
) -> TlsInfo | None:
    """Handshake with ``host:port`` without verifying, only to read what it presents (after a
    failed verification); None when that fails too. Sends no request. ``connect``: where the
    connection goes instead (``--resolve``, ``--connect-to``), the server name still ``host``;
    ``family``: the socket family -4/-6 allows (0: any)."""
    import asyncio
    import ssl

    address = host.strip("[]")
    where, to = connect if connect is not None else (address, port)
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(where, to, ssl=_unverified_context(), server_hostname=address, family=family),
            timeout,
        )
    except (OSError, asyncio.TimeoutError, ssl.SSLError, ValueError):
        return None
    try:
        return from_ssl_object(writer.get_extra_info("ssl_object"), verified=False)
    finally:
        writer.close()
