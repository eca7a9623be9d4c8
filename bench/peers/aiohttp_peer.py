"""Raw aiohttp: one ClientSession, TCPConnector(limit=concurrency), bounded gather."""

from __future__ import annotations

import asyncio
import sys

import aiohttp
import loop  # bench/peers/loop.py: the event loop fetchcli runs on


async def main(path: str, concurrency: int) -> None:
    with open(path) as f:
        urls = [line.strip() for line in f if line.strip()]
    limit = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(url: str) -> int:
            async with limit:
                try:
                    async with session.get(url) as response:
                        return len((await response.content.read(65536))[:80])
                except aiohttp.ClientError:
                    return -1

        await asyncio.gather(*(one(url) for url in urls))


if __name__ == "__main__":
    loop.run(main(sys.argv[1], int(sys.argv[2])))
