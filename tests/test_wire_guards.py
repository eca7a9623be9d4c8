"""Issue 20: the default path calls aiohttp directly, through fetchcli's own transport contract.
Counted, not timed: no httpx object is built for a request on it (redirects and URL credentials
included), and a run on it never imports httpx; the httpx backend, counted the same way, does
build them (so the count can see them)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from fetchcli.settings import Backend, RequestSettings, Settings
from tests.helpers import collect
from tests.server import LoopbackServer


@pytest.fixture
def httpx_objects(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """How many httpx.URL, httpx.Request, httpx.Response and httpx.Headers were made."""
    made = {"URL": 0, "Request": 0, "Response": 0, "Headers": 0}

    def counting(name: str, original: Callable[..., None]) -> Callable[..., None]:
        def init(self: Any, *args: Any, **kwargs: Any) -> None:
            made[name] += 1
            original(self, *args, **kwargs)

        return init

    for name in made:
        cls = getattr(httpx, name)
        monkeypatch.setattr(cls, "__init__", counting(name, cls.__init__))
    yield made


def _urls(server: LoopbackServer) -> list[str]:
    plain = [server.url(f"/ok?{n}") for n in range(20)]
    return [
        *plain,
        server.url("/redirect/2"),
        server.url("/status/404"),
        server.url("/ok").replace("http://", "http://user:pw@"),
        "http://127.0.0.1:9/",  # refused
    ]


@pytest.mark.live
def test_the_default_path_builds_no_httpx_object(server: LoopbackServer, httpx_objects: dict[str, int]) -> None:
    settings = Settings(request=RequestSettings(follow_redirects=True), backend=Backend.aiohttp)
    results = asyncio.run(collect(_urls(server), settings))
    assert [r.ok for r in results[:20]] == [True] * 20 and results[20].ok and len(results[20].redirects) == 2
    assert results[22].ok and results[23].error is not None and results[23].error.type == "ConnectionRefused"
    assert httpx_objects == {"URL": 0, "Request": 0, "Response": 0, "Headers": 0}


@pytest.mark.live
def test_the_httpx_backend_is_counted_the_same_way(server: LoopbackServer, httpx_objects: dict[str, int]) -> None:
    """The counter sees httpx objects where they are made: one request and one response each."""
    settings = Settings(request=RequestSettings(follow_redirects=True), backend=Backend.httpx)
    results = asyncio.run(collect(_urls(server), settings))
    assert sum(r.ok for r in results) == 22  # all but the 404 and the refused port
    assert httpx_objects["Request"] >= len(results) and httpx_objects["Response"] >= len(results) - 1


@pytest.mark.live
def test_a_run_on_the_default_backend_imports_no_httpx(server: LoopbackServer) -> None:
    """fetchcli URL on the default backend: aiohttp, and neither httpx nor httpcore (start-up)."""
    code = (
        "import sys, io, contextlib; from fetchcli.cli.app import main\n"
        f"with contextlib.redirect_stdout(io.StringIO()): status = main(['-f', 'jsonl', {server.url('/ok')!r}])\n"
        "print(int(status), sorted(m for m in ('httpx', 'httpcore', 'aiohttp') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.splitlines()[-1:] == ["0 ['aiohttp']"], done.stderr
