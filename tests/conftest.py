from __future__ import annotations

from collections.abc import Iterator

import pytest

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
