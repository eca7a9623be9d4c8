"""The fetch engine: URLs in, ``FetchResult``s out, with bounded concurrency and memory.

One concurrency point: a URL is pulled from the source only when a slot is free (and, for
``--order input``, when the reorder window has room), so neither tasks nor results pile up
however long the input is. Each URL runs in its own task under a ``--max-time`` timer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable, Iterator
from contextlib import aclosing
from datetime import datetime, timezone

import httpx

from fetchcli.client import build_client
from fetchcli.errors import TotalTimeout, error_from_exception
from fetchcli.models import ErrorInfo, FetchResult, UrlItem
from fetchcli.settings import Order, Settings
from fetchcli.snippet import clean_line, make_snippet, read_body

UrlSource = Iterable[UrlItem | str] | AsyncIterable[UrlItem]


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _header_int(value: str | None) -> int | None:
    if value is not None and value.strip().isdigit():
        return int(value)
    return None


def _as_items(urls: Iterable[UrlItem | str]) -> Iterator[UrlItem]:
    from fetchcli.sources import normalise_url

    for index, url in enumerate(urls):
        yield url if isinstance(url, UrlItem) else normalise_url(url.strip(), index)


def invalid_result(item: UrlItem) -> FetchResult:
    error = item.error or ErrorInfo("InvalidURL", "invalid URL")
    return FetchResult(index=item.index, url=item.display_url, ok=False, fetched_at=_now_iso(), error=error)


class _Deadline:
    """``--max-time`` for one task: cancels it when the time is up, and remembers why."""

    __slots__ = ("expired", "handle")

    def __init__(self, seconds: float | None) -> None:
        self.expired = False
        self.handle: asyncio.TimerHandle | None = None
        if seconds is not None:
            task = asyncio.current_task()
            assert task is not None
            self.handle = asyncio.get_running_loop().call_later(seconds, self._fire, task)

    def _fire(self, task: asyncio.Task[FetchResult]) -> None:
        self.expired = True
        task.cancel()

    def cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()


class InvalidURL(Exception):
    """A URL that passed input validation but that httpx cannot turn into a request."""


def _build_request(client: httpx.AsyncClient, method: str, url: str) -> httpx.Request:
    try:
        return client.build_request(method, url)
    except Exception as exc:  # httpx.InvalidURL, idna's errors (UnicodeError subclasses), ...
        raise InvalidURL(str(exc) or "invalid URL") from exc


async def fetch_one(client: httpx.AsyncClient, item: UrlItem, settings: Settings) -> FetchResult:
    """Fetch one valid URL: follow redirects if asked, read at most the body cap, never raise
    (except ``CancelledError`` from outside)."""
    assert item.url is not None
    req, body_settings = settings.request, settings.body
    fetched_at = _now_iso()
    started = time.perf_counter()
    deadline = _Deadline(settings.timeouts.total)
    try:
        request = _build_request(client, req.method, item.url)
        redirects = 0
        while True:
            response = await client.send(request, stream=True)
            try:
                body = await read_body(
                    response.aiter_raw(), response.headers.get("content-encoding"), body_settings.max_body_bytes
                )
            finally:
                await response.aclose()
            next_request = response.next_request
            if not req.follow_redirects or next_request is None:
                break
            redirects += 1
            if redirects > req.max_redirects:
                raise httpx.TooManyRedirects(f"more than {req.max_redirects} redirects", request=request)
            if next_request.url.scheme not in ("http", "https"):
                raise httpx.UnsupportedProtocol(f"redirect to unsupported URL scheme {next_request.url.scheme!r}")
            request = next_request
        deadline.cancel()
        headers = response.headers
        snippet, _binary = make_snippet(body.data, response.charset_encoding, body_settings.snippet_length)
        content_type = headers.get("content-type")
        return FetchResult(
            index=item.index,
            url=item.url,
            ok=response.status_code < 400,
            status=response.status_code,
            reason=clean_line(response.reason_phrase),
            http_version=response.http_version,
            final_url=clean_line(str(response.url), 8192),
            elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
            content_type=clean_line(content_type) if content_type is not None else None,
            content_length=_header_int(headers.get("content-length")),
            bytes_read=len(body.data),
            truncated=not body.complete,
            snippet=snippet,
            fetched_at=fetched_at,
        )
    except asyncio.CancelledError:
        if not deadline.expired:
            raise
        task = asyncio.current_task()
        if task is not None and hasattr(task, "uncancel"):
            task.uncancel()
        error = error_from_exception(TotalTimeout(f"gave up after --max-time {settings.timeouts.max_time:g} s"))
    except Exception as exc:  # noqa: BLE001 - every failure the network or input can cause becomes a record
        deadline.cancel()
        error = error_from_exception(exc)
    return FetchResult(
        index=item.index,
        url=item.url,
        ok=False,
        elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
        fetched_at=fetched_at,
        error=error,
    )


class _Run:
    """State of one ``fetch`` call: the slot count, the reorder buffer and the done queue."""

    def __init__(self, client: httpx.AsyncClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.limit = settings.effective_concurrency
        self.window = settings.effective_order_window
        self.in_order = settings.order is Order.input
        self.running: set[asyncio.Task[FetchResult]] = set()
        self.done: asyncio.Queue[tuple[int, FetchResult]] = asyncio.Queue()
        self.buffer: dict[int, FetchResult] = {}
        self.admitted = 0  # sequence number of the next URL to admit
        self.emitted = 0  # sequence number of the next result to write (input order)
        self.peak_buffered = 0  # largest reorder buffer seen, for tests and the curious

    def has_room(self) -> bool:
        if len(self.running) >= self.limit:
            return False
        return not self.in_order or self.admitted - self.emitted < self.window

    def start(self, item: UrlItem) -> FetchResult | None:
        seq = self.admitted
        self.admitted += 1
        if item.url is None:
            return self.accept(seq, invalid_result(item))
        task = asyncio.create_task(fetch_one(self.client, item, self.settings))
        self.running.add(task)
        task.add_done_callback(lambda t: self._finished(seq, t))
        return None

    def _finished(self, seq: int, task: asyncio.Task[FetchResult]) -> None:
        self.running.discard(task)
        if not task.cancelled():
            self.done.put_nowait((seq, task.result()))

    def accept(self, seq: int, result: FetchResult) -> FetchResult | None:
        """Returns the result at once in completion order; buffers it in input order."""
        if not self.in_order:
            return result
        self.buffer[seq] = result
        if len(self.buffer) > self.peak_buffered:
            self.peak_buffered = len(self.buffer)
        return None

    def ready(self) -> Iterator[FetchResult]:
        while self.emitted in self.buffer:
            yield self.buffer.pop(self.emitted)
            self.emitted += 1

    async def cancel_all(self) -> None:
        for task in self.running:
            task.cancel()
        if self.running:
            await asyncio.gather(*self.running, return_exceptions=True)


async def _next_item(source: Iterator[UrlItem] | AsyncIterator[UrlItem]) -> UrlItem | None:
    if isinstance(source, Iterator):
        return next(source, None)
    try:
        return await anext(source)
    except StopAsyncIteration:
        return None


async def run_fetch(
    items: UrlSource, settings: Settings, client: httpx.AsyncClient
) -> AsyncGenerator[FetchResult, None]:
    """Like ``fetch`` with a client the caller owns and closes."""
    source: Iterator[UrlItem] | AsyncIterator[UrlItem]
    source = aiter(items) if isinstance(items, AsyncIterable) else _as_items(items)
    run = _Run(client, settings)
    exhausted = False
    try:
        while True:
            while not exhausted and run.has_room():
                item = await _next_item(source)
                if item is None:
                    exhausted = True
                elif (immediate := run.start(item)) is not None:
                    yield immediate
            for result in run.ready():
                yield result
            if exhausted and not run.running and run.done.empty():
                break
            seq, result = await run.done.get()
            while True:
                if (immediate := run.accept(seq, result)) is not None:
                    yield immediate
                if run.done.empty():
                    break
                seq, result = run.done.get_nowait()
            for result in run.ready():
                yield result
    finally:
        await run.cancel_all()


async def fetch(
    items: UrlSource, settings: Settings | None = None, *, client: httpx.AsyncClient | None = None
) -> AsyncGenerator[FetchResult, None]:
    """Fetch every URL in ``items`` (strings or ``UrlItem``s, sync or async) and yield one
    ``FetchResult`` each, in input order unless ``settings.order`` is ``completion``.

    ``async for result in fetch(["https://example.com"]): ...``. The client is built from
    ``settings`` unless given, and then closed at the end.
    """
    settings = settings or Settings()
    if client is not None:
        async with aclosing(run_fetch(items, settings, client)) as results:
            async for result in results:
                yield result
        return
    async with build_client(settings) as own_client, aclosing(run_fetch(items, settings, own_client)) as results:
        async for result in results:
            yield result
