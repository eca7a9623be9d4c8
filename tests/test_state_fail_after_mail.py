"""--only-changed with --fail-after N writes what a cron job should mail, as Uptime Kuma's
retries: nothing for a blip (fewer than N failures in a row, then a success), the record of the
run that reaches N failures in a row (transition ``down``), the failures after it only when
something changed, and the success that ends the outage (transition ``up``). Found by review
r6u: the record was written on the first failure (a blip was mailed) and not on the Nth."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.test_state import Page, Site, _run, serving


def _cron(site: Site, base: str, state: Path, status: int) -> tuple[int, list[dict[str, Any]], str]:
    site.pages["/p"].status = status
    return _run("--state", str(state), "--only-changed", "--fail-after", "3", "--summary", base + "/p")


@pytest.mark.live
def test_only_changed_with_fail_after_writes_the_outage_not_the_blip(tmp_path: Path) -> None:
    site = Site(pages={"/p": Page()})
    state = tmp_path / "state.db"
    with serving(site) as base:
        code, written, _ = _cron(site, base, state, 200)
        assert code == 0 and [r["change"]["kind"] for r in written] == ["new"]
        # A blip: two failures, then a success. Nothing written, exit 0 throughout.
        for status in (503, 503, 200):
            code, written, _ = _cron(site, base, state, status)
            assert (code, written) == (0, []), status
        # An outage: the third failure in a row is written, once, as the URL going down.
        codes, counts, transitions = [], [], []
        for _ in range(4):
            code, written, err = _cron(site, base, state, 503)
            codes.append(code)
            counts.append(len(written))
            transitions += [r["change"]["transition"] for r in written]
        assert codes == [0, 0, 1, 1] and counts == [0, 0, 1, 0] and transitions == ["down"]
        assert "1 went down" not in err  # the fourth failure: no transition any more
        code, written, err = _cron(site, base, state, 200)
        assert code == 0 and [r["change"]["transition"] for r in written] == ["up"]
        assert "1 came up" in err


@pytest.mark.live
def test_a_changed_failure_during_an_outage_is_written(tmp_path: Path) -> None:
    site = Site(pages={"/p": Page()})
    state = tmp_path / "state.db"
    with serving(site) as base:
        _cron(site, base, state, 200)
        for status in (503, 503, 503):
            _cron(site, base, state, status)
        code, written, _ = _cron(site, base, state, 500)  # still down, but otherwise
        assert code == 1 and [(r["status"], r["change"]["fields"]) for r in written] == [(500, ["status"])]


@pytest.mark.live
def test_without_fail_after_the_first_failure_is_the_transition(tmp_path: Path) -> None:
    site = Site(pages={"/p": Page()})
    state = tmp_path / "state.db"
    with serving(site) as base:
        args = ["--state", str(state), "--only-changed", base + "/p"]
        _run(*args)
        site.pages["/p"].status = 503
        code, written, _ = _run(*args)
        assert code == 1 and [r["change"]["transition"] for r in written] == ["down"]
        site.pages["/p"].status = 200
        code, written, _ = _run(*args)
        assert code == 0 and [r["change"]["transition"] for r in written] == ["up"]
