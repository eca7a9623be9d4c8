"""Review of issue 18, finding 11: ``-o .csv`` (a dot file named by a format's extension alone)
wrote JSON Lines into a file named ``.csv``, since ``os.path.splitext`` sees no extension in a
dot file. It is that format, for the run and for ``--dry-run`` alike; another dot file
(``.results``) still has no extension (JSON Lines)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import fetchcli_in_clean_env
from tests.server import LoopbackServer

CASES = [
    (".csv", "csv", "schema_version,"),
    (".CSV", "csv", "schema_version,"),
    (".tsv", "tsv", "schema_version\t"),
    (".json", "json", '[\n  {"schema_version"'),
    (".jsonl", "jsonl", '{"schema_version"'),
    (".ndjson", "jsonl", '{"schema_version"'),
    ("..csv", "csv", "schema_version,"),
    (".results", "jsonl", '{"schema_version"'),  # no format's name: no extension, as before
]


@pytest.mark.parametrize(("name", "fmt", "starts"), CASES, ids=[name for name, _, _ in CASES])
def test_a_dot_file_named_by_a_format_is_that_format_for_the_run_and_dry_run(
    server: LoopbackServer, tmp_path: Path, name: str, fmt: str, starts: str
) -> None:
    target = tmp_path / name
    dry = fetchcli_in_clean_env("--dry-run", "-o", str(target), server.url("/ok"))
    assert dry.returncode == 0, dry.stderr
    [line] = [line for line in dry.stdout.splitlines() if line.startswith("format ")]
    assert line.split()[1] == fmt, line  # before: jsonl (-o has no extension)
    done = fetchcli_in_clean_env("-o", str(target), server.url("/ok"))
    assert done.returncode == 0, done.stderr
    text = target.read_text()
    assert text.startswith(starts), text[:80]
    if fmt == "jsonl":
        assert json.loads(text.splitlines()[0])["ok"] is True


def test_f_still_chooses_for_a_dot_file(server: LoopbackServer, tmp_path: Path) -> None:
    target = tmp_path / ".csv"
    done = fetchcli_in_clean_env("-f", "jsonl", "-o", str(target), server.url("/ok"))
    assert done.returncode == 0, done.stderr
    assert target.read_text().startswith('{"schema_version"')
