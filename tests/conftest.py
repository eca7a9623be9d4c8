from __future__ import annotations

from collections.abc import Iterator

import pytest

from fetchcli.errors import ERROR_TYPES
from fetchcli.models import ErrorInfo
from fetchcli.settings import Backend
from tests.server import LoopbackServer, running_server


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


_SEEN_ERROR_TYPES: set[str] = set()
_original_error_init = ErrorInfo.__init__


def _recording_init(self: ErrorInfo, type: str, message: str) -> None:
    _SEEN_ERROR_TYPES.add(type)
    _original_error_init(self, type, message)


@pytest.fixture(autouse=True)
def error_types_are_in_the_vocabulary(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every ``error.type`` a test produces (in this process) is in the documented vocabulary."""
    monkeypatch.setattr(ErrorInfo, "__init__", _recording_init)
    _SEEN_ERROR_TYPES.clear()
    yield
    unknown = _SEEN_ERROR_TYPES - set(ERROR_TYPES)
    assert not unknown, f"error types outside fetchcli.errors.ERROR_TYPES: {sorted(unknown)}"
