"""``--all-ips``: a URL becomes one work item per address its host has, each pinned to one.

Each URL the selection keeps (``--shard``, ``--unique``: they choose among input URLs, before
this) is looked up once, here, before it is admitted: its host and port after ``--connect-to``,
the addresses ``--resolve`` gives them or else the event loop's ``getaddrinfo`` (never blocking
the loop, within ``--connect-timeout``; a run's stop cancels it), kept to the family ``-4``/
``-6`` allow, each address once, in the order found. The URL then yields one ``UrlItem`` per
address (``UrlItem.address``), with the URL's own ``index`` and ``url``, one after the other.
Each is a request of its own to the engine: a slot, ``--per-host``, ``--rate`` and
``--host-rate`` count every probe.

While an item is fetched (``pinned``), a connection to the URL's host and port goes to its
address (``addressmap.PIN``: as a one-address ``--resolve`` entry would, on both backends),
always on a new connection; the request's Host, TLS server name and certificate stay the URL's.
A redirect to another host or port is looked up as usual. A failed record without a peer gets
the pinned address as its ``remote_ip`` when it failed at the pinned host and port.

A name that does not resolve (or has no address -4/-6 allow) is not expanded: its one item goes
unpinned, and its record says the transport's ``DNSError``, as without ``--all-ips``.

Lookups of the next URLs run side by side, at most the run's concurrency of URLs ahead of the
oldest not all handed over (a pipe's next URL is waited for together with them), and a URL's
items are handed over once its own lookup has ended, the oldest URL's first: a slow lookup
delays only its own URL. Each item says where it stands in input order (``Place``), and the
engine's reorder window (``reorder.PlacedReorderBuffer``) writes the records in that order,
a URL's in address order; when the window is full, only the item whose record is next in
turn is read past it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import heapq
import socket
from collections.abc import Iterator

from fetchcli.engine.source import Source
from fetchcli.models import FetchResult, UrlItem
from fetchcli.settings import Settings
from fetchcli.transport.addressmap import PIN, AddressMap, is_address, pin_for
from fetchcli.transport.wireurl import BadURL, WireURL, parse
from fetchcli.urls import scheme_added


def _host_port(url: str) -> tuple[WireURL, int] | None:
    try:
        parsed = parse(url)
        return parsed, parsed.effective_port
    except (BadURL, ValueError):
        return None  # fetch_one says what is wrong with it


# Where an item stands in input order: (the URL's ordinal among the URLs read, the item's place
# among that URL's items, how many items the URL has). The reorder window sorts by it.
Place = tuple[int, int, int]


@dataclasses.dataclass(slots=True)
class _Url:
    """One URL read: its lookup (None: nothing to look up), then its items (``probes``: one per
    address, or the URL itself unpinned), of which ``given`` were handed out."""

    ordinal: int
    item: UrlItem
    lookup: asyncio.Future[list[str]] | None
    probes: list[UrlItem] | None = None
    given: int = 0

    def expand(self) -> bool:
        """Its items from its ended lookup; False if they were known already."""
        if self.probes is not None:
            return False
        try:
            found = self.lookup.result() if self.lookup is not None else []
        except (Exception, asyncio.CancelledError):  # noqa: BLE001 - never a traceback: the record says it
            found = []  # the item goes unpinned: the transport says why (DNSError, ConnectTimeout...)
        self.probes = [dataclasses.replace(self.item, address=address) for address in found] or [self.item]
        return True

    @property
    def spent(self) -> bool:
        return self.probes is not None and self.given == len(self.probes)

    def give(self) -> tuple[UrlItem, Place]:
        assert self.probes is not None
        self.given += 1
        return self.probes[self.given - 1], (self.ordinal, self.given - 1, len(self.probes))


class AddressSource:
    """The engine's input (``Source``'s interface) with each URL expanded to its addresses, in
    the order lookups end; ``place`` says where the item last given stands in input order."""

    def __init__(self, inner: Source, settings: Settings) -> None:
        self._inner = inner
        self._map = AddressMap.for_request(settings.request)
        self._timeout = settings.timeouts.phase(settings.timeouts.connect)
        self._ahead = max(1, settings.effective_concurrency)
        self._urls: collections.deque[_Url] = collections.deque()  # in input order, the oldest not all given first
        self._known: list[tuple[int, _Url]] = []  # a heap of URLs looked up, by ordinal (some given already)
        self._found = asyncio.Event()  # a lookup ended
        self._read = 0  # the ordinal of the next URL read
        self.place: Place = (0, 0, 1)

    @property
    def exhausted(self) -> bool:
        return self._inner.exhausted and not self._urls

    @property
    def head(self) -> tuple[int, int]:
        """(ordinal, place) of the first item in input order not given yet."""
        return (self._urls[0].ordinal, self._urls[0].given) if self._urls else (self._read, 0)

    async def _addresses(self, host: str, port: int) -> list[str]:
        target, to, fixed = self._map.route(host, port)
        if fixed is not None:
            found = list(dict.fromkeys(fixed))  # --resolve h:p:a,a (its addresses are normalised)
        elif is_address(target):
            found = [target]
        else:
            lookup = asyncio.get_running_loop().getaddrinfo(
                target, to, family=self._map.socket_family, type=socket.SOCK_STREAM
            )
            try:
                infos = await asyncio.wait_for(lookup, self._timeout)
            except OSError as exc:
                raise self._map.lookup_failed(exc) from exc
            found = list(dict.fromkeys(str(info[4][0]) for info in infos))
        return self._map.of_family(target, found)

    def _start(self, item: UrlItem) -> None:
        where = _host_port(item.url) if item.url is not None else None
        lookup = asyncio.ensure_future(self._addresses(where[0].host, where[1])) if where is not None else None
        url = _Url(self._read, item, lookup)
        self._read += 1
        self._urls.append(url)
        if lookup is None:
            self._known_now(url)
        else:
            lookup.add_done_callback(lambda _: self._known_now(url))

    def _known_now(self, url: _Url) -> None:
        if url.expand():
            heapq.heappush(self._known, (url.ordinal, url))
        self._found.set()

    def _give(self, head_only: bool) -> UrlItem | None:
        """The first item of the oldest URL looked up (``head_only``: of the oldest URL not all
        given, if it was looked up), or None."""
        if head_only:
            url = self._urls[0] if self._urls else None
            if url is None or (url.probes is None and not (url.lookup is not None and url.lookup.done())):
                return None
            self._known_now(url)
        else:
            while self._known and self._known[0][1].spent:
                heapq.heappop(self._known)
            if not self._known:
                return None
            url = self._known[0][1]
        item, self.place = url.give()
        while self._urls and self._urls[0].spent:
            self._urls.popleft()
        return item

    async def _wait(self, interrupt: asyncio.Event | None) -> UrlItem | None:
        """Wait for a lookup to end, or for the input's next URL (a pipe's) when there is room
        for its lookup; None when a lookup ended, when interrupted, or at the input's end."""
        waking = asyncio.ensure_future(interrupt.wait()) if interrupt is not None else None
        if waking is not None:
            waking.add_done_callback(lambda _: self._found.set())
        try:
            if len(self._urls) < self._ahead and not self._inner.exhausted:
                return await self._inner.next(self._found)  # the input's next item is kept if woken first
            await self._found.wait()
            return None
        finally:
            if waking is not None:
                waking.cancel()

    async def next(self, interrupt: asyncio.Event | None = None, head_only: bool = False) -> UrlItem | None:
        """The next item, of the oldest URL looked up (``head_only``: of the oldest URL not all
        given only); None at the end (``exhausted``) or when ``interrupt`` is set first."""
        while True:
            self._found.clear()
            if (item := self._give(head_only)) is not None:
                return item
            # Read ahead while the input has items at once (a file, a list); a pipe's next URL
            # is waited for together with the lookups running.
            if (
                len(self._urls) < self._ahead
                and not self._inner.exhausted
                and (self._inner.reads_at_once or not self._urls)
            ):
                if (item := await self._inner.next(interrupt)) is not None:
                    self._start(item)
                elif not self._inner.exhausted:
                    return None  # interrupted
                continue
            if not self._urls:
                return None
            if (item := await self._wait(interrupt)) is not None:
                self._start(item)
            elif interrupt is not None and interrupt.is_set():
                return None

    async def rest(self, whole: bool) -> UrlItem | None:
        """After a stop: what is left to report (``Source.rest``): a URL looked up already, one
        item per address not given; one whose lookup had not ended, once, unexpanded."""
        while self._urls:
            url = self._urls[0]
            if url.probes is None and url.lookup is not None and not url.lookup.done():
                url.lookup.cancel()
                await asyncio.sleep(0)  # let the lookup see its cancellation
            url.expand()
            if not url.spent:
                item, self.place = url.give()
                return item
            self._urls.popleft()
        left = await self._inner.rest(whole)
        if left is not None:
            self.place = (self._read, 0, 1)
            self._read += 1
        return left

    def close(self) -> None:
        for url in self._urls:
            if url.lookup is not None:
                url.lookup.cancel()
        self._inner.close()


