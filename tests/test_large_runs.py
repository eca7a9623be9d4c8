"""Large runs: --shard (by a stable hash, as separate processes), --unique, and --resume that
survives kill -9 (torn lines, edited inputs, --resume-failed)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from fetchcli.engine.run import fetch
from fetchcli.engine.selection import Hash64Set, Selection, parse_shard, url_hash
from fetchcli.input.resume import ResumeFile
from fetchcli.settings import Settings, SettingsError
from fetchcli.urls import iter_items
from tests.server import LoopbackServer

FETCHCLI = [sys.executable, "-m", "fetchcli"]


def test_the_url_hash_is_the_same_everywhere() -> None:
    """BLAKE2b, not Python's salted hash(): pinned, so a change would split lists differently."""
    assert url_hash("https://example.com/") == 1493557592560457051
    probe = subprocess.run(
        [sys.executable, "-c", "from fetchcli.engine.selection import url_hash; print(url_hash('https://example.com/'))"],
        capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "123"}, check=True,
    )  # fmt: skip
    assert probe.stdout.strip() == "1493557592560457051"


def test_hash64set_keeps_every_member_in_8_to_16_bytes() -> None:
    members = {random.getrandbits(64) for _ in range(100_000)} | {0}
    kept = Hash64Set()
    assert all(kept.add(m) for m in members)
    assert not any(kept.add(m) for m in members)
    assert all(m in kept for m in members)
    assert sum(random.getrandbits(64) in kept for _ in range(10_000)) == 0
    assert kept.count == len(members) and kept.nbytes <= 32 * len(members)


