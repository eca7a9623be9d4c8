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
