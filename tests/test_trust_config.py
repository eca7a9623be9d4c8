"""Which config file a run reads: never one in the working directory; --config FILE or
FETCHCLI_CONFIG=FILE (the user's choice), else the user's own $XDG_CONFIG_HOME/fetchcli/
config.toml, ignored with a warning when someone else could have written it; an empty value
reads none. --dry-run names the file, and a bad value names where it came from."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from fetchcli.cli.app import main
from fetchcli.cli.config import LOCAL_CONFIG_NOTE
from fetchcli.settings import Backend
from tests.helpers import fetchcli_in_clean_env
from tests.server import LoopbackServer

URL = "http://127.0.0.1:9/"


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """An XDG_CONFIG_HOME of the test's own, no FETCHCLI_* variable, run in an empty directory."""
    for name in list(os.environ):
        if name.startswith("FETCHCLI_"):
            monkeypatch.delenv(name)
    config_home = tmp_path / "config-home"
    config_home.mkdir()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_home))
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    yield config_home


def _user_config(config_home: Path, text: str, mode: int = 0o600, dir_mode: int = 0o700) -> Path:
    folder = config_home / "fetchcli"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.toml"
    path.write_text(text)
    path.chmod(mode)
    folder.chmod(dir_mode)
    return path


def _dry_run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["--dry-run", *args, URL])
    out, err = capsys.readouterr()
    return status, out, err


def _config_line(out: str) -> str:
    [line] = [line for line in out.splitlines() if line.startswith("config ")]
    return line.split(None, 1)[1]


@pytest.mark.parametrize("backend_name", [Backend.aiohttp.value, Backend.httpx.value])
def test_a_hostile_fetchcli_toml_in_the_working_directory_has_no_effect(
    server: LoopbackServer, tmp_path: Path, backend_name: str
) -> None:
    """A real run from a directory holding a fetchcli.toml that would send the Authorization
    header through a proxy of its own, with verification off, as six DELETEs, into a file."""
    hostile = tmp_path / "clone"
    hostile.mkdir()
    stolen = tmp_path / "stolen.csv"
    (hostile / "fetchcli.toml").write_text(
        "insecure = true\n"
        f'proxy = "{server.url("").rstrip("/")}"\n'  # the loopback server answers proxied requests too
        'method = "DELETE"\nretry-on = "200"\nretries = 5\n'
        f'output = "{stolen}"\nformat = "csv"\nfields = "snippet"\n'
        'header = ["X-Planted: 1"]\n'
    )
    target = f"/method?hostile-{backend_name}"
    done = fetchcli_in_clean_env(
        "--backend", backend_name, "-H", "Authorization: Bearer s3cret", server.url(target), cwd=hostile
    )
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)  # JSON Lines on stdout, not CSV into a file
    assert record["snippet"] == "GET -"  # the server saw GET (the body says the method it saw)
    assert server.stats.paths.count(target) == 1  # once, straight to the server: no retries, no proxy
    assert not [p for p in server.stats.paths if p.startswith("http") and "hostile" in p]
    assert not stolen.exists()
    assert done.stderr == f"fetchcli: note: {LOCAL_CONFIG_NOTE}\n"  # not read, and said so (never quoted)


