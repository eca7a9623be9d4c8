"""The event loop the asyncio peers run on: the one fetchcli runs on (uvloop when it is installed,
unless FETCHCLI_LOOP=asyncio, as in fetchcli/engine/eventloop.py), so that no peer is compared on a slower loop."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any


def name() -> str:
    if os.environ.get("FETCHCLI_LOOP", "auto") == "asyncio":
        return "asyncio"
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def run(coro: Coroutine[Any, Any, None]) -> None:
    if name() == "uvloop":
        import uvloop

        uvloop.run(coro)
    else:
        asyncio.run(coro)
