"""A database that is not fetchcli's state is refused from its header, before SQLite opens it:
no ``-wal`` or ``-shm`` file is left beside another application's WAL database (review r6a)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from fetchcli.cli.app import main


def _foreign_wal_database(path: Path, application: int) -> None:
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA application_id = {application}")
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("CREATE TABLE notes (text TEXT)")
    db.execute("INSERT INTO notes VALUES ('mine')")
    db.commit()
    db.close()  # the last connection: SQLite removes its -wal and -shm


@pytest.mark.parametrize("application", [0, 0x1234])
@pytest.mark.parametrize("dry_run", [[], ["--dry-run"]])
def test_another_apps_wal_database_is_refused_and_left_alone(
    application: int, dry_run: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "app.db"
    _foreign_wal_database(path, application)
    before = sorted(p.name for p in tmp_path.iterdir()), path.read_bytes()
    assert before[0] == ["app.db"]
    assert main([*dry_run, "--state", str(path), "http://127.0.0.1:9/"]) == 2
    assert "is an SQLite database but not a fetchcli state file" in capsys.readouterr().err
    assert (sorted(p.name for p in tmp_path.iterdir()), path.read_bytes()) == before


def test_a_file_that_is_not_sqlite_is_refused_from_its_header(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"SQLite format 2, honestly" + b"x" * 200)
    assert main(["--state", str(path), "http://127.0.0.1:9/"]) == 2
    assert "is not a fetchcli state file (not an SQLite database)" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