def test_the_users_config_file_is_read_and_named_by_dry_run(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _user_config(home, "timeout = 3\nfollow-redirects = true\n")
    status, out, err = _dry_run(capsys)
    assert (status, err) == (0, "")
    assert _config_line(out) == f"{path} (your config file)"
    assert "connect 3 s" in out and "redirects followed" in out


@pytest.mark.parametrize(
    ("mode", "dir_mode", "why"),
    [
        (0o666, 0o700, "it is writable by its group and others (chmod go-w {file})"),
        (0o620, 0o700, "it is writable by its group (chmod go-w {file})"),
        (0o602, 0o700, "it is writable by others (chmod go-w {file})"),
        (0o600, 0o777, "its directory {dir} is writable by its group and others (chmod go-w {dir})"),
        (0o600, 0o770, "its directory {dir} is writable by its group (chmod go-w {dir})"),
        (0o600, 0o1777, "its directory {dir} is writable by its group and others (chmod go-w {dir})"),
    ],
)
def test_a_user_config_file_others_can_write_is_ignored_with_a_warning(
    home: Path, capsys: pytest.CaptureFixture[str], mode: int, dir_mode: int, why: str
) -> None:
    path = _user_config(home, "timeout = 3\ninsecure = true\n", mode, dir_mode)
    status, out, err = _dry_run(capsys)
    reason = why.format(file=path, dir=path.parent)
    assert err == f"fetchcli: warning: ignoring the config file {path}: {reason}\n"
    assert status == 0
    assert _config_line(out) == f"none ({path} ignored: {reason})"
    assert "connect 5 s" in out and "certificates not verified" not in out  # the defaults


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="only root can give a file away")
def test_a_user_config_file_owned_by_someone_else_is_ignored(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """As git's safe.directory: ``sudo`` keeping HOME must not run with another user's file."""
    path = _user_config(home, "insecure = true\n")
    os.chown(path, 4321, 4321)
    _, out, err = _dry_run(capsys)
    assert (
        err
        == f"fetchcli: warning: ignoring the config file {path}: it is owned by someone else (uid 4321), not by you\n"
    )
    assert "certificates not verified" not in out
    os.chown(path, 0, 0)
    os.chown(path.parent, 4321, 4321)
    _, out, err = _dry_run(capsys)
    assert "its directory" in err and "owned by someone else (uid 4321)" in err
    assert "certificates not verified" not in out


def test_a_user_config_that_is_not_a_regular_file_is_ignored(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A FIFO is not read (nor waited on)."""
    folder = home / "fetchcli"
    folder.mkdir(mode=0o700)
    os.mkfifo(folder / "config.toml", 0o600)
    status, _, err = _dry_run(capsys)
    assert status == 0
    assert err == f"fetchcli: warning: ignoring the config file {folder / 'config.toml'}: it is not a regular file\n"


def test_an_explicit_config_file_is_the_users_choice_and_replaces_their_own(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _user_config(home, "timeout = 3\n")
    chosen = tmp_path / "job.toml"
    chosen.write_text("max-time = 7\n")
    chosen.chmod(0o666)  # named by the user: read whoever can write it
    status, out, err = _dry_run(capsys, "--config", str(chosen))
    assert (status, err) == (0, "")
    assert _config_line(out) == f"{chosen} (--config)"
    assert "per URL 7 s" in out and "connect 5 s" in out  # the user's own file is not merged in
    monkeypatch.setenv("FETCHCLI_CONFIG", str(chosen))
    status, out, err = _dry_run(capsys)
    assert _config_line(out) == f"{chosen} (FETCHCLI_CONFIG)" and "per URL 7 s" in out


@pytest.mark.parametrize("how", ["--config ''", "FETCHCLI_CONFIG=''", "both"])
def test_an_empty_config_value_reads_no_config_file(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    _user_config(home, "timeout = 3\n")
    (Path.cwd() / "fetchcli.toml").write_text("timeout = 4\n")
    args = ["--config", ""] if how != "FETCHCLI_CONFIG=''" else []
    if how != "--config ''":
        monkeypatch.setenv("FETCHCLI_CONFIG", "")
    status, out, err = _dry_run(capsys, *args)
    assert (status, err) == (0, "")
    label = "--config" if args else "FETCHCLI_CONFIG"
    assert _config_line(out) == f"none ({label} is empty: no config file)"
    assert "connect 5 s" in out


@pytest.mark.parametrize("xdg", ["", "relative/dir"])
def test_an_empty_or_relative_xdg_config_home_means_home_dot_config(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], xdg: str
) -> None:
    """The XDG rule: a relative XDG_CONFIG_HOME is ignored (it would be the working directory's)."""
    user_home = tmp_path / "home"
    path = _user_config(user_home / ".config", "timeout = 3\n")
    planted = Path.cwd() / "relative" / "dir" / "fetchcli"
    planted.mkdir(parents=True, mode=0o700)
    (planted / "config.toml").write_text("timeout = 4\n")
    monkeypatch.setenv("HOME", str(user_home))
    monkeypatch.setenv("XDG_CONFIG_HOME", xdg)
    status, out, err = _dry_run(capsys)
    assert (status, err) == (0, "")
    assert _config_line(out) == f"{path} (your config file)" and "connect 3 s" in out


def test_no_config_file_is_named_none_with_the_path_looked_for(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (Path.cwd() / "fetchcli.toml").write_text("timeout = 4\n")
    status, out, err = _dry_run(capsys)
    assert (status, err) == (0, f"fetchcli: note: {LOCAL_CONFIG_NOTE}\n")
    assert _config_line(out) == f"none ({home / 'fetchcli' / 'config.toml'} does not exist)"
    assert "connect 5 s" in out


@pytest.mark.parametrize("where", ["user", "--config", "FETCHCLI_CONFIG"])
def test_a_bad_value_in_a_config_file_names_the_file_and_key(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    text = 'timeout = "5"\nheader = ["no colon"]\n'
    if where == "user":
        path, args = _user_config(home, text), []
    else:
        path = tmp_path / "job.toml"
        path.write_text(text)
        args = ["--config", str(path)] if where == "--config" else []
        if where == "FETCHCLI_CONFIG":
            monkeypatch.setenv("FETCHCLI_CONFIG", str(path))
    assert main([*args, URL]) == 2
    err = capsys.readouterr().err
    assert err == f"fetchcli: error: --header must look like 'Name: value' (from {path}: header)\n"
    path.write_text('timeout = "soon"\n')
    assert main([*args, URL]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"fetchcli: error: --timeout must be a number of seconds (0 or inf for no limit), not 'soon' (from {path}: timeout)\n"
    )
    path.write_text("bogus = 1\n")
    assert main([*args, URL]) == 2
    label = {"user": "config file", "--config": "--config", "FETCHCLI_CONFIG": "FETCHCLI_CONFIG"}[where]
    assert capsys.readouterr().err == f"fetchcli: error: {label} {path}: unknown option 'bogus'\n"


def test_a_bad_value_names_the_variable_it_came_from_and_not_the_command_line(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FETCHCLI_TIMEOUT", "soon")
    assert main([URL]) == 2
    assert capsys.readouterr().err.endswith(", not 'soon' (from FETCHCLI_TIMEOUT)\n")
    monkeypatch.setenv("FETCHCLI_HEADER", "X-A: 1\nno colon")
    assert main(["-t", "5", URL]) == 2
    assert capsys.readouterr().err == "fetchcli: error: --header must look like 'Name: value' (from FETCHCLI_HEADER)\n"
    assert main(["-t", "later", "-H", "X: 1", URL]) == 2  # the command line's own: no source added
    assert capsys.readouterr().err.endswith(", not 'later'\n")


def test_the_test_session_never_reads_the_developers_config(capsys: pytest.CaptureFixture[str]) -> None:
    """tests/conftest.py points XDG_CONFIG_HOME at an empty directory of the session's."""
    config_home = Path(os.environ["XDG_CONFIG_HOME"])
    assert "fetchcli-tests-config-" in config_home.name
    assert not (config_home / "fetchcli").exists()
    assert "FETCHCLI_CONFIG" not in os.environ
    done = fetchcli_in_clean_env("--dry-run", URL)
    assert done.returncode == 0, done.stderr
    assert f"config        none ({config_home / 'fetchcli' / 'config.toml'} does not exist)" in done.stdout


def test_a_value_of_the_wrong_kind_is_not_quoted(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A config value is described by its kind, never quoted: it may hold a proxy's password."""
    path = _user_config(home, 'proxy = ["http://alice:hunter2-secret@proxy:3128"]\n')
    assert main([URL]) == 2
    err = capsys.readouterr().err
    assert err == f"fetchcli: error: config file {path}: proxy must be text or a number, not an array\n"
    assert "hunter2" not in err


@pytest.mark.parametrize("option", ["-o", "--summary-json"])
def test_the_config_file_read_is_never_an_output(
    home: Path, server: LoopbackServer, capsys: pytest.CaptureFixture[str], option: str
) -> None:
    path = _user_config(home, "max-time = 20\n")
    before = path.read_bytes()
    requests = server.stats.requests
    assert main([option, str(path), server.url("/ok?config-as-output")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fetchcli: error: ") and "--config" in err and str(path) in err
    assert path.read_bytes() == before
    assert server.stats.requests == requests
