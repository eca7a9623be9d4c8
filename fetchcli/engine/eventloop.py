"""The event loop a run goes on, in the parent and in each worker process (``workers.py``).

Here, not in the CLI's run wiring, so that a worker (the engine) does not import the CLI.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
from collections.abc import Iterator

# Young objects a collection waits for (CPython's default is 700 before 3.13): a run makes
# thousands of short-lived objects per second, nearly all freed by reference counting, so a
# collection every 700 allocations is mostly wasted work (measured: docs/performance.md, "Garbage
# collection"). Cyclic garbage waits a little longer: tens of thousands of objects, a few MB.
GEN0_THRESHOLD = 50_000


def _size_resolver_threads(threads: int) -> None:
    """Name lookups of the httpx backend go to the loop's thread pool: make it as wide as the
    concurrency (``Settings.resolver_threads``, already bounded), so many distinct hosts do not
    queue behind a few threads (the aiohttp backend has its own pool: aioconnector.PooledLookups)."""
    os.environ.setdefault("UV_THREADPOOL_SIZE", str(threads))  # uvloop's (libuv's) pool


@contextlib.contextmanager
def tuned_gc() -> Iterator[None]:
    """For the length of a run: what start-up made (modules, classes, the settings) is frozen
    out of every collection (``gc.freeze``), and a collection waits for ``GEN0_THRESHOLD`` young
    objects. Put back as it was afterwards (a test process runs many). ``FETCHCLI_GC=default``
    leaves the collector alone (for measuring the difference)."""
    if os.environ.get("FETCHCLI_GC", "tuned") == "default":
        yield
        return
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(threshold[0], GEN0_THRESHOLD), *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def run_loop(coro: object, threads: int) -> None:
    """Run on uvloop when it is installed (faster), unless FETCHCLI_LOOP=asyncio; with the
    collector tuned for the run (``tuned_gc``)."""
    _size_resolver_threads(threads)
    with tuned_gc():
        _run(coro)


def _run(coro: object) -> None:
    if os.environ.get("FETCHCLI_LOOP", "auto") != "asyncio":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            uvloop.run(coro)  # type: ignore[arg-type]
            return
    asyncio.run(coro)  # type: ignore[arg-type]
