from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence

import httpx

from fetchcli.engine import fetch
from fetchcli.models import FetchResult
from fetchcli.settings import Backend, Settings


async def collect(
    urls: Sequence[str], settings: Settings | None = None, client: httpx.AsyncClient | None = None
) -> list[FetchResult]:
    return [result async for result in fetch(urls, settings or Settings(), client=client)]


def run(urls: Sequence[str], settings: Settings | None = None, *, backend: Backend | None = None) -> list[FetchResult]:
    settings = settings or Settings()
    if backend is not None:
        settings = dataclasses.replace(settings, backend=backend)
    return asyncio.run(collect(urls, settings))


def run_httpx(urls: Sequence[str], settings: Settings | None = None) -> list[FetchResult]:
    """respx patches httpcore, so mapping tests run on the httpx backend (live tests cover both)."""
    return run(urls, settings, backend=Backend.httpx)
