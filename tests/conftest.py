from __future__ import annotations

import os
import pty
import shutil
import socket
import subprocess
import tempfile
import types
from collections.abc import Iterator
from typing import Any

import pytest

from fetchcli.errortype import ErrorType
from fetchcli.models import ErrorInfo
from fetchcli.settings import Backend
from tests.server import LoopbackServer, running_server

_CONFIG_HOME: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    """No test reads the developer's own config file (~/.config/fetchcli/config.toml) or the
    file FETCHCLI_CONFIG names: XDG_CONFIG_HOME is an empty directory of the session's, for
    in-process runs and for every child process (they inherit it). Tests of the config file
    point XDG_CONFIG_HOME at their own directory."""
    _CONFIG_HOME.append(tempfile.mkdtemp(prefix="fetchcli-tests-config-"))
    os.environ["XDG_CONFIG_HOME"] = _CONFIG_HOME[-1]
    os.environ.pop("FETCHCLI_CONFIG", None)


def pytest_unconfigure(config: pytest.Config) -> None:
    for folder in _CONFIG_HOME:
        shutil.rmtree(folder, ignore_errors=True)


# Fixtures that start a server on 127.0.0.1 (here and in the test files): a test that uses one,
# directly or through another fixture, is marked ``live``. A test that starts a server itself
# carries ``@pytest.mark.live``; under a ``-m`` that names ``live``, an unmarked test that opens a
# listening socket fails (see ``live_tests_are_marked``), so the tier cannot go stale unseen.
LIVE_FIXTURES = frozenset(
    {
        "server", "fresh_server", "two_hosts", "multi_host_server", "two_origins", "servers", "tls_server",
        "tls_origin", "full_backlog", "charset_bomb", "broken_h2", "expiring", "ca_signed", "title_bomb",
        "many_names", "hostile", "plain", "self_signed",
    }
)  # fmt: skip


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if LIVE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.live)
        function = getattr(item, "function", None)
        if isinstance(function, types.FunctionType) and _starts_processes(
            function.__code__, function.__globals__, set()
        ):
            item.add_marker(pytest.mark.slow)


# ``slow`` also marks, without a decorator, every test that starts a child process: fetchcli as a
# command (``fetchcli_in_clean_env``, ``subprocess``), a pty, a shell. Each pays Python's start-up
# and fetchcli's imports (~0.3 s, seconds on a busy machine): together ~85% of the suite's time.
# Found by reading the test's code and what it calls in tests/ (functions, methods of its
# classes, functions in dicts it looks up), not by running it.
_SPAWNING_NAMES = frozenset({"Popen", "create_subprocess_exec", "create_subprocess_shell", "fork", "forkpty"})


def _starts_processes(code: types.CodeType, names: dict[str, Any], seen: set[types.CodeType]) -> bool:
    if code in seen:
        return False
    seen.add(code)
    for name in code.co_names:
        if name in _SPAWNING_NAMES:
            return True
        found = names.get(name)
        if found is subprocess or found is pty or _is_function(found, "tests.helpers", "fetchcli_in_clean_env"):
            return True
        if any(_starts_processes(f.__code__, f.__globals__, seen) for f in _tests_functions(found)):
            return True
    return any(isinstance(c, types.CodeType) and _starts_processes(c, names, seen) for c in code.co_consts)


def _is_function(found: object, module: str, name: str) -> bool:
    return isinstance(found, types.FunctionType) and (found.__module__, found.__name__) == (module, name)


def _tests_functions(found: object) -> list[types.FunctionType]:
    if isinstance(found, type):
        found = list(vars(found).values())
    elif isinstance(found, dict):
        found = list(found.values())
    candidates = found if isinstance(found, list) else [found]
    return [f for f in candidates if isinstance(f, types.FunctionType) and f.__module__.startswith("tests.")]


@pytest.fixture(autouse=True)
def live_tests_are_marked(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the run selects by ``live`` (``-m "not live"``), a test not marked ``live`` may not
    listen on a socket: it fails, naming the marker, instead of running a server in a tier said
    to have none. Plain ``pytest`` (everything) is not checked, so tests added elsewhere stay
    runnable before they are marked."""
    if "live" not in (request.config.option.markexpr or "") or request.node.get_closest_marker("live"):
        return
    node = request.node.nodeid

    def refused(self: socket.socket, *args: Any) -> None:
        pytest.fail(f"{node} starts a server on 127.0.0.1: mark it @pytest.mark.live (tests/conftest.py)")

    monkeypatch.setattr(socket.socket, "listen", refused)


@pytest.fixture(scope="session")
def server() -> Iterator[LoopbackServer]:
    with running_server() as srv:
        yield srv


@pytest.fixture
def fresh_server() -> Iterator[LoopbackServer]:
    """A server of the test's own, for tests that count connections."""
    with running_server() as srv:
        yield srv


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=[Backend.aiohttp, Backend.httpx], ids=["aiohttp", "httpx"])
def backend(request: pytest.FixtureRequest) -> Backend:
    """Run a live test on both transports: their records must not differ."""
    assert isinstance(request.param, Backend)
    return request.param


_SEEN_ERROR_TYPES: set[object] = set()
_original_error_init = ErrorInfo.__init__


def _recording_init(self: ErrorInfo, type: ErrorType, message: str) -> None:
    _SEEN_ERROR_TYPES.add(type)
    _original_error_init(self, type, message)


@pytest.fixture(autouse=True)
def error_types_are_in_the_vocabulary(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every ``error.type`` a test produces (in this process) is in the documented vocabulary:
    an ``ErrorType`` member, not merely its name (tests/test_workers.py checks worker processes)."""
    monkeypatch.setattr(ErrorInfo, "__init__", _recording_init)
    _SEEN_ERROR_TYPES.clear()
    yield
    unknown = {repr(seen) for seen in _SEEN_ERROR_TYPES if type(seen) is not ErrorType}
    assert not unknown, f"error types that are not fetchcli.errortype.ErrorType members: {sorted(unknown)}"
