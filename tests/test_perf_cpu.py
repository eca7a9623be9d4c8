"""Guards for fetchcli's own CPU per request that count work instead of timing it.

``asyncio.get_running_loop()`` (and ``asyncio.current_task()`` and ``asyncio.create_task()``,
which call it) makes a ``getpid()`` system call each time on Python < 3.12; the default path made
five such calls per URL (about 1 us, and 2,800 instructions per URL by callgrind, 0.3%). The engine
and the default wire ask for the loop once per run and carry it.
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from typer.testing import CliRunner

import fetchcli
from fetchcli.cli.app import app
from fetchcli.models import FetchResult, Timing
from fetchcli.output.render.json import JsonArraySink
from fetchcli.output.render.jsonl import JsonLinesSink
from fetchcli.settings import Backend, RequestSettings, Settings
from fetchcli.summary import Summary
from tests.helpers import collect
from tests.server import LoopbackServer

_FETCHCLI = str(Path(fetchcli.__file__).resolve().parent)
_ASYNCIO = str(Path(asyncio.__file__).resolve().parent)


def _hundred_urls(server: LoopbackServer, backend: Backend) -> list[FetchResult]:
    """A run of 100 URLs at -c 10, each read and validated by the engine's source: all ok."""
    urls = [server.url(f"/ok/{n}") for n in range(100)]
    results = asyncio.run(collect(urls, Settings(backend=backend, concurrency=10)))
    assert [r.ok for r in results] == [True] * 100
    return results


def _calls_counted(monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> list[int]:
    """How often ``owner.name`` is called from now on (a list of one count)."""
    calls = [0]
    original = getattr(owner, name)

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counting)
    return calls


def _from_fetchcli(frame: FrameType | None) -> bool:
    """Whether the call came from fetchcli's code, directly or through one of asyncio's helpers
    (``current_task``, ``create_task``)."""
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(_ASYNCIO):
        frame = frame.f_back
    return frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(_FETCHCLI)


