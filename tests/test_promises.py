"""README promises that had no test of their own: each of these fails without what it names."""

from __future__ import annotations

import asyncio
import io
import os

import pytest

from fetchcli.cli.runner import Environment, OutputOptions, execute
from fetchcli.cli.status import ExitStatus
from fetchcli.engine.eventloop import run_loop
from fetchcli.settings import (
    Backend,
    BodySettings,
    Order,
    PolitenessSettings,
    PoolSettings,
    RequestSettings,
    Settings,
)
from tests.helpers import memory_environment, run
from tests.server import LoopbackServer


def _env(*, stderr_tty: bool, stdin: bytes = b"", environ: dict[str, str] | None = None) -> Environment:
    return memory_environment(stderr_tty=stderr_tty, stdin=stdin, environ=environ)


def _stderr(env: Environment) -> str:
    assert isinstance(env.stderr, io.StringIO)
    return env.stderr.getvalue()


def test_the_summary_line_goes_to_a_terminals_stderr_unless_quiet(server: LoopbackServer) -> None:
    urls = [server.url("/ok"), server.url("/status/404")]
    env = _env(stderr_tty=True)
    assert execute(Settings(), urls, [], OutputOptions(progress=False), env) == ExitStatus.FAILURES
    assert _stderr(env).startswith("2 URLs: 1 ok, 1 failed (1 404) in ")
    quiet = _env(stderr_tty=True)
    execute(Settings(), urls, [], OutputOptions(quiet=True), quiet)
    assert _stderr(quiet) == ""  # -q: no progress line either
    piped = _env(stderr_tty=False)  # cron: stderr is not a terminal, nothing to mail
    execute(Settings(), urls, [], OutputOptions(), piped)
    assert _stderr(piped) == ""


def test_no_urls_is_a_warning_whether_or_not_stderr_is_a_terminal() -> None:
    for tty in (True, False):
        env = _env(stderr_tty=tty, stdin=b"# only a comment\n\n")
        assert execute(Settings(), [], [], OutputOptions(quiet=True), env) == ExitStatus.OK
        assert _stderr(env) == "fetchcli: warning: no URLs to fetch\n"


def test_a_header_replaces_the_default_of_the_same_name(server: LoopbackServer, backend: Backend) -> None:
    headers = (("user-agent", "probe/1"), ("Accept-Encoding", "identity"), ("X-Note", "café"))
    path = f"/headers?replace={backend.value}"
    settings = Settings(request=RequestSettings(headers=headers), body=BodySettings(snippet_length=2000))
    (result,) = run([server.url(path)], settings, backend=backend)
    assert result.ok
    seen = server.stats.headers_seen[path]
    assert seen["user-agent"] == "probe/1" and seen["accept-encoding"] == "identity"
    assert seen["x-note"] == "café".encode().decode("latin-1")  # sent as UTF-8, on both backends
    head = result.snippet.lower()
    assert head.count("user-agent") == 1 and head.count("accept-encoding") == 1  # replaced, not added


def test_a_broken_gzip_body_is_a_decoding_error(server: LoopbackServer, backend: Backend) -> None:
    (result,) = run([server.url("/bad-gzip")], backend=backend)
    assert result.error is not None and result.error.type == "DecodingError"
    assert (
        result.status == 200 and not result.ok
    )  # the response came; its body did not decode (kept, as curl keeps 61's status)


def test_keepalive_expiry_closes_idle_connections(fresh_server: LoopbackServer, backend: Backend) -> None:
    """Two requests half a second apart (--rate 2): one connection when idle ones live 5 s, two
    when they expire after 0.1 s. Counted by the server."""
    urls = [fresh_server.url("/ok/1"), fresh_server.url("/ok/2")]
    paced = PolitenessSettings(rate=2)
    run(urls, Settings(politeness=paced, concurrency=1), backend=backend)
    assert fresh_server.stats.accepted == 1
    short = PoolSettings(keepalive_expiry=0.1)
    run(urls, Settings(pool=short, politeness=paced, concurrency=1), backend=backend)
    assert fresh_server.stats.accepted == 1 + 2


def test_the_default_reorder_window() -> None:
    assert Settings().effective_order_window == 800  # 8 x the default concurrency of 100
    assert Settings(concurrency=10).effective_order_window == 256  # at least 256
    assert Settings(order=Order.completion).order is Order.completion


def test_fetchcli_loop_asyncio_turns_uvloop_off(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("uvloop")
    seen: list[str] = []

    async def which_loop() -> None:
        seen.append(type(asyncio.get_running_loop()).__module__)

    run_loop(which_loop(), 4)
    monkeypatch.setenv("FETCHCLI_LOOP", "asyncio")
    run_loop(which_loop(), 4)
    assert seen[0].startswith("uvloop") and not seen[1].startswith("uvloop")
    assert os.environ["FETCHCLI_LOOP"] == "asyncio"
