from __future__ import annotations

import asyncio
from collections.abc import Sequence

import httpx

from fetchcli.engine import fetch
from fetchcli.models import FetchResult
from fetchcli.settings import Settings


async def collect(
    urls: Sequence[str], settings: Settings | None = None, client: httpx.AsyncClient | None = None
) -> list[FetchResult]:
    return [result async for result in fetch(urls, settings or Settings(), client=client)]


def run(urls: Sequence[str], settings: Settings | None = None) -> list[FetchResult]:
    return asyncio.run(collect(urls, settings))
