from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import os
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from fetchcli.cli.plan import Environment
from fetchcli.engine.run import fetch
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


def self_signed_context(folder: Path, *, days: float = 1) -> ssl.SSLContext:
    """A server-side TLS context with a new self-signed certificate for 127.0.0.1."""
    from tests.certs import issue, server_context

    return server_context(issue(folder, "127.0.0.1", days=days))


def read_pty(master: int, limit: float = 60) -> bytes:
    """Everything written to a pty until its other side closes (or ``limit`` seconds pass)."""
    import select
    import time

    chunks: list[bytes] = []
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1)
        if not ready:
            continue
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def fetchcli_in_clean_env(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """fetchcli as a process, with none of the caller's FETCHCLI_*, proxy or SSL_CERT_* variables
    (they would change what it does) and the session's empty XDG_CONFIG_HOME (tests/conftest.py:
    no config file of the developer's), plus ``env``; run in ``cwd``."""
    kept = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("FETCHCLI_") and "proxy" not in k.lower() and k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")
    }
    return subprocess.run(
        [sys.executable, "-m", "fetchcli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**kept, "PYTHONPATH": str(Path(__file__).resolve().parent.parent), **(env or {})},
        cwd=cwd,
    )


def memory_environment(
    *, stdout_tty: bool = False, stderr_tty: bool = False, stdin: bytes = b"", environ: dict[str, str] | None = None
) -> Environment:
    """A run's outside world in memory: stdout and stderr are ``io.StringIO``s, stdin the bytes
    given (a terminal when there are none), no environment variables unless given."""
    return Environment(
        stdin=io.BytesIO(stdin),
        stdout=io.StringIO(),
        stderr=io.StringIO(),
        stdin_isatty=not stdin,
        stdout_isatty=stdout_tty,
        stderr_isatty=stderr_tty,
        environ=environ or {},
    )


@contextlib.contextmanager
def answering_port(answer: bytes) -> Iterator[int]:
    """A port on 127.0.0.1 whose server reads what each connection sends (up to 64 KiB), writes
    ``answer`` and closes it: a fixed, possibly broken, reply whatever was asked."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection, contextlib.suppress(OSError):
                connection.recv(65536)
                connection.sendall(answer)

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


@contextlib.contextmanager
def serving_handler(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    """A threading HTTP server of ``handler`` on 127.0.0.1 (its port), shut down after."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
