"""The event loop a run goes on, in the parent and in each worker process (``workers.py``).

Here, not in the CLI's run wiring, so that a worker (the engine) does not import the CLI.
"""

from __future__ import annotations

import asyncio
import os


def _size_resolver_threads(threads: int) -> None:
    """Name lookups of the httpx backend go to the loop's thread pool: make it as wide as the
    concurrency (``Settings.resolver_threads``, already bounded), so many distinct hosts do not
    queue behind a few threads (the aiohttp backend has its own pool, see aio.py)."""
    os.environ.setdefault("UV_THREADPOOL_SIZE", str(threads))  # uvloop's (libuv's) pool


def run_loop(coro: object, threads: int) -> None:
    """Run on uvloop when it is installed (faster), unless FETCHCLI_LOOP=asyncio."""
    _size_resolver_threads(threads)
    if os.environ.get("FETCHCLI_LOOP", "auto") != "asyncio":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            uvloop.run(coro)  # type: ignore[arg-type]
            return
    asyncio.run(coro)  # type: ignore[arg-type]
