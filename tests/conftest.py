from __future__ import annotations

from collections.abc import Iterator

import pytest

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
