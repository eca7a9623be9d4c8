"""--read-all: every body read to its end and hashed, none of it kept beyond the snippet window."""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import sys
import zlib
from collections.abc import AsyncIterator

import pytest

from fetchcli.engine.snippet import read_body
from fetchcli.settings import BodySettings, Settings
from tests.helpers import run
from tests.server import LoopbackServer


async def _chunks(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.anyio
@pytest.mark.parametrize("encoding", [None, "gzip", "deflate"])
async def test_the_whole_decoded_body_is_counted_and_hashed(encoding: str | None) -> None:
    body = os.urandom(50_000).hex().encode()  # 100,000 bytes
    sent = {None: body, "gzip": gzip.compress(body), "deflate": zlib.compress(body)}[encoding]
    read = await read_body(_chunks(sent), encoding, 100, read_all=True)
    assert read.size == len(body) and read.sha256 == hashlib.sha256(body).hexdigest()
    assert read.data == body[:100] and read.complete


def test_read_all_on_both_backends(server: LoopbackServer, backend: object) -> None:
    settings = Settings(body=BodySettings(max_body_bytes=1000, read_all=True))
    whole, capped = run([server.url("/size/3000000"), server.url("/size/3000001")], settings, backend=backend)  # type: ignore[arg-type]
    assert whole.bytes_read == 3_000_000 and not whole.truncated
    assert whole.sha256 == hashlib.sha256(b"a" * 3_000_000).hexdigest()
    assert whole.snippet == "a" * 80
    [plain] = run([server.url("/size/3000000")], Settings(body=BodySettings(max_body_bytes=1000)), backend=backend)  # type: ignore[arg-type]
    assert plain.sha256 is None and plain.bytes_read == 1000 and plain.truncated
    assert capped.bytes_read == 3_000_001


def test_memory_stays_flat_however_large_the_body(server: LoopbackServer) -> None:
    """The 64 MiB gzip bomb, inflated and hashed whole: peak memory grows by far less than 64 MiB."""

    def peak(*args: str) -> tuple[int, str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fetchcli", *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        assert proc.stdout is not None
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        return usage.ru_maxrss, out.decode()

    baseline, _ = peak(server.url("/gzipbomb"))
    whole, out = peak("--read-all", server.url("/gzipbomb"))
    assert '"bytes_read": 67108864' in out
    assert hashlib.sha256(b"\0" * (64 * 1024 * 1024)).hexdigest() in out
    assert whole - baseline < 24 * 1024, (baseline, whole)  # KiB: a kept body would add 64 MiB
