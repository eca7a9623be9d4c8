"""The core's typed errors about settings (``SettingProblem``): each says which setting it is
about as data (``setting``) and what is wrong in the core's words (``problem``); it is still a
``SettingsError`` naming the flag, through the one kernel table ``FLAGS``, which must agree with
the CLI's option table."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest

from fetchcli.cli.options import OPTIONS
from fetchcli.settings import FLAGS, Backend, RequestSettings, SettingProblem, Settings, SettingsError


def _flag_in_option_table(setting: str) -> str:
    """The flag the CLI's option table gives for ``setting`` (a row's ``lands`` or its name);
    the argument is named by its metavar (``URL``)."""
    option = next(o for o in OPTIONS if setting in (o.lands, o.name))
    return option.metavar.removesuffix("...") if option.is_argument and option.metavar else option.long


@pytest.mark.parametrize("setting", sorted(FLAGS))
def test_the_kernel_table_names_each_setting_as_the_option_table_does(setting: str) -> None:
    assert FLAGS[setting] == _flag_in_option_table(setting)


def _shard() -> None:
    from fetchcli.engine.selection import parse_shard

    parse_shard("3", {})


def _fields() -> None:
    from fetchcli.output.render.fields import parse_fields

    parse_fields("url,nope")


def _backend() -> None:
    from fetchcli.transport.backendchoice import uses_aiohttp

    uses_aiohttp(Settings(request=RequestSettings(proxy="socks5://127.0.0.1:9"), backend=Backend.aiohttp))


def _cacert(tmp: Path) -> None:
    from fetchcli.transport.sslcontext import ssl_context

    ssl_context(RequestSettings(cacert=str(tmp / "missing.pem")))


def _cert(tmp: Path) -> None:
    from fetchcli.transport.sslcontext import ssl_context

    ssl_context(RequestSettings(client_cert=str(tmp / "missing.pem")))


def _resume(tmp: Path) -> None:
    from fetchcli.input.resume import ResumeFile

    (tmp / "r.jsonl").write_text("not a record\n")
    ResumeFile.load(str(tmp / "r.jsonl"), urls=2)


def _input(tmp: Path) -> None:
    from fetchcli.input.readers import Inputs

    Inputs([], [str(tmp / "missing.txt")], io.BytesIO(), True, [])


def _urls() -> None:
    from fetchcli.input.readers import Inputs

    Inputs([], [], io.BytesIO(), True, [])


CASES: dict[str, tuple[Callable[[Path], None], str, str]] = {
    "shard": (lambda tmp: _shard(), "shard", "must be K/N (e.g. 2/8) or auto"),
    "fields": (lambda tmp: _fields(), "fields", "unknown field 'nope'"),
    "backend": (lambda tmp: _backend(), "backend", "aiohttp does not support"),
    "cacert": (_cacert, "request.cacert", "cannot be used: "),
    "cert": (_cert, "request.client_cert", "cannot be used: "),
    "resume": (_resume, "resume", "line 1 of "),
    "input": (_input, "input", "cannot read "),
    "urls": (lambda tmp: _urls(), "urls", "missing: "),
}


@pytest.mark.parametrize(("call", "setting", "problem"), list(CASES.values()), ids=list(CASES))
def test_the_core_says_which_setting_as_data_and_the_flag_through_the_table(
    tmp_path: Path, call: Callable[[Path], None], setting: str, problem: str
) -> None:
    with pytest.raises(SettingProblem) as caught:
        call(tmp_path)
    exc = caught.value
    assert isinstance(exc, SettingsError)  # what Python callers catch
    assert exc.setting == setting
    assert exc.problem.startswith(problem) and not exc.problem.startswith("-")
    assert exc.option == FLAGS[setting]
    assert str(exc) == f"{FLAGS[setting]} {exc.problem}"  # the CLI's one line, as before


def test_a_setting_from_the_environment_is_named_as_its_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fetchcli.transport.sslcontext import ssl_context

    bad = tmp_path / "bundle.pem"
    bad.write_text("not a certificate\n")
    monkeypatch.setenv("SSL_CERT_FILE", str(bad))
    with pytest.raises(SettingProblem) as caught:
        ssl_context(RequestSettings(max_redirects=3))  # a settings value of its own: not cached
    assert caught.value.setting == "SSL_CERT_FILE"
    assert str(caught.value).startswith("SSL_CERT_FILE cannot be used: ")
