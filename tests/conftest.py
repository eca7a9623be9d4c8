from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator

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
