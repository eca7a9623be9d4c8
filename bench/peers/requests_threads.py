"""requests.Session shared by a ThreadPoolExecutor: the usual blocking answer."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor

import requests
from requests.adapters import HTTPAdapter


def main(path: str, concurrency: int) -> None:
    with open(path) as f:
        urls = [line.strip() for line in f if line.strip()]
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=256, pool_maxsize=concurrency)
    session.mount("http://", adapter)

    def one(url: str) -> int:
        try:
            return len(session.get(url, timeout=30).text[:80])
        except requests.RequestException:
            return -1

    with ThreadPoolExecutor(concurrency) as pool:
        for _ in pool.map(one, urls):
            pass


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
