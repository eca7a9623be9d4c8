"""Which URL the engine starts next: host-affine admission over a bounded look-ahead.

Why: when a list has more hosts than ``--max-connections`` (a crawl, a link check), starting
URLs strictly in input order gives each a host whose connection was closed to make room for
another, so every URL opens a new connection. The engine reads ahead (at most its reorder
window) and, when a URL finishes, starts the next waiting URL *of the same host* if there is
one: that URL takes the connection just left idle. Otherwise it starts the oldest waiting URL.

Nothing waits forever: the engine reads no further than ``window`` URLs past the oldest one not
yet written (input order) or not yet started (completion order), so a URL skipped in favour of
warm hosts is started at the latest when the look-ahead has nothing else left. Results are
still written in input order (the engine's reorder buffer).

Every operation is O(1) (amortised): a queue in input order, one queue per host, and the
hosts of URLs that just finished.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Iterator

from fetchcli.models import UrlItem


def host_of(url: str) -> str:
    """The host of a normalised URL, as connection pools key it: no userinfo, no port, no
    brackets, lower case."""
    start = url.find("//") + 2
    end = len(url)
    for mark in "/?#":
        found = url.find(mark, start, end)
        if found >= 0:
            end = found
    start = url.rfind("@", start, end) + 1 or start
    if url.startswith("[", start):
        end = url.find("]", start, end)
        start += 1
    else:
        colon = url.find(":", start, end)
        if colon >= 0:
            end = colon
    host = url[start:end].lower()
    if not host.isascii():  # the pools see the IDNA form
        with contextlib.suppress(UnicodeError):
            host = host.encode("idna").decode("ascii")
    return host


class _Waiting:
    __slots__ = ("host", "item", "read_at", "seq", "started")

    def __init__(self, seq: int, item: UrlItem, host: str, read_at: float) -> None:
        self.seq = seq
        self.item = item
        self.host = host
        self.read_at = read_at
        self.started = False


class Lookahead:
    """URLs read from the input and not started yet, in input order and by host."""

    __slots__ = ("_by_host", "_connections", "_live", "_order", "_released", "affine", "count")

    def __init__(self, connections: int) -> None:
        self._connections = connections
        self._order: deque[_Waiting] = deque()  # may hold entries started out of order (skipped)
        self._by_host: dict[str, deque[_Waiting]] = {}  # only entries not started
        # Hosts of URLs done with their connections, which may be idle now (the latest few).
        self._released: deque[str] = deque(maxlen=connections)
        self._live: dict[str, int] = {}  # host -> its URLs read and not finished
        self.count = 0  # entries not started
        self.affine = 0  # URLs started ahead of their turn, on a connection just released

    def __len__(self) -> int:
        return self.count

    def add(self, seq: int, item: UrlItem, read_at: float = 0.0) -> None:
        """A URL read from the input (at ``read_at``, a ``time.perf_counter()`` reading: where
        its ``queued_ms`` starts)."""
        assert item.url is not None
        entry = _Waiting(seq, item, host_of(item.url), read_at)
        self._live[entry.host] = self._live.get(entry.host, 0) + 1
        self._order.append(entry)
        queue = self._by_host.get(entry.host)
        if queue is None:
            self._by_host[entry.host] = deque((entry,))
        else:
            queue.append(entry)
        self.count += 1

    def released(self, host: str) -> None:
        """A URL of ``host`` is done with its connection, which is likely idle now."""
        if len(self._live) > self._connections:
            self._released.append(host)
        elif self._released:
            self._released.clear()  # in input order: every host can keep a connection

    def finished(self, host: str) -> None:
        """A URL of ``host`` that this look-ahead gave out finished (or was cancelled)."""
        left = self._live[host] - 1
        if left:
            self._live[host] = left
        else:
            del self._live[host]

    def next_use(self, host: str) -> int | None:
        """``DEMAND``: the sequence number of the next URL of ``host`` waiting, or None."""
        queue = self._by_host.get(host)
        return queue[0].seq if queue else None

    def oldest_seq(self) -> int | None:
        order = self._order
        while order and order[0].started:
            order.popleft()
        return order[0].seq if order else None

    def take(self) -> tuple[int, UrlItem, str, float]:
        """The next URL to start: the oldest of a host whose connection was just released, else
        the oldest; as its sequence number, item, host and the time it was read."""
        released, by_host = self._released, self._by_host
        while released:
            queue = by_host.get(released.popleft())
            if queue is not None:
                entry = queue.popleft()
                if not queue:
                    del by_host[entry.host]
                if entry.seq != self.oldest_seq():
                    self.affine += 1
                return self._start(entry)
        order = self._order
        entry = order.popleft()
        while entry.started:
            entry = order.popleft()
        queue = by_host[entry.host]
        queue.popleft()  # the oldest of its host too
        if not queue:
            del by_host[entry.host]
        return self._start(entry)

    def _start(self, entry: _Waiting) -> tuple[int, UrlItem, str, float]:
        entry.started = True
        self.count -= 1
        return entry.seq, entry.item, entry.host, entry.read_at

    def drain(self) -> Iterator[tuple[int, UrlItem]]:
        """Every URL not started, in input order (a stopped run reports them)."""
        while self._order:
            entry = self._order.popleft()
            if not entry.started:
                entry.started = True
                self.count -= 1
                self._live[entry.host] -= 1
                yield entry.seq, entry.item
        self._by_host.clear()
        self._live = {host: n for host, n in self._live.items() if n}
