"""fetchcli: fetch many URLs concurrently; report status, timing and a body snippet for each.

Use from Python::

    import asyncio
    from fetchcli import Settings, fetch

    async def main() -> None:
        async for result in fetch(["https://example.com", "example.org"], Settings(concurrency=10)):
            print(result.status, result.url, result.snippet)

    asyncio.run(main())

Heavy modules (httpx) load on first use, so ``import fetchcli`` and ``fetchcli --version`` stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fetchcli._version import __version__
from fetchcli.models import ErrorInfo, FetchResult, UrlItem
from fetchcli.settings import (
    Backend,
    BodySettings,
    Order,
    OutputFormat,
    PolitenessSettings,
    PoolSettings,
    RequestSettings,
    RetrySettings,
    Settings,
    SettingsError,
    SuccessSettings,
    TimeoutSettings,
)
from fetchcli.summary import Summary

if TYPE_CHECKING:
    from fetchcli.engine.run import fetch
    from fetchcli.transport.client import build_client

__all__ = [
    "Backend",
    "BodySettings",
    "ErrorInfo",
    "FetchResult",
    "Order",
    "OutputFormat",
    "PolitenessSettings",
    "PoolSettings",
    "RequestSettings",
    "RetrySettings",
    "Settings",
    "SettingsError",
    "SuccessSettings",
    "Summary",
    "TimeoutSettings",
    "UrlItem",
    "__version__",
    "build_client",
    "fetch",
]


def __getattr__(name: str) -> Any:
    if name == "fetch":
        from fetchcli.engine.run import fetch

        return fetch
    if name == "build_client":
        from fetchcli.transport.client import build_client

        return build_client
    raise AttributeError(f"module 'fetchcli' has no attribute {name!r}")
