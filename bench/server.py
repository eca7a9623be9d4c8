"""A fast built-in HTTP/1.1 server for the benchmark when nginx is not installed.

python bench/server.py PORT HOST [HOST ...]. Paths: /p/* (1,000-byte body), /delay/* (after
50 ms), /large/* (1 MiB), /__stats (connections accepted so far, as text).
"""

from __future__ import annotations

import asyncio
import sys

SMALL = b"x" * 1000
LARGE = b"y" * (1024 * 1024)
accepted = 0


def response(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


SMALL_RESPONSE = response(SMALL)
LARGE_RESPONSE = response(LARGE)


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    global accepted
    accepted += 1
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            target = head.split(b" ", 2)[1]
            if target.startswith(b"/delay/"):
                await asyncio.sleep(0.05)
                writer.write(SMALL_RESPONSE)
            elif target.startswith(b"/large/"):
                writer.write(LARGE_RESPONSE)
            elif target == b"/__stats":
                writer.write(response(str(accepted).encode()))
            else:
                writer.write(SMALL_RESPONSE)
            await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(port: int, hosts: list[str]) -> None:
    server = await asyncio.start_server(handle, hosts, port, backlog=4096)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main(int(sys.argv[1]), sys.argv[2:]))
