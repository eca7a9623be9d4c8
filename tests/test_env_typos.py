"""A ``FETCHCLI_*`` variable fetchcli does not read is a warning, naming the variable it may have
meant (review r7u: ``FETCHCLI_CONCURENCY=3`` changed nothing and said nothing, while the same
typo in the config file is a usage error)."""

from __future__ import annotations

from fetchcli.cli.config import VARIABLES, unknown_variables
from tests.helpers import fetchcli_in_clean_env


def test_a_misspelt_variable_is_a_warning_and_the_run_goes_on() -> None:
    done = fetchcli_in_clean_env("--dry-run", "http://127.0.0.1:9/", env={"FETCHCLI_CONCURENCY": "3"})
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        "fetchcli: warning: FETCHCLI_CONCURENCY is not a variable fetchcli reads: ignored"
        " (did you mean FETCHCLI_CONCURRENCY?)"
    ]


def test_the_variables_fetchcli_reads_are_not_warned_about() -> None:
    known = {"FETCHCLI_CONCURRENCY": "3", "FETCHCLI_GC": "default", "FETCHCLI_LOOP": "asyncio", "FETCHCLI_SHARDS": "2"}
    done = fetchcli_in_clean_env("--dry-run", "http://127.0.0.1:9/", env=known)
    assert done.returncode == 0 and "warning" not in done.stderr, done.stderr
    assert unknown_variables(dict.fromkeys(VARIABLES, "1")) == []


def test_a_name_far_from_any_gets_no_guess() -> None:
    assert unknown_variables({"FETCHCLI_FOO": "1", "PATH": "/bin"}) == [
        "FETCHCLI_FOO is not a variable fetchcli reads: ignored"
    ]


def test_the_warnings_are_bounded() -> None:
    """The environment's text is bounded on stderr (review r8a: one 100 KB name made a 100 KB
    line, 1,500 names 1.6 MB of warnings)."""
    many = {f"FETCHCLI_UNKNOWN_{n:04d}": "1" for n in range(1500)}
    lines = unknown_variables({**many, "FETCHCLI_" + "Z" * 100_000: "1"})
    assert len(lines) == 6 and lines[-1] == "and 1496 more FETCHCLI_* variables fetchcli does not read"
    assert max(len(line) for line in lines) < 200


def test_a_misspelling_is_shown_before_the_cap_hides_it() -> None:
    """Variables of another tool or version sort before a typo, but the typo's "did you mean"
    is the line that says what to fix: it is shown first (review r9a: alphabetical order under the
    cap of five hid it)."""
    others = {f"FETCHCLI_AAA_OTHER_{n}": "1" for n in range(6)}
    lines = unknown_variables({**others, "FETCHCLI_TIMEOUTT": "3"})
    assert lines[0] == "FETCHCLI_TIMEOUTT is not a variable fetchcli reads: ignored (did you mean FETCHCLI_TIMEOUT?)"
    assert len(lines) == 6 and lines[-1] == "and 2 more FETCHCLI_* variables fetchcli does not read"
