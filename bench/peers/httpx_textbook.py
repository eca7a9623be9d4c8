"""The textbook recipe: one shared httpx.AsyncClient, a bounded gather, await each response."""

from __future__ import annotations

import asyncio
import sys

import httpx
import loop  # bench/peers/loop.py: the event loop fetchcli runs on


async def main(path: str, concurrency: int) -> None:
    with open(path) as f:
        urls = [line.strip() for line in f if line.strip()]
    limit = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=concurrency)) as client:

        async def one(url: str) -> int:
            async with limit:
                try:
                    response = await client.get(url)
                    return len(response.text[:80])
                except httpx.HTTPError:
                    return -1

        await asyncio.gather(*(one(url) for url in urls))


if __name__ == "__main__":
    loop.run(main(sys.argv[1], int(sys.argv[2])))
