"""--save: two requests of one run that map to one name (``/a/`` and ``/a/index.html``, ``//x``
and ``/x``, a URL with and without a user name, a ``{path}`` template over two hosts, two JSON
Lines lines of one URL with different bodies) each keep their body in a file of their own: the
first under the name, a later one under its ``~conflict-`` name (the run wrote the later body over
the earlier, and both records named the one file). The same request twice is two files too (which
body the one file kept depended on which finished last), but with ``{sha256}`` in the name. Real
loopback server, real processes (with ``--workers 2`` too: the names are claimed in the parent)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from fetchcli.engine import run as engine_run
from fetchcli.engine import savename
from fetchcli.engine.savedir import folds_case
from fetchcli.engine.savename import NameClaims, conflict_name, url_digest
from fetchcli.models import UrlItem, UrlRequest
from fetchcli.settings import BodySettings, Settings
from tests.helpers import fetchcli_in_clean_env, run, serving_handler


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, sent: bytes = b"") -> None:
        # What was asked, so that every request's body differs: its path, Host, auth and body.
        body = f"{self.path} {self.headers.get('Host')} {self.headers.get('Authorization')} ".encode() + sent
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer(self.rfile.read(int(self.headers.get("Content-Length", "0"))))


@pytest.fixture
def port() -> Iterator[int]:
    with serving_handler(_Handler) as port:
        yield port


def _saved(save: Path, *args: str) -> list[dict[str, Any]]:
    done = fetchcli_in_clean_env("--save", str(save), "-f", "jsonl", "-c", "4", *args)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    for record in records:  # each file holds what its record says it does
        assert hashlib.sha256((save / record["saved_path"]).read_bytes()).hexdigest() == record["sha256"]
    return records


@pytest.mark.live
@pytest.mark.parametrize("workers", ["1", "2"])
def test_urls_sharing_a_name_each_keep_their_body(port: int, tmp_path: Path, workers: str) -> None:
    base = f"http://127.0.0.1:{port}"
    urls = [f"{base}/a/", f"{base}/a/index.html", f"{base}//x", f"{base}/x", f"http://u:p@127.0.0.1:{port}/y"]
    urls += [f"{base}/y", f"{base}/a/", f"{base}/y"]
    records = _saved(tmp_path / "save", "--workers", workers, *urls)
    paths = [r["saved_path"] for r in records]
    host = f"127.0.0.1_{port}"
    assert paths[:3] == [f"{host}/a/index.html", paths[1], f"{host}/x"]  # the first to ask has the name
    assert len(set(paths[:6])) == 6 and all("~conflict-" in p for p in (paths[1], paths[3], paths[5]))
    assert len(set(paths)) == 8  # the same URL again: a file of its own, holding its own body


@pytest.mark.live
def test_a_template_without_host_keeps_each_hosts_body(port: int, tmp_path: Path) -> None:
    urls = [f"http://127.0.0.1:{port}/page", f"http://localhost:{port}/page"]
    records = _saved(tmp_path / "save", "--save-name", "{path}", *urls)
    assert records[0]["saved_path"] == "page" and "~conflict-" in records[1]["saved_path"]


@pytest.mark.live
def test_json_lines_of_one_url_with_other_bodies_keep_their_own(port: int, tmp_path: Path) -> None:
    lines = tmp_path / "in.jsonl"
    url = f"http://127.0.0.1:{port}/api"
    lines.write_text("".join(json.dumps({"url": url, "data": data}) + "\n" for data in ("one", "two", "one")))
    records = _saved(tmp_path / "save", "-i", str(lines))
    paths = [r["saved_path"] for r in records]
    assert len(set(paths)) == 3 and "~conflict-" in paths[2]  # the same request again: its own file
    assert (tmp_path / "save" / paths[1]).read_bytes().endswith(b"two")


def test_claims_are_by_request_in_the_order_asked() -> None:
    claims = NameClaims("{host}/{path}")
    first, other = UrlItem(0, "", "http://h/a/"), UrlItem(1, "", "http://h/a/index.html")
    posted = UrlItem(2, "", "http://h/a/", request=UrlRequest(method="POST", headers=(), body=b"x"))
    assert [claims.apart(i).save_apart for i in (first, other, posted, other, first)] == [
        False,
        True,
        True,
        True,
        True,
    ]
    by_body = NameClaims("{sha256}")  # a name from the body: one name, the same bytes
    assert [by_body.apart(i).save_apart for i in (first, other, first, posted)] == [False, False, False, True]


@pytest.mark.live
def test_a_resumed_run_keeps_the_names_of_urls_done_before(port: int, tmp_path: Path) -> None:
    save, out = tmp_path / "save", tmp_path / "out.jsonl"
    urls = [f"http://127.0.0.1:{port}/a/", f"http://127.0.0.1:{port}/a/index.html"]
    first = fetchcli_in_clean_env("--save", str(save), "-o", str(out), *urls)
    assert first.returncode == 0, first.stderr
    done = [json.loads(line) for line in out.read_text().splitlines()]
    kept = (save / done[0]["saved_path"]).read_bytes()
    (save / done[1]["saved_path"]).unlink()  # fetched again by --resume
    again = fetchcli_in_clean_env("--save", str(save), "--resume", str(out), *urls)
    assert again.returncode == 0, again.stderr
    final = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["saved_path"] for r in final] == [r["saved_path"] for r in done]
    assert (save / done[0]["saved_path"]).read_bytes() == kept  # the URL resumed did not take its name


def test_a_conflict_name_keeps_the_last_segments_extension_only() -> None:
    url = "http://127.0.0.1:8080/a/b.css"
    assert conflict_name(["127.0.0.1_8080", "x"], url) == f"127.0.0.1_8080__x~conflict-{url_digest(url)}"
    assert conflict_name(["h", "a", "b.css"], url) == f"h__a__b~conflict-{url_digest(url)}.css"


@pytest.mark.live
def test_two_requests_blocked_from_one_name_get_two_conflict_names(port: int, tmp_path: Path) -> None:
    save, lines = tmp_path / "save", tmp_path / "in.jsonl"
    (save / f"127.0.0.1_{port}").mkdir(parents=True)
    (save / f"127.0.0.1_{port}" / "blocked").write_bytes(b"a file where a directory goes")
    url = f"http://127.0.0.1:{port}/blocked/x"
    lines.write_text(json.dumps({"url": url, "data": "posted"}) + "\n" + json.dumps({"url": url}) + "\n")
    records = _saved(save, "-i", str(lines))
    assert len({r["saved_path"] for r in records}) == 2 and all("~conflict-" in r["saved_path"] for r in records)


def test_names_differing_by_case_only_are_apart_where_the_filesystem_folds_case(tmp_path: Path) -> None:
    upper, lower = UrlItem(0, "", "http://h/README"), UrlItem(1, "", "http://h/readme")
    folding, exact = NameClaims("{host}/{path}", fold_case=True), NameClaims("{host}/{path}")
    assert [folding.apart(i).save_apart for i in (upper, lower)] == [False, True]  # macOS: one file
    assert [exact.apart(i).save_apart for i in (upper, lower)] == [False, False]  # Linux: two files
    assert not folds_case(str(tmp_path)) and list(tmp_path.iterdir()) == []  # this one does not; no probe left
    assert not folds_case(str(tmp_path / "not-made"))


@pytest.mark.live
def test_the_engine_asks_dir_whether_it_folds_case(port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def folding(path: str) -> bool:
        asked.append(path)
        return True

    monkeypatch.setattr(engine_run, "folds_case", folding)
    settings = Settings(body=BodySettings(save_dir=str(tmp_path)))
    records = run([f"http://127.0.0.1:{port}/README", f"http://127.0.0.1:{port}/readme"], settings)
    assert asked == [str(tmp_path)]
    assert records[0].saved_path == f"127.0.0.1_{port}/README" and "~conflict-" in str(records[1].saved_path)


def test_a_url_the_request_refuses_claims_nothing_and_raises_nothing() -> None:
    refused = UrlItem(0, "", "http://h/a\ud800")  # the engine must not fail: the URL's record says why
    assert NameClaims("{host}/{path}").apart(refused) is refused


@pytest.mark.parametrize(
    ("segment", "named"),
    [
        ("page.html", ("page.html", False)),
        ("a~b-c_d(1)", ("a~b-c_d(1)", False)),
        (".x", (".x", False)),
        ("a.", ("a", True)),
        ("CON", ("_CON", True)),
        ("con.txt", ("_con.txt", True)),
        ("COM1.log", ("_COM1.log", True)),
        (".fetchcli-1-a.part", ("_.fetchcli-1-a.part", True)),
        ("x" * 201, ("x" * 200, True)),
        ("a b", ("a b", False)),
    ],
)
def test_plain_segments_are_named_as_the_rules_say(segment: str, named: tuple[str, bool]) -> None:
    assert savename._component(segment) == named  # the plain-ASCII shortcut gives what the rules give


@pytest.mark.live
def test_shards_saving_into_one_dir_agree_on_who_has_a_name(port: int, tmp_path: Path) -> None:
    # Each shard reads the whole input: a URL another shard fetches still claims its name, so the
    # first in the whole input has it whichever shard fetches it (each shard saved over the other's).
    base = f"http://127.0.0.1:{port}"
    listed = tmp_path / "in.txt"
    listed.write_text("".join(f"{base}/s{i}/\n{base}/s{i}/index.html\n" for i in range(1, 7)))
    save = tmp_path / "save"
    records: list[dict[str, Any]] = []
    for shard in ("1/2", "2/2"):
        done = fetchcli_in_clean_env("--save", str(save), "--shard", shard, "-f", "jsonl", "-i", str(listed))
        assert done.returncode == 0, done.stderr
        records += [json.loads(line) for line in done.stdout.splitlines()]
    assert len(records) == 12 and len({r["saved_path"] for r in records}) == 12
    for record in records:  # what the README's sha256sum -c recipe checks, over both outputs
        assert hashlib.sha256((save / record["saved_path"]).read_bytes()).hexdigest() == record["sha256"]
        assert ("~conflict-" in record["saved_path"]) == record["url"].endswith("index.html")


class _Counting(_Handler):
    asked = 0

    def do_GET(self) -> None:  # each answer differs: the how-many-th request this is
        type(self).asked += 1
        self._answer(str(type(self).asked).encode())


@pytest.mark.live
@pytest.mark.parametrize("workers", ["1", "2"])
def test_the_same_request_twice_keeps_each_body_in_a_file_of_its_own(tmp_path: Path, workers: str) -> None:
    # One file for both: whichever finished last was kept, and the other record's sha256 failed.
    with serving_handler(_Counting) as port:
        url = f"http://127.0.0.1:{port}/again"
        records = _saved(tmp_path / "save", "--workers", workers, url, url, url)
        again = _saved(tmp_path / "again", "--save-name", "{sha256}", url, url)
    paths = [r["saved_path"] for r in records]
    assert paths[0] == f"127.0.0.1_{port}/again" and len(set(paths)) == 3
    assert len({r["sha256"] for r in records}) == 3  # three bodies, each in its record's file (_saved)
    assert all("~conflict-" not in r["saved_path"] for r in again)  # a name from the body: its bytes
