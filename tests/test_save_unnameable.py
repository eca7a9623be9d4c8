"""--save and a URL whose path leaves no name once made safe (``/...``, ``/%20``, ``/x/../...``):
it is saved under a hashed ``_`` and the run goes on (review r11a: naming it raised IndexError in
the engine's name claims, a traceback and no record for any URL; before the claims, that URL's
record was ``Unexpected``)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from fetchcli.engine.savename import saved_name
from tests.helpers import fetchcli_in_clean_env
from tests.server import running_server


@pytest.mark.parametrize("path", ["/...", "/%20", "/..%20", "/x/../...?q=1"])
def test_a_path_with_no_name_left_gets_a_hashed_one(path: str) -> None:
    names = saved_name("{host}/{path}", 0, f"http://127.0.0.1:8/{path.lstrip('/')}", None)
    assert names[0] == "127.0.0.1_8" and names[1].startswith("_~")
    assert saved_name("{path}", 0, f"http://127.0.0.1:8/{path.lstrip('/')}", None)[0].startswith("_~")


@pytest.mark.live
def test_a_run_with_such_a_url_saves_every_body(tmp_path: Path) -> None:
    with running_server() as server:
        urls = [server.url("/ok/a"), server.url("/..."), server.url("/%20"), server.url("/ok/b")]
        done = fetchcli_in_clean_env("--save", str(tmp_path / "d"), "-f", "jsonl", *urls)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["index"] for r in records] == [0, 1, 2, 3]
    assert all(r["ok"] and r["saved_path"] for r in records), records
    for r in records:
        body = (tmp_path / "d" / r["saved_path"]).read_bytes()
        assert hashlib.sha256(body).hexdigest() == r["sha256"]


@pytest.mark.live
def test_a_url_that_spells_another_requests_conflict_name_is_set_apart_too(tmp_path: Path) -> None:
    """Review r11a: with ``--save-name '{path}'``, a URL whose own name is the ``~conflict-`` name
    another request was set apart to (``/a~conflict-<hash>``) was saved over it, and both records
    named the one file. Conflict names are claimed too now."""
    with running_server() as server:
        port = server.url("/").split(":")[2].split("/")[0]
        first, other = server.url("/ok/a"), f"http://other.test:{port}/ok/a"
        args = ("--save-name", "{path}", "--resolve", f"other.test:{port}:127.0.0.1", "-f", "jsonl")
        learn = fetchcli_in_clean_env("--save", str(tmp_path / "learn"), *args, first, other)
        conflict = [json.loads(line) for line in learn.stdout.splitlines()][1]["saved_path"]
        assert "~conflict-" in conflict, learn.stdout
        spelled = server.url("/" + conflict)  # its own name is the other's conflict name
        done = fetchcli_in_clean_env("--save", str(tmp_path / "d"), *args, first, other, spelled)
    records = [json.loads(line) for line in done.stdout.splitlines()]
    paths = [r["saved_path"] for r in records]
    assert len(set(paths)) == 3 and None not in paths, paths
    for r in records:
        assert hashlib.sha256((tmp_path / "d" / r["saved_path"]).read_bytes()).hexdigest() == r["sha256"]


@pytest.mark.live
def test_a_url_left_out_by_resume_claims_its_conflict_name_too(tmp_path: Path) -> None:
    """Review r12a: a URL ``--resume`` (or another ``--shard``) leaves out claimed its name but
    not the conflict name it was set apart to, so a URL spelling that name was saved over it."""
    with running_server() as server:
        port = server.url("/").split(":")[2].split("/")[0]
        hosts = [f"http://h{n}.test:{port}/ok/x" for n in range(2)]
        resolve = [arg for n in range(3) for arg in ("--resolve", f"h{n}.test:{port}:127.0.0.1")]
        args = ("--save", str(tmp_path / "d"), "--save-name", "{path}", *resolve)
        first = fetchcli_in_clean_env(*args, "-f", "jsonl", "-o", str(tmp_path / "r.jsonl"), *hosts)
        assert first.returncode == 0, first.stderr
        conflict = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()][1]["saved_path"]
        assert "~conflict-" in conflict
        listing = tmp_path / "urls.txt"
        listing.write_text("".join(f"{url}\n" for url in [*hosts, f"http://h2.test:{port}/{conflict}"]))
        again = fetchcli_in_clean_env(*args, "--resume", str(tmp_path / "r.jsonl"), "-i", str(listing))
        assert again.returncode == 0, again.stderr
    records = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    paths = [r["saved_path"] for r in records]
    assert len(records) == 3 and len(set(paths)) == 3, paths
    for r in records:
        assert hashlib.sha256((tmp_path / "d" / r["saved_path"]).read_bytes()).hexdigest() == r["sha256"]
