"""Start-up work that can be counted rather than timed: what a run imports and loads.

(Times are the benchmark's: ``bench/run.py --workloads startup``.)"""

from __future__ import annotations

import ssl
import subprocess
import sys
import threading

from tests.server import LoopbackServer


def _python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_aiohttp_is_imported_without_loading_ca_bundles_and_ssl_is_left_as_it_was() -> None:
    out = _python(
        "import ssl; from fetchcli.transport.lightimport import import_aiohttp; import_aiohttp();"
        "import aiohttp.connector as c;"
        "print(c._SSL_CONTEXT_VERIFIED.cert_store_stats()['x509_ca'], int(c._SSL_CONTEXT_VERIFIED.verify_mode),"
        " ssl.create_default_context().cert_store_stats()['x509_ca'] > 0,"
        " 'set_default_verify_paths' in ssl.SSLContext.__dict__)"
    )
    # aiohttp's unused default trusts no one (and still verifies); ssl is unchanged afterwards
    assert out == f"0 {int(ssl.CERT_REQUIRED)} True False"


def test_only_the_importing_thread_gets_contexts_without_certificates() -> None:
    from fetchcli.transport.lightimport import _no_ca_loading_in_this_thread

    other: list[int] = []
    with _no_ca_loading_in_this_thread():
        mine = ssl.create_default_context().cert_store_stats()["x509_ca"]
        thread = threading.Thread(
            target=lambda: other.append(ssl.create_default_context().cert_store_stats()["x509_ca"])
        )
        thread.start()
        thread.join()
    assert mine == 0 and other[0] > 0
    assert ssl.create_default_context().cert_store_stats()["x509_ca"] > 0


def test_a_run_does_not_import_pydantic(server: LoopbackServer) -> None:
    """typer 0.29+ would coerce every option through pydantic (about 100 ms of start-up), so
    pyproject.toml keeps typer below 0.29: this fails if that bound goes while typer still does.
    The values still arrive: a repeated -H."""
    code = (
        "import sys, json, io, contextlib; from fetchcli.cli.app import main;"
        f"out = io.StringIO();\nwith contextlib.redirect_stdout(out): status = main(['-H', 'X-A: 1', '-H', 'X-B: 2', "
        f"'-f', 'jsonl', {server.url('/headers?startup')!r}])\n"
        "print(int(status), 'pydantic' in sys.modules, json.loads(out.getvalue())['status'])"
    )
    assert _python(code) == "0 False 200"
    seen = server.stats.headers_seen["/headers?startup"]
    assert seen.get("x-a") == "1" and seen.get("x-b") == "2"
