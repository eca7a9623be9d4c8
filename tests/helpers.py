from __future__ import annotations

import asyncio
import dataclasses
import shutil
import ssl
import subprocess
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest

from fetchcli.engine import fetch
from fetchcli.models import FetchResult
from fetchcli.settings import Backend, Settings


async def collect(
    urls: Sequence[str], settings: Settings | None = None, client: httpx.AsyncClient | None = None
) -> list[FetchResult]:
    return [result async for result in fetch(urls, settings or Settings(), client=client)]


def run(urls: Sequence[str], settings: Settings | None = None, *, backend: Backend | None = None) -> list[FetchResult]:
    settings = settings or Settings()
    if backend is not None:
        settings = dataclasses.replace(settings, backend=backend)
    return asyncio.run(collect(urls, settings))


def run_httpx(urls: Sequence[str], settings: Settings | None = None) -> list[FetchResult]:
    """respx patches httpcore, so mapping tests run on the httpx backend (live tests cover both)."""
    return run(urls, settings, backend=Backend.httpx)


def self_signed_context(folder: Path) -> ssl.SSLContext:
    """A server-side TLS context with a new self-signed certificate for 127.0.0.1 (openssl)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a self-signed certificate")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context
