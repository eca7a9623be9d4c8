"""--save never replaces the run's own files (review r5a, issue 22): with ``--save .`` and
``--save-name '{path}'``, ``http://host/urls.txt`` replaced the input list being read, and
``/out.jsonl`` the ``-o`` file being written (its records lost, exit status 0), as a hard link
to either would be. Such a body goes to its ``~conflict-`` name; any other name is replaced as
before."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fetchcli.cli.app import app, main
from fetchcli.settings import Backend
from tests.test_save import Server, body_of, files_server

__all__ = ["files_server"]  # the fixture, used by name


def test_save_never_replaces_the_runs_input_or_outputs(files_server: Server, backend: Backend, tmp_path: Path) -> None:
    listing = tmp_path / "urls.txt"
    names = ["urls.txt", "out.jsonl", "sum.json", "alias.txt", "other.txt"]
    listing.write_text("".join(files_server.url(f"/{name}") + "\n" for name in names))
    text = listing.read_bytes()
    os.link(listing, tmp_path / "alias.txt")  # a hard link to the input: the same file
    (tmp_path / "other.txt").write_text("the user's, not the run's: replaced, as curl -O does\n")
    out, summary = tmp_path / "out.jsonl", tmp_path / "sum.json"
    args = ["--backend", backend.value, "--save", str(tmp_path), "--save-name", "{path}", "-i", str(listing)]
    result = CliRunner().invoke(app, [*args, "-o", str(out), "--format", "jsonl", "--summary-json", str(summary)])
    assert result.exit_code == 0, result.output
    assert listing.read_bytes() == text and (tmp_path / "alias.txt").read_bytes() == text
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == len(names)
    saved = {record["url"].rsplit("/", 1)[1]: record["saved_path"] for record in records}
    assert saved["other.txt"] == "other.txt"
    for name in names:
        assert (tmp_path / saved[name]).read_bytes() == body_of(f"/{name}")
        if name != "other.txt":
            assert "~conflict-" in saved[name]
    assert json.loads(summary.read_text())["total"] == len(names)


@pytest.mark.parametrize("where", ["certs", "certs/sub", "."])
def test_save_dir_may_not_overlap_a_folder_of_cas_read(
    tmp_path: Path, where: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A body saved there (--save-name '{path}', http://host/5ed36f99.0) would be a CA next time.
    (tmp_path / "certs").mkdir()
    save = str(tmp_path / where)
    assert main(["--capath", str(tmp_path / "certs"), "--save", save, "http://127.0.0.1:9/"]) == 2
    told = capsys.readouterr().err
    assert "--save" in told and "CA" in told and "Traceback" not in told
    assert not (tmp_path / "certs" / "sub").exists()
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "certs"))
    assert main(["--save", save, "http://127.0.0.1:9/"]) == 2
    assert "SSL_CERT_DIR" in capsys.readouterr().err


def test_save_dir_beside_a_folder_of_cas_is_fine(files_server: Server, tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    save = tmp_path / "certs-mirror"  # shares a prefix, not a folder
    result = CliRunner().invoke(app, ["--capath", str(tmp_path / "certs"), "--save", str(save), files_server.url("/a")])
    assert result.exit_code == 0, result.output
    assert (save / f"127.0.0.1_{files_server.port}" / "a").read_bytes() == body_of("/a")
