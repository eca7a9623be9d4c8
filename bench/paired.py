"""Two ways of one fetchcli, in alternating blocks inside one process: the CPU per request of each.

    python bench/paired.py --compare sendpath --rounds 10    # aiodirect's short way vs ClientSession.request
    python bench/paired.py --compare gc --rounds 10          # the tuned collector vs CPython's defaults

Whole processes on a machine shared with other work vary by 10-15% from run to run, more than a
change of a few percent; here both ways run in the same process, in blocks of ``-n`` URLs (the
``small`` workload of bench/run.py, nginx when installed, else bench/server.py), alternating
A-B, B-A, ..., each block timed by ``time.process_time`` (``fetch`` on the loop a run uses:
uvloop when installed, unless FETCHCLI_LOOP=asyncio; no start-up). Prints each way's median CPU-ms per request and the paired ratios.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
import loop  # bench/peers/loop.py: the event loop fetchcli runs on
from run import Builtin, Nginx, Server, free_port

from fetchcli import fetch
from fetchcli.settings import Backend, Settings
from fetchcli.transport import aio
from fetchcli.transport.aiodirect import send_direct as _DIRECT


async def _via_session(
    session: Any, connector: Any, response_class: Any, method: str, url: Any, headers: Any, timeout: Any, **_: Any
) -> Any:
    """What the wire did before the short way: the same request through ClientSession.request."""
    return await session.request(method, url, headers=headers, allow_redirects=False, timeout=timeout)


def _sendpath(way: str) -> None:
    setattr(aio, "send_direct", _DIRECT if way == "direct" else _via_session)  # noqa: B010 - aio's global


def _gc(way: str) -> None:
    if way == "tuned":
        gc.freeze()
        gc.set_threshold(50_000, 10, 10)
    else:
        gc.unfreeze()
        gc.set_threshold(700, 10, 10)


COMPARE: dict[str, tuple[tuple[str, str], Callable[[str], None]]] = {
    "sendpath": (("direct", "session"), _sendpath),
    "gc": (("tuned", "default"), _gc),
}


def _block(port: int, first: int, n: int) -> float:
    urls = [f"http://127.0.0.1:{port}/p/{first + i}" for i in range(n)]

    async def go() -> None:
        ok = 0
        async for result in fetch(urls, Settings(backend=Backend.aiohttp)):
            ok += result.ok
        assert ok == n, f"{ok} of {n} ok"

    started = time.process_time()
    loop.run(go())
    return (time.process_time() - started) * 1000 / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--compare", choices=sorted(COMPARE), default="sendpath")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("-n", type=int, default=3000, help="URLs per block")
    args = parser.parse_args()
    ways, choose = COMPARE[args.compare]
    if args.compare != "gc":
        _gc("tuned")  # as a run has it
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        server: Server
        try:
            server = Nginx(port, Path(tmp) / "nginx")
        except (FileNotFoundError, OSError):
            server = Builtin(port)
        samples: dict[str, list[float]] = {way: [] for way in ways}
        try:
            _block(port, 0, args.n)  # warm-up
            for r in range(args.rounds):
                for way in ways if r % 2 == 0 else ways[::-1]:
                    choose(way)
                    samples[way].append(_block(port, (r + 1) * args.n, args.n))
        finally:
            server.stop()
    a, b = ways
    print(f"server: {server.kind}; {args.rounds} rounds of {args.n} URLs per way, alternating\n")
    for way in ways:
        got = samples[way]
        print(f"{way}: {statistics.median(got):.3f} CPU-ms per request (min-max {min(got):.3f}-{max(got):.3f})")
    paired = [x / y for x, y in zip(samples[a], samples[b], strict=True)]
    print(f"{a} / {b}, paired: median {statistics.median(paired):.3f} (min-max {min(paired):.3f}-{max(paired):.3f})")


if __name__ == "__main__":
    main()
