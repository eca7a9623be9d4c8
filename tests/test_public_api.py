"""The public Python surface is deliberate: adding or removing a name must change this test."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

import fetchcli
from tests.server import LoopbackServer


def test_exported_members() -> None:
    assert sorted(fetchcli.__all__) == sorted(
        [
            "Backend", "BodySettings", "ErrorInfo", "FetchResult", "Order", "OutputFormat", "PolitenessSettings",
            "PoolSettings", "RequestSettings", "RetrySettings", "Settings", "SettingsError", "SuccessSettings",
            "Summary", "TimeoutSettings", "UrlItem",
            "__version__", "build_client", "fetch",
        ]
    )  # fmt: skip
    for name in fetchcli.__all__:  # each is fetchcli's own, not something re-exported by accident
        member = getattr(fetchcli, name)
        assert name == "__version__" or member.__module__.startswith("fetchcli."), name


def test_fetch_from_python(server: LoopbackServer) -> None:
    async def main() -> list[int | None]:
        return [r.status async for r in fetchcli.fetch([server.url("/ok"), server.url("/status/404")])]

    assert asyncio.run(main()) == [200, 404]


def test_core_does_not_import_the_cli_stack() -> None:
    # httpx itself imports Rich for its own CLI when Click is installed (with Typer before
    # 0.28): what is asked of fetchcli is that it adds neither.
    code = (
        "import sys, httpx, aiohttp; before = set(sys.modules);"
        "import fetchcli, fetchcli.engine.run, fetchcli.transport.client, fetchcli.urls, fetchcli.cli.runner;"
        "print(sorted(m for m in ('typer', 'rich') if m in set(sys.modules) - before))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    "argv",
    [["--version"], ["--help"], ["--schema"], ["--dry-run", "http://127.0.0.1:9/", "https://127.0.0.1:9/"],
     ["--dry-run", "-k", "--http2", "--proxy", "http://127.0.0.1:9", "https://127.0.0.1:9/"]],
    ids=["version", "help", "schema", "dry-run", "dry-run-tls-http2-proxy"],
)  # fmt: skip
def test_commands_that_fetch_nothing_import_no_http_library(argv: list[str]) -> None:
    """--help, --version, --schema and --dry-run import neither httpx nor aiohttp (issue 20:
    start-up): the backend choice, the TLS context and the headers need none of them."""
    code = (
        "import sys, io, contextlib; from fetchcli.cli.app import main\n"
        f"with contextlib.redirect_stdout(io.StringIO()): status = main({argv!r})\n"
        "print(int(status), sorted(m for m in ('httpx', 'httpcore', 'aiohttp') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.splitlines()[-1:] == ["0 []"], done.stderr