@pytest.fixture
def loop_lookups(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """How often fetchcli's own code asked asyncio for the running loop."""
    counter = [0]
    original = asyncio.events.get_running_loop

    def counting() -> asyncio.AbstractEventLoop:
        if _from_fetchcli(sys._getframe(1)):
            counter[0] += 1
        return original()

    # asyncio.tasks calls events.get_running_loop; fetchcli's modules call asyncio.get_running_loop.
    monkeypatch.setattr(asyncio.events, "get_running_loop", counting)
    monkeypatch.setattr(asyncio, "get_running_loop", counting)
    yield counter


def test_the_running_loop_is_asked_for_once_per_run_not_per_url(
    fresh_server: LoopbackServer, backend: Backend, loop_lookups: list[int]
) -> None:
    _hundred_urls(fresh_server, backend)
    # Before: 5 per URL on the default wire (the task's creation, the --max-time timer armed and
    # disarmed, the task it cancels, the aiohttp request), 4 on the httpx one.
    assert loop_lookups[0] <= 5


# A URL list is mostly plain URLs: each is validated by one expression (urls._plain), and parsed
# into its parts once, for the wire (wireurl.parse); the step-by-step checks are for the rest.
_PLAIN_URLS = [
    "http://127.0.0.1:8080/p/1",
    "https://example.com",
    "https://www.example.com/a/b?q=1&r=2#top",
    "http://a-b.c0m:65535/~user/%41",
    "https://EXAMPLE.com/",
    "http://x/@not-a-user",
]


@pytest.fixture
def counted_steps(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    from fetchcli import urls
    from fetchcli.engine import asking
    from fetchcli.transport import wireurl

    counts = {"host checked": 0, "parsed": 0}

    def counting(module: object, name: str, key: str) -> None:
        original = getattr(module, name)

        def wrapper(*args: object) -> object:
            counts[key] += 1
            return original(*args)

        monkeypatch.setattr(module, name, wrapper)

    counting(urls, "_check_host", "host checked")
    # Every module of fetchcli's that took wireurl.parse by name (the engine's, the transports').
    parse = wireurl.parse
    takers = [m for name, m in sys.modules.items() if name.startswith("fetchcli.") and m is not wireurl]
    for module in {wireurl, asking, *takers}:
        if getattr(module, "parse", None) is parse:
            counting(module, "parse", "parsed")
    yield counts


def test_a_plain_url_is_validated_in_one_step(counted_steps: dict[str, int]) -> None:
    from fetchcli.urls import iter_items

    items = list(iter_items(_PLAIN_URLS))
    assert [item.url for item in items] == _PLAIN_URLS
    assert counted_steps["host checked"] == 0


def test_a_url_is_parsed_once_per_request(
    fresh_server: LoopbackServer, backend: Backend, counted_steps: dict[str, int]
) -> None:
    _hundred_urls(fresh_server, backend)
    assert counted_steps == {"host checked": 0, "parsed": 100}


@pytest.mark.parametrize(
    "text",
    [
        *_PLAIN_URLS,
        "http://127.1/",
        "http://2130706433/",
        "http://0x7f.0.0.1/",
        "http://127.0.0.01/",
        "http://256.0.0.1/",
        "http://a.1b/",
        "http://example.com./",
        "http://" + "a" * 64 + "/",
        "http://h:0/",
        "http://h:65536/",
        "http://h:/",
        "http://u:p@h/",
        "http://h\\x/",
        "http://h/a b",
        "http://h/\x7f",
        "http://h/\u00e9",
        "HTTP://h/",
        "h/path",
        "//h/",
        "ftp://h/",
    ],
)
def test_the_one_step_reads_a_url_as_the_full_reading_does(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from fetchcli import urls

    quick = urls.normalise_url(text, 3)
    monkeypatch.setattr(urls, "_plain", lambda _text: False)
    assert quick == urls.normalise_url(text, 3)


# aiohttp is told which of its automatic headers to skip only when it would add one: telling it
# builds a sorted CIMultiDict and copies the headers, per request (aiodirect._skip_auto).
@pytest.fixture
def skips_told(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    import aiohttp

    told: list[object] = []
    original = aiohttp.ClientRequest.update_auto_headers

    def recording(self: aiohttp.ClientRequest, skip_auto_headers: object) -> None:
        told.append(skip_auto_headers)
        original(self, skip_auto_headers)  # type: ignore[arg-type]

    monkeypatch.setattr(aiohttp.ClientRequest, "update_auto_headers", recording)
    yield told


def _headers_sent(server: LoopbackServer, backend: Backend, method: str) -> dict[str, str]:
    target = f"/headers?{method}"
    settings = Settings(backend=backend, request=RequestSettings(method=method))
    results = asyncio.run(collect([server.url(target)], settings))
    assert results[0].status == 200
    return server.stats.headers_seen[target]


def test_a_plain_request_tells_aiohttp_nothing_to_skip(fresh_server: LoopbackServer, skips_told: list[object]) -> None:
    urls = [fresh_server.url(f"/ok/{n}") for n in range(20)]
    results = asyncio.run(collect(urls, Settings(backend=Backend.aiohttp, concurrency=4)))
    assert [r.ok for r in results] == [True] * 20
    assert skips_told == [None] * 20


# (Not DELETE: aiohttp sends it with Content-Length: 0, httpx without, before this change too.)
@pytest.mark.parametrize("method", ["GET", "OPTIONS", "POST", "PUT", "PATCH"])
def test_the_headers_sent_are_the_same_on_both_backends(fresh_server: LoopbackServer, method: str) -> None:
    sent = {backend: _headers_sent(fresh_server, backend, method) for backend in (Backend.aiohttp, Backend.httpx)}
    assert sent[Backend.aiohttp] == sent[Backend.httpx]
    assert {"accept", "accept-encoding", "user-agent", "host"} <= set(sent[Backend.aiohttp])
    assert "content-type" not in sent[Backend.aiohttp]  # aiohttp would add one to a POST, PUT, PATCH


# The snippet: sanitise looked at the whole body's text (str.isprintable, about 22 instructions a
# character) before seeing it was longer than the snippet; it reads a window a little longer than
# the snippet now, whatever the body's length.
class _CountingText(str):
    """A text that records the length of each ``isprintable`` scan of it (slices are plain str)."""

    scans: list[int]

    def isprintable(self) -> bool:
        self.scans.append(len(self))
        return super().isprintable()


def test_the_snippet_does_not_scan_the_whole_body() -> None:
    from fetchcli.text import sanitise

    body = _CountingText("x" * 100_000)
    body.scans = []
    assert sanitise(body, 80) == "x" * 80
    assert body.scans == []  # the window (96 characters, a plain str) is scanned, not the body
    short = _CountingText("a reason phrase")
    short.scans = []
    assert sanitise(short, 80) == "a reason phrase"
    assert short.scans == [15]  # a text within the length is still checked in one scan


# The run's settings are frozen dataclasses, hashed field by field each time; a record asked for
# the run's redactor through an lru_cache keyed on RequestSettings (about 1,500 instructions a
# URL). The redactor is kept for the settings object now: no settings are hashed per URL.
@pytest.fixture
def settings_hashed(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    import dataclasses

    from fetchcli import settings as settings_module

    counts: dict[str, int] = {}
    for name, kind in vars(settings_module).items():
        if isinstance(kind, type) and dataclasses.is_dataclass(kind) and kind.__module__ == settings_module.__name__:
            original = kind.__hash__
            if original is None:
                continue

            def counting(self: object, _original: Callable[[object], int] = original, _name: str = name) -> int:
                counts[_name] = counts.get(_name, 0) + 1
                return _original(self)

            monkeypatch.setattr(kind, "__hash__", counting)
    yield counts


def test_no_settings_are_hashed_per_url(
    fresh_server: LoopbackServer, backend: Backend, settings_hashed: dict[str, int]
) -> None:
    _hundred_urls(fresh_server, backend)
    assert sum(settings_hashed.values()) <= 5, settings_hashed  # before: RequestSettings 100 times


# A JSON Lines record was its dict (FetchResult.to_dict) given to json.dumps, which escaped its 35
# keys again each time: 124,000 instructions a record. It is written field by field now
# (output/render/jsonline.py), the same text, without the dict.
@pytest.fixture
def dicts_built(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """How many records' dicts were built (``FetchResult.to_dict``)."""
    yield _calls_counted(monkeypatch, FetchResult, "to_dict")


def test_the_sinks_write_a_record_without_its_dict(dicts_built: list[int]) -> None:
    results = [
        FetchResult(index=n, url=f"http://h/{n}", ok=True, status=200, timing=Timing(None, 1.0, None, 2.5))
        for n in range(3)
    ]
    lines, array = io.StringIO(), io.StringIO()
    jsonl, json_sink = JsonLinesSink(lines), JsonArraySink(array)
    for result in results:
        jsonl.write(result)
        json_sink.write(result)
    json_sink.close(Summary())
    assert dicts_built[0] == 0
    assert [json.loads(line) for line in lines.getvalue().splitlines()] == json.loads(array.getvalue())
    assert dicts_built[0] == 0 and len(json.loads(array.getvalue())) == 3


def test_a_run_builds_no_record_dict(server: LoopbackServer, tmp_path: Path, dicts_built: list[int]) -> None:
    urls = [server.url(f"/ok/{n}") for n in range(20)]
    out = tmp_path / "out.jsonl"
    done = CliRunner().invoke(app, ["-q", "-f", "jsonl", "-o", str(out), *urls])
    assert done.exit_code == 0, done.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["ok"] for r in records] == [True] * 20
    assert dicts_built[0] == 0  # before: one a record, then json.dumps of it


# A frozen dataclass's __init__ sets each field by object.__setattr__ (about 1,200 instructions a
# field); the ones built for every URL (about 60 fields) are built by frozen.quick_builder now, at
# a plain dataclass's cost: none of their own __init__ runs on the default path.
@pytest.fixture
def frozen_inits(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    from fetchcli.engine.snippet import Body
    from fetchcli.models import UrlItem
    from fetchcli.transport.contract import WireRequest
    from fetchcli.transport.wireurl import WireURL

    counts: dict[str, int] = {}
    for kind in (FetchResult, Timing, Body, UrlItem, WireRequest, WireURL):
        original = kind.__init__

        def counting(self: object, *args: object, _original: Any = original, **kwargs: object) -> None:
            name = type(self).__name__
            counts[name] = counts.get(name, 0) + 1
            _original(self, *args, **kwargs)

        monkeypatch.setattr(kind, "__init__", counting)
    yield counts


def test_the_frozen_records_of_a_url_are_built_at_a_plain_cost(
    fresh_server: LoopbackServer, backend: Backend, frozen_inits: dict[str, int]
) -> None:
    results = _hundred_urls(fresh_server, backend)
    assert [type(r) for r in results] == [FetchResult] * 100 and type(results[0].timing) is Timing
    # Before: FetchResult, Timing, Body, UrlItem, WireRequest and WireURL 100 times each.
    assert frozen_inits == {}


# asyncio.Semaphore.locked() (3.11 on) built a generator over its empty waiter queue each time it
# was asked, five times a URL; transport/slots.Slots looks only when someone waits.
@pytest.fixture
def semaphore_scans(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    yield _calls_counted(monkeypatch, asyncio.Semaphore, "locked")


@pytest.mark.skipif(sys.version_info < (3, 11), reason="Python 3.10's locked() is one comparison: Slots keeps it")
def test_the_slots_are_not_scanned_per_url(
    fresh_server: LoopbackServer, backend: Backend, semaphore_scans: list[int]
) -> None:
    _hundred_urls(fresh_server, backend)
    assert semaphore_scans[0] <= 5  # before: 500 on aiohttp (the engine's slots and the wire's), 300 on httpx


def test_slots_answer_locked_as_asyncio_does() -> None:
    from fetchcli.transport.slots import Slots

    async def states() -> list[tuple[bool, bool]]:
        answers = []
        ours, theirs = Slots(2), asyncio.Semaphore(2)
        for step in range(6):
            answers.append((ours.locked(), theirs.locked()))
            if step < 2:  # take both slots
                await ours.acquire()
                await theirs.acquire()
            elif step == 2:  # two waiters each, one of them then cancelled
                waiting = [asyncio.ensure_future(s.acquire()) for s in (ours, theirs, ours, theirs)]
                await asyncio.sleep(0)
                waiting[2].cancel()
                waiting[3].cancel()
                await asyncio.sleep(0)
            elif step == 3:  # a slot given back: the live waiter takes it
                ours.release()
                theirs.release()
                await asyncio.sleep(0)
            else:
                ours.release()
                theirs.release()
        return answers

    answers = asyncio.run(states())
    assert all(mine == asyncio_s for mine, asyncio_s in answers), answers
    assert {mine for mine, _ in answers} == {True, False}


# Whether the run's default headers name Host was asked for every URL, by a generator over them;
# it is kept for the defaults' tuple (one all run long).
@pytest.fixture
def host_lookups(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    from fetchcli.engine import redirect

    monkeypatch.setattr(redirect, "any", any, raising=False)  # the builtin, as a name of that module
    yield _calls_counted(monkeypatch, redirect, "any")


def test_the_default_headers_are_not_looked_through_per_url(
    fresh_server: LoopbackServer, backend: Backend, host_lookups: list[int]
) -> None:
    _hundred_urls(fresh_server, backend)
    assert host_lookups[0] <= 1  # before: 100


# A record's redactor is the run's with the passwords of the URL added: for a URL without one
# (nearly all) it took a generator, a set and a copy's check for nothing; now the run's is used.
@pytest.fixture
def redactors_extended(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    from fetchcli.redact import Redactor

    yield _calls_counted(monkeypatch, Redactor, "with_secrets")


def test_a_url_without_a_password_takes_the_runs_redactor(
    fresh_server: LoopbackServer, backend: Backend, redactors_extended: list[int]
) -> None:
    _hundred_urls(fresh_server, backend)
    assert redactors_extended[0] == 0  # before: 100
