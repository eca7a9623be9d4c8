"""An empty path given to an option that writes a file is a usage error saying so: it resolved
to the working directory, and the message said "it is a directory"."""

from __future__ import annotations

import pytest

from fetchcli.cli.app import main


@pytest.mark.parametrize("option", ["-o", "--summary-json", "--metrics", "--resume"])
def test_an_empty_output_path_is_named_as_such(option: str, capsys: pytest.CaptureFixture[str]) -> None:
    status = main([option, "", "http://127.0.0.1:9/"])
    err = capsys.readouterr().err
    assert status == 2
    name = {"-o": "--output"}.get(option, option)
    assert err == f"fetchcli: error: {name} is an empty path: name a file\n"
