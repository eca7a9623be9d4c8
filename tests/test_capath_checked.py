"""A ``--capath`` that cannot be used is a usage error before anything is sent, as a ``--cacert``
that cannot be used is (docs/options.md, TLS): OpenSSL takes a folder that does not exist, or a
file, without a word, and every https URL then failed with ``CertificateError``."""

from __future__ import annotations

from pathlib import Path

import pytest

from fetchcli.cli.app import main


@pytest.mark.parametrize("kind", ["missing", "a file"])
def test_a_capath_that_is_no_folder_is_a_usage_error(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capath = tmp_path / "certs"
    if kind == "a file":
        capath.write_text("not a folder\n")
    status = main(["--capath", str(capath), "https://127.0.0.1:9/", "http://127.0.0.1:9/"])
    out, err = capsys.readouterr()
    assert status == 2, out + err
    assert err == f"fetchcli: error: --capath cannot be used: '{capath}' is not a folder\n"
    assert out == ""


def test_a_capath_folder_is_taken(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["--capath", str(tmp_path), "--dry-run", "https://127.0.0.1:9/"])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert f"verified against {tmp_path}" in out
