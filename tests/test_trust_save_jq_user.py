"""A new user's review of ``--save`` and ``--expect-jq`` (issue 22's last features):

- ``--dry-run`` refuses a ``--save DIR`` that a run refuses (a file where DIR should be, or
  under a file), the same way (exit 2), and makes nothing;
- ``--expect-jq`` on a body read whole (``--read-all``, ``--save``) but longer than
  ``--max-body-bytes`` says how large it is and how far to raise the limit, instead of saying it
  "was cut" while the record says ``truncated`` false;
- ``--expect-jq`` with ``-X HEAD`` (with or without ``--head-fallback``, whose GET reads no body)
  can never pass: a usage error, instead of every URL failing with a message that says to raise
  ``--max-body-bytes``."""

from __future__ import annotations

import io
import json
import urllib.parse
from pathlib import Path

import pytest

from fetchcli.cli.dryrun import describe_run
from fetchcli.cli.runner import Environment, OutputOptions
from fetchcli.errortype import ErrorType
from fetchcli.settings import Backend, BodySettings, Settings, SettingsError, SuccessSettings
from fetchcli.transport.proxies import resolve_proxies
from tests.helpers import fetchcli_in_clean_env, run
from tests.server import running_server


def _dry_run(save: Path) -> int:
    env = Environment(stdin=io.BytesIO(), stdout=io.StringIO(), stderr=io.StringIO(), stdin_isatty=False,
                      stdout_isatty=False, stderr_isatty=False)  # fmt: skip
    settings = Settings(body=BodySettings(save_dir=str(save)))
    return describe_run(settings, ["http://h/"], [], resolve_proxies(None, None, {}), env, OutputOptions())


def test_dry_run_refuses_a_save_dir_that_is_a_file(tmp_path: Path) -> None:
    file = tmp_path / "afile"
    file.write_text("x")
    with pytest.raises(SettingsError) as raised:
        _dry_run(file)
    assert raised.value.option == "--save" and "is not a directory" in str(raised.value)
    with pytest.raises(SettingsError) as raised:
        _dry_run(file / "sub" / "dir")
    assert raised.value.option == "--save" and "Not a directory" in str(raised.value)
    assert file.read_text() == "x"


def test_dry_run_makes_no_save_dir_and_takes_one_to_be_made(tmp_path: Path) -> None:
    assert _dry_run(tmp_path / "new" / "dir") == 0
    assert not (tmp_path / "new").exists()
    assert _dry_run(tmp_path) == 0


@pytest.mark.live
def test_expect_jq_says_how_large_a_body_read_whole_is(backend: Backend, tmp_path: Path) -> None:
    body = json.dumps({"status": "up", "pad": "x" * 200})
    path = "/say?" + urllib.parse.urlencode({"text": body})
    size = len(body.encode())
    jq = SuccessSettings(expect_jq='.status == "up"')
    with running_server() as server:
        read_all = Settings(body=BodySettings(max_body_bytes=100, read_all=True), success=jq)
        saved = Settings(body=BodySettings(max_body_bytes=100, save_dir=str(tmp_path)), success=jq)
        cut = Settings(body=BodySettings(max_body_bytes=100), success=jq)
        results = [run([server.url(path)], s, backend=backend)[0] for s in (read_all, saved, cut)]
    whole = (
        f"--expect-jq needs the whole body: it is {size} bytes, only --max-body-bytes 100 are kept"
        f" (raise it to {size} or more)"
    )
    messages = [r.error.message if r.error is not None else None for r in results]
    assert messages == [whole, whole, "--expect-jq needs the whole body: it was cut at --max-body-bytes 100 (raise it)"]
    assert all(r.error is not None and r.error.type == ErrorType.ExpectFailed for r in results)
    assert [r.truncated for r in results] == [False, False, True]


def test_expect_jq_with_head_is_a_usage_error() -> None:
    from fetchcli.cli.options import settings_from_values

    for values in ({"method": "HEAD"}, {"method": "head", "head_fallback": True}):
        with pytest.raises(SettingsError) as raised:
            settings_from_values({**values, "expect_jq": ".ok"}, {})
        assert raised.value.option == "--expect-jq" and "-X HEAD" in str(raised.value)
    assert settings_from_values({"method": "GET", "expect_jq": ".ok"}, {}).success.expect_jq == ".ok"
    assert settings_from_values({"method": "HEAD", "expect_text": "up"}, {}).request.method == "HEAD"


@pytest.mark.live
def test_body_too_large_says_larger_than(backend: Backend, tmp_path: Path) -> None:
    path = "/say?" + urllib.parse.urlencode({"text": "x" * 300})
    settings = Settings(body=BodySettings(save_dir=str(tmp_path), max_save_bytes=100))
    with running_server() as server:
        [result] = run([server.url(path)], settings, backend=backend)
    assert result.error is not None and result.error.type == ErrorType.BodyTooLarge
    # its Content-Length says so: not read at all (a body without one is cut at the cap: test_save.py)
    assert (
        result.error.message
        == "the body is 300 bytes (Content-Length), larger than --max-save-bytes 100: not read, not saved"
    )
    assert result.saved_path is None and result.truncated


@pytest.mark.live
@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_saved_body_never_replaces_the_runs_own_files(tmp_path: Path, workers: str) -> None:
    with running_server() as server:
        listed = f"{server.url('/say?text=one')}\n{server.url('/html')}\n"
        (tmp_path / "html").write_text(listed)  # the input, named as URL 1's {path}
        by_index = fetchcli_in_clean_env(
            "--workers", workers, "--save", ".", "--save-name", "{index}", "-i", "html", "-o", "1", cwd=tmp_path
        )
        by_path = fetchcli_in_clean_env(
            "--workers", workers, "--save", ".", "--save-name", "{path}", "-i", "html", "-o", "out.jsonl", cwd=tmp_path
        )
    assert by_index.returncode == 0 and by_path.returncode == 0, by_index.stderr + by_path.stderr
    records = [json.loads(line) for line in (tmp_path / "1").read_text().splitlines()]
    assert [r["index"] for r in records] == [0, 1]  # the records, not URL 1's body saved as '1'
    assert (tmp_path / "0").read_text() == "one" and records[1]["saved_path"].startswith("1~conflict-")
    assert (tmp_path / "html").read_text() == listed  # the input, not URL 1's body saved as 'html'
    [saved] = [json.loads(line)["saved_path"] for line in (tmp_path / "out.jsonl").read_text().splitlines()][1:]
    assert saved.startswith("html~conflict-") and "<TITLE" in (tmp_path / saved).read_text()
