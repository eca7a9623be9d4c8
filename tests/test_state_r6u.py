"""Review of issue 21 (state between runs) as a cron user: what a ``304`` after a failing run
says and stores."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from fetchcli.cli.app import main
from fetchcli.output import statefile
from fetchcli.settings import Backend
from tests.test_state import Page, Site, _run, serving


@pytest.mark.live
def test_a_304_after_a_failing_run_is_a_200_again_in_change_and_state(backend: Backend, tmp_path: Path) -> None:
    site = Site(pages={"/p": Page(etag='"v1"')})
    state = tmp_path / "state.db"
    with serving(site) as base:
        args = ["--backend", backend.value, "--state", str(state), "--conditional", base + "/p"]
        assert _run(*args)[0] == 0
        site.pages["/p"].status = 503  # down for a run (the server sends no 304 then)
        code, down, _ = _run(*args)
        assert code == 1 and down[0]["change"]["transition"] == "down"
        site.pages["/p"].status = 200  # back, unchanged: a 304
        code, up, _ = _run(*args)
        assert code == 0 and up[0]["status"] == 304 and up[0]["not_modified"] is True
        # The page came back: its status is no longer the 503's, and the change says so.
        assert up[0]["change"] == {"kind": "changed", "fields": ["ok", "status"],
                                   "previous": {"ok": False, "status": 503}, "transition": "up"}  # fmt: skip
        with sqlite3.connect(state) as db:
            assert db.execute("SELECT ok, status FROM urls").fetchall() == [(1, 200)]  # not (1, 503)
        code, again, _ = _run(*args)
        assert code == 0 and again[0]["change"]["kind"] == "same"


def test_a_state_file_in_a_missing_folder_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The README's crontab names ~/.cache/fetchcli/site.db: on a new machine that folder is not there.
    state = tmp_path / "nodir" / "site.db"
    code = main(["-q", "--state", str(state), "http://127.0.0.1:9/"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert f"its folder '{tmp_path / 'nodir'}' does not exist" in err
    assert "unable to open database file" not in err


def test_the_readme_names_every_column_of_the_state_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "site.db"
    assert main(["-q", "--state", str(state), "--dry-run", "http://127.0.0.1:9/"]) == 0
    capsys.readouterr()
    statefile.StateStore.open(str(state)).close()
    with sqlite3.connect(state) as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(urls)")]
        readme = (Path(__file__).parent.parent / "README.md").read_text()
        start = readme.index("The file is yours to read")
        paragraph = readme[start : readme.index("```sh", start)]
        named = re.findall(r"`([a-z_0-9]+)`", paragraph)
        assert [name for name in named if name in columns] == columns  # each, in the table's order
        query = re.search(r'sqlite3 -readonly \S+ "(.+)"', readme[start:])
        assert query is not None and db.execute(query.group(1)).fetchall() == []


def test_dry_run_says_what_fail_after_weighs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def plan(*extra: str) -> dict[str, str]:
        args = ["--dry-run", "--state", str(tmp_path / "site.db"), "--fail-after", "3", *extra, "http://127.0.0.1:9/"]
        assert main(args) == 0
        return {line[:14].strip(): line[14:] for line in capsys.readouterr().out.splitlines()}

    first = plan()
    assert "a URL fails the run once it has failed 3 runs in a row" in first["state"]
    # Not "any URL that is not ok": a URL failing its first run does not make the exit status 1.
    assert first["max failures"].startswith("0: any URL that has failed 3 runs in a row: exit 1")
    assert plan("--max-failures", "2")["max failures"].startswith("2: exit 0 while at most 2 URLs have failed 3 runs")


@pytest.mark.parametrize("dry_run", [[], ["--dry-run"]])
def test_all_ips_with_state_is_a_usage_error(
    dry_run: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # One row per URL: with two addresses, one dead, each run said "down" then "up" for it and
    # its failures in a row went 1, 0, 1, 0 (--fail-after never reached).
    site = Site(pages={"/p": Page()})
    state = tmp_path / "site.db"
    with serving(site) as base:
        port = base.rsplit(":", 1)[1]
        args = ["--all-ips", "--resolve", f"site.test:{port}:127.0.0.1,127.0.0.2", "--state", str(state)]
        code = main([*dry_run, *args, f"http://site.test:{port}/p"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--all-ips" in err and "--state" in err
    assert site.requests == 0 and not state.exists()


@pytest.mark.live
def test_a_url_given_twice_fails_once_a_run(backend: Backend, tmp_path: Path) -> None:
    # consecutive_failures counts runs: a URL listed twice went 1, 2 then 3, 4 and --fail-after 3
    # made the second run exit 1.
    site = Site(pages={"/down": Page(status=500), "/fine": Page()})
    state = tmp_path / "state.db"
    with serving(site) as base:
        urls = [base + "/down", base + "/fine", base + "/down", base + "/fine"]
        args = ["--backend", backend.value, "--state", str(state), "--fail-after", "3", *urls]
        runs = [_run(*args) for _ in range(3)]
    assert [code for code, _, _ in runs] == [0, 0, 1]
    assert [[r["consecutive_failures"] for r in records] for _, records, _ in runs] == [
        [1, 0, 1, 0],
        [2, 0, 2, 0],
        [3, 0, 3, 0],
    ]
    with sqlite3.connect(state) as db:
        assert db.execute("SELECT consecutive_failures FROM urls WHERE NOT ok").fetchall() == [(3,)]