@contextlib.contextmanager
def pinned(item: UrlItem, settings: Settings) -> Iterator[None]:
    """While the item is fetched: its URL's host and port connect to ``item.address`` only; so
    does ``--scheme-fallback``'s ``http://`` try of an input without a scheme (port 80 unless
    the input gave one), when ``--connect-to`` takes it to the same host."""
    assert item.url is not None and item.address is not None
    where = _host_port(item.url)
    if where is None:
        yield
        return
    url, port = where
    mapped = AddressMap.for_request(settings.request)
    target, target_port = mapped.target(url.host, port)  # --connect-to's
    ports = [(port, target_port)]
    if settings.request.scheme_fallback and scheme_added(item):
        plain = url.port if url.port is not None else 80
        plain_target, plain_to = mapped.target(url.host, plain)
        if plain != port and plain_target == target:
            ports.append((plain, plain_to))
    token = PIN.set(pin_for(url.host, item.address, tuple(ports)))
    try:
        yield
    finally:
        PIN.reset(token)


def with_address(result: FetchResult, item: UrlItem) -> FetchResult:
    """A record without a peer (the connection failed) says which address was probed, when the
    failure was at the pinned host (no redirect followed)."""
    if result.remote_ip is not None or result.redirects or item.address is None:
        return result
    return dataclasses.replace(result, remote_ip=item.address)