@pytest.mark.parametrize(
    ("text", "env", "shard"),
    [
        ("2/8", {}, (2, 8)),
        ("auto", {"JOB_COMPLETION_INDEX": "0", "FETCHCLI_SHARDS": "4"}, (1, 4)),
        ("auto/6", {"JOB_COMPLETION_INDEX": "5"}, (6, 6)),
        ("auto", {"SLURM_ARRAY_TASK_ID": "12", "SLURM_ARRAY_TASK_MIN": "10", "SLURM_ARRAY_TASK_COUNT": "5"}, (3, 5)),
        ("auto", {"AWS_BATCH_JOB_ARRAY_INDEX": "3", "FETCHCLI_SHARDS": "10"}, (4, 10)),
    ],
)
def test_shard_from_the_flag_or_the_batch_system(text: str, env: dict[str, str], shard: tuple[int, int]) -> None:
    parsed = parse_shard(text, env)
    assert (parsed.k, parsed.n) == shard


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("auto", {}, "auto needs a batch system's task index"),
        ("auto", {"JOB_COMPLETION_INDEX": "1"}, "auto needs the number of shards"),
        ("5/4", {}, "must be K/N with 1 <= K <= N, not 5/4"),
        ("0/4", {}, "must be K/N with 1 <= K <= N, not 0/4"),
        ("3", {}, "must be K/N (e.g. 2/8) or auto, not '3'"),
        ("a/b", {}, "K must be a whole number, not 'a'"),
    ],
)
def test_a_bad_shard_is_a_usage_error(text: str, env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_shard(text, env)


@pytest.mark.slow
def test_four_shards_as_processes_cover_the_input_once(fresh_server: LoopbackServer, tmp_path: Path) -> None:
    listing = tmp_path / "urls.txt"
    urls = [fresh_server.url(f"/ok/{n}") for n in range(2000)]
    listing.write_text("# a comment, then 2,000 URLs\n" + "\n".join(urls) + "\n")
    procs = [
        subprocess.Popen([*FETCHCLI, "--shard", f"{k}/4", "-i", str(listing)], stdout=subprocess.PIPE, text=True)
        for k in range(1, 5)
    ]
    outputs = [proc.communicate(timeout=120)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0, 0]
    shards = [[json.loads(line) for line in out.splitlines()] for out in outputs]
    assert all(300 < len(records) < 700 for records in shards)  # a fair split
    everything = sorted((r["index"], r["url"]) for records in shards for r in records)
    assert everything == list(enumerate(urls))  # each URL once, with its index in the whole input
    assert fresh_server.stats.requests == 2000
    for records in shards:  # each shard's output is in input order: `sort -m` merges them
        assert [r["index"] for r in records] == sorted(r["index"] for r in records)


def test_shard_and_unique_from_python(server: LoopbackServer) -> None:
    urls = [server.url(f"/ok/{n % 10}") for n in range(30)]

    async def collect(settings: Settings) -> list[int]:
        return [r.index async for r in fetch(urls, settings)]

    unique = asyncio.run(collect(Settings(unique=True)))
    assert unique == list(range(10))  # the first of each, at its own index
    halves = [asyncio.run(collect(Settings(shard=(k, 2)))) for k in (1, 2)]
    assert sorted(halves[0] + halves[1]) == list(range(30)) and not set(halves[0]) & set(halves[1])


def test_unique_on_the_command_line(server: LoopbackServer) -> None:
    done = subprocess.run(
        [*FETCHCLI, "--unique", "--summary", server.url("/ok/u"), server.url("/ok/v"), server.url("/ok/u"), "ftp://x", "ftp://x"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert [json.loads(line)["index"] for line in done.stdout.splitlines()] == [0, 1, 3]
    assert "2 repeated URLs left out (--unique)" in done.stderr


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.slow
def test_resume_after_kill_9_at_random_points(fresh_server: LoopbackServer, tmp_path: Path) -> None:
    listing, results = tmp_path / "urls.txt", tmp_path / "results.jsonl"
    count = 400
    listing.write_text("\n".join(fresh_server.url(f"/slow/10?n={n}") for n in range(count)) + "\n")
    command = [*FETCHCLI, "--resume", str(results), "-c", "8", "-i", str(listing)]
    rng = random.Random(7)
    for _ in range(4):
        before = len(results.read_text().splitlines()) if results.exists() else 0
        target = before + rng.randint(5, 60)
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        limit = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < limit:
            if results.exists() and results.read_bytes().count(b"\n") >= target:
                break
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert 0 < len(results.read_text().splitlines()) < count  # the kills came in the middle of the run
    with results.open("ab") as f:  # and a torn last line, as a kill in the middle of a write leaves
        f.write(b'{"schema_version": 1, "index": 39')
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    records = _lines(results)  # every line whole JSON: the torn one was cut off
    assert sorted(r["index"] for r in records) == list(range(count))  # each URL exactly once
    assert all(r["ok"] for r in records)


def test_resume_refuses_an_edited_input(server: LoopbackServer, tmp_path: Path) -> None:
    results = tmp_path / "results.jsonl"
    first = subprocess.run([*FETCHCLI, "--resume", str(results), server.url("/ok/a"), server.url("/ok/b")],
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert first.returncode == 0 and len(_lines(results)) == 2
    again = subprocess.run([*FETCHCLI, "--resume", str(results), server.url("/ok/a"), server.url("/ok/b")],
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert again.returncode == 0 and len(_lines(results)) == 2  # nothing left to do
    edited = subprocess.run([*FETCHCLI, "--resume", str(results), server.url("/ok/a"), server.url("/ok/c")],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert edited.returncode == 2
    assert edited.stderr.startswith(f"fetchcli: error: --resume {results} records another URL at index 1")
    shorter = subprocess.run([*FETCHCLI, "--resume", str(results), server.url("/ok/a")],
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert shorter.returncode == 2 and "line 2 of" in shorter.stderr  # the line of the URL the input lost
    assert "records index 1, but the input has 1 URL: the input changed since" in shorter.stderr
    assert len(_lines(results)) == 2  # untouched


def test_resume_failed_redoes_failures_and_keeps_one_record_per_url(server: LoopbackServer, tmp_path: Path) -> None:
    results = tmp_path / "results.jsonl"
    urls = [
        server.url("/ok/f0"),
        server.url("/fail/resume-f1/1"),
        server.url("/ok/f2"),
        server.url("/fail/resume-f3/1"),
    ]
    first = subprocess.run([*FETCHCLI, "--resume", str(results), *urls], capture_output=True, text=True, timeout=60)
    assert first.returncode == 1 and [r["ok"] for r in _lines(results)] == [True, False, True, False]
    plain = subprocess.run([*FETCHCLI, "--resume", str(results), *urls], capture_output=True, text=True, timeout=60)
    assert plain.returncode == 1 and len(_lines(results)) == 4  # recorded, failed or not: left alone, and counted
    redo = subprocess.run(
        [*FETCHCLI, "--resume", str(results), "--resume-failed", "--summary", *urls],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert redo.returncode == 0, redo.stderr
    assert "4 URLs: 4 ok" in redo.stderr and "2 done before (--resume)" in redo.stderr  # every URL counts
    records = _lines(results)
    assert [(r["index"], r["ok"]) for r in records] == [(0, True), (1, True), (2, True), (3, True)]  # input order


def test_resume_fetches_what_a_stop_left_cancelled_or_not_started(server: LoopbackServer, tmp_path: Path) -> None:
    results = tmp_path / "results.jsonl"
    urls = [server.url("/ok/s0"), server.url("/slow/2500?n=s1"), server.url("/ok/s2")]
    stopped = subprocess.run([*FETCHCLI, "--resume", str(results), "-c", "1", "--deadline", "1", *urls],
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert stopped.returncode == 1
    assert [(r["error"] or {}).get("type") for r in _lines(results)] == [None, "Cancelled", "NotStarted"]
    resumed = subprocess.run([*FETCHCLI, "--resume", str(results), "--summary", *urls],
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert "3 URLs: 3 ok" in resumed.stderr and "1 done before (--resume)" in resumed.stderr  # every URL counts
    records = _lines(results)  # compacted: one record per URL, each fetched to its end
    assert sorted((r["index"], r["ok"]) for r in records) == [(0, True), (1, True), (2, True)]


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["--resume", "{f}", "-f", "csv", "http://127.0.0.1:9/"], None, "--resume writes whole JSON Lines records"),
        (["--resume", "{f}", "-o", "{f}", "http://127.0.0.1:9/"], None, "--resume appends to its own FILE"),
        (["--resume", "{f}"], "http://127.0.0.1:9/\n", "--resume needs the URLs as arguments or -i FILE"),
        (["--resume-failed", "http://127.0.0.1:9/"], None, "--resume-failed goes with --resume FILE"),
    ],
)
def test_resume_usage_errors(tmp_path: Path, args: list[str], stdin: str | None, message: str) -> None:
    path = str(tmp_path / "r.jsonl")
    done = subprocess.run([*FETCHCLI, *(a.format(f=path) for a in args)], input=stdin or "",
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2 and done.stderr.startswith(f"fetchcli: error: {message}"), done.stderr


def test_a_broken_line_in_the_middle_is_not_taken_for_a_torn_one(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(
        '{"index": 0, "url": "http://a/", "ok": true}\nnot json\n{"index": 1, "url": "http://b/", "ok": true}\n'
    )
    with pytest.raises(SettingsError, match=r"line 2 of .* is not a fetchcli record"):
        ResumeFile.load(str(path))


def test_selection_with_a_resume_set_from_python(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"index": 1, "url": "https://b/", "ok": true}\n')
    resume = ResumeFile.load(str(path))
    items = list(iter_items(["https://a/", "https://b/", "https://c/"]))
    resume.check(items)
    selection = Selection(already_done=resume.done)
    assert [item.index for item in items if selection(item)] == [0, 2] and selection.resumed == 1


def test_the_docs_shard_example_from_python(fresh_server: LoopbackServer, tmp_path: Path) -> None:
    """docs/python.md's "one shard in a Dask or Ray task" example, run as written, twice per shard
    (the second run finds everything done), for both shards of a list."""
    page = (Path(__file__).resolve().parent.parent / "docs" / "python.md").read_text()
    code = page.split("One shard of a list, in a Dask or Ray task", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/python.md", "exec"), namespace)
    urls = [fresh_server.url(f"/ok/dask-{n}") for n in range(50)]
    for k in (1, 2):
        for _ in range(2):
            namespace["fetch_shard"](urls, k, 2, str(tmp_path / f"shard-{k}.jsonl"))
    records = [r for k in (1, 2) for r in _lines(tmp_path / f"shard-{k}.jsonl")]
    assert sorted((r["index"], r["url"]) for r in records) == list(enumerate(urls))
    assert fresh_server.stats.requests == 50  # the second run of each shard fetched nothing
