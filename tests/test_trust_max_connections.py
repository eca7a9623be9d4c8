"""--max-connections has an upper bound: the pools size their tables by it up front, so a value
past a process's file descriptors cost memory for nothing (the httpx backend: ~100 bytes a
connection, 1 GB at 10,000,000) and one past 2**63 ended the run with a traceback
(OverflowError) on both backends. Above the bound it is a usage error, before anything is sent."""

from __future__ import annotations

import pytest

from fetchcli.cli.app import main
from fetchcli.settings import MAX_CONNECTIONS, Backend, PoolSettings, Settings, SettingsError, validate
from tests.server import LoopbackServer

HUGE = str(2**73)  # past ssize_t: aiohttp's deque(maxlen=...) and the httpx shard list overflowed


@pytest.mark.parametrize("value", [HUGE, str(MAX_CONNECTIONS + 1)])
def test_a_max_connections_above_the_bound_is_a_usage_error(
    fresh_server: LoopbackServer, backend: Backend, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--backend", backend.value, "--max-connections", value, fresh_server.url("/ok")]) == 2
    captured = capsys.readouterr()
    assert captured.err == (
        f"fetchcli: error: --max-connections must be at most {MAX_CONNECTIONS}"
        " (each connection takes a file descriptor)\n"
    )
    assert captured.out == ""
    assert fresh_server.stats.requests == 0


def test_the_bound_itself_is_taken() -> None:
    validate(Settings(pool=PoolSettings(max_connections=MAX_CONNECTIONS)))
    with pytest.raises(SettingsError, match=r"^--max-connections must be at most"):
        validate(Settings(pool=PoolSettings(max_connections=MAX_CONNECTIONS + 1)))


def test_the_bound_holds_from_the_environment_too(
    fresh_server: LoopbackServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FETCHCLI_MAX_CONNECTIONS", HUGE)
    assert main([fresh_server.url("/ok")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fetchcli: error: --max-connections must be at most") and err.count("\n") == 1
    assert "FETCHCLI_MAX_CONNECTIONS" in err
    assert fresh_server.stats.requests == 0
