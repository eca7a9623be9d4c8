"""``--all-ips``: a URL becomes one work item per address its host has, each pinned to one.

Each URL the selection keeps (``--shard``, ``--unique``: they choose among input URLs, before
this) is looked up once, here, before it is admitted: its host and port after ``--connect-to``,
the addresses ``--resolve`` gives them or else the event loop's ``getaddrinfo`` (never blocking
the loop, within ``--connect-timeout``; a run's stop cancels it), kept to the family ``-4``/
``-6`` allow, each address once, in the order found. The URL then yields one ``UrlItem`` per
address (``UrlItem.address``), with the URL's own ``index`` and ``url``, one after the other:
in input order, its records come in address order. Each is a request of its own to the engine:
a slot, ``--per-host``, ``--rate`` and ``--host-rate`` count every probe.

While an item is fetched (``pinned``), a connection to the URL's host and port goes to its
address (``addressmap.PIN``: as a one-address ``--resolve`` entry would, on both backends),
always on a new connection; the request's Host, TLS server name and certificate stay the URL's.
A redirect to another host or port is looked up as usual. A failed record without a peer gets
the pinned address as its ``remote_ip`` when it failed at the pinned host and port.

A name that does not resolve (or has no address -4/-6 allow) is not expanded: its one item goes
unpinned, and its record says the transport's ``DNSError``, as without ``--all-ips``. Lookups of
the next URLs run side by side, at most the run's concurrency ahead, their items handed over
in input order.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import socket
from collections.abc import Iterator

from fetchcli.engine.source import Source, done_unless
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


class AddressSource:
    """The engine's input (``Source``'s interface) with each URL expanded to its addresses."""

    def __init__(self, inner: Source, settings: Settings) -> None:
        self._inner = inner
        self._map = AddressMap.for_request(settings.request)
        self._timeout = settings.timeouts.phase(settings.timeouts.connect)
        self._ahead = max(1, settings.effective_concurrency)
        self._ready: collections.deque[UrlItem] = collections.deque()
        # (the item, its lookup) in input order
        self._lookups: collections.deque[tuple[UrlItem, asyncio.Future[list[str]] | None]] = collections.deque()

    @property
    def exhausted(self) -> bool:
        return self._inner.exhausted and not self._ready and not self._lookups

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
        self._lookups.append((item, lookup))

    def _expanded(self) -> None:
        item, lookup = self._lookups.popleft()
        try:
            found = lookup.result() if lookup is not None else []
        except (Exception, asyncio.CancelledError):  # noqa: BLE001 - never a traceback: the record says it
            found = []  # the item goes unpinned: the transport says why (DNSError, ConnectTimeout...)
        if not found:
            self._ready.append(item)
        self._ready.extend(dataclasses.replace(item, address=address) for address in found)

    async def next(self, interrupt: asyncio.Event | None = None) -> UrlItem | None:
        """The next item; None at the end (``exhausted``) or when ``interrupt`` is set first."""
        while not self._ready:
            # Read ahead while the input has items at once (a file, a list; a pipe: one at a time).
            while len(self._lookups) < self._ahead and not self._inner.exhausted:
                if self._lookups and not self._inner.reads_at_once:
                    break
                item = await self._inner.next(interrupt)
                if item is None:
                    if not self._inner.exhausted and not self._lookups:
                        return None  # interrupted
                    break
                self._start(item)
            if not self._lookups:
                return None
            lookup = self._lookups[0][1]
            if lookup is not None and not await done_unless(lookup, interrupt):
                return None
            self._expanded()
        return self._ready.popleft()

    async def rest(self, whole: bool) -> UrlItem | None:
        """After a stop: what is left to report (``Source.rest``): a URL looked up already, one
        item per address; one whose lookup had not ended, once, unexpanded."""
        while not self._ready and self._lookups:
            lookup = self._lookups[0][1]
            if lookup is not None and not lookup.done():
                lookup.cancel()
                await asyncio.sleep(0)  # let the lookup see its cancellation
                self._ready.append(self._lookups.popleft()[0])
            else:
                self._expanded()
        if self._ready:
            return self._ready.popleft()
        return await self._inner.rest(whole)

    def close(self) -> None:
        for _, lookup in self._lookups:
            if lookup is not None:
                lookup.cancel()
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
