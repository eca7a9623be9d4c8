"""``frozen.quick_builder``: a frozen dataclass built at a plain one's cost is the frozen class in
every way."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest

from fetchcli.errortype import ErrorType
from fetchcli.frozen import quick_builder
from fetchcli.models import ErrorInfo, FetchResult, Timing, UrlItem
from fetchcli.transport.wireurl import WireURL


def test_what_it_builds_is_the_frozen_class_in_every_way() -> None:
    build = quick_builder(FetchResult)
    args = {"index": 3, "url": "http://h/", "ok": True, "status": 200, "timing": Timing(1.0, None, None, 2.5)}
    quick, usual = build(**args), FetchResult(**args)  # type: ignore[arg-type]
    assert type(quick) is FetchResult and isinstance(quick, FetchResult)
    assert quick == usual and hash(quick) == hash(usual) and repr(quick) == repr(usual)
    assert quick.to_dict() == usual.to_dict() and quick.redirects == () and quick.validators is None  # the defaults
    with pytest.raises(dataclasses.FrozenInstanceError):
        quick.ok = False  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(quick)) == quick and copy.deepcopy(quick) == quick
    assert dataclasses.replace(quick, ok=False) == FetchResult(**{**args, "ok": False})  # type: ignore[arg-type]
    assert not hasattr(quick, "__dict__")  # still slots only
    url = quick_builder(WireURL)("http", "", "h", None, "/", "", "http://h/")  # positional arguments too
    assert url == WireURL("http", "", "h", None, "/", "", "http://h/") and type(url) is WireURL


def test_it_takes_only_a_frozen_dataclass_with_slots() -> None:
    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclasses.dataclass(slots=True)
    class NotFrozen:
        a: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        a: int

        def __post_init__(self) -> None:
            pass

    for kind in (NoSlots, NotFrozen, Checked, int):
        with pytest.raises(TypeError):
            quick_builder(kind)
    assert quick_builder(ErrorInfo)(ErrorType.ReadTimeout, "m") == ErrorInfo(ErrorType.ReadTimeout, "m")


def test_a_missing_argument_is_the_same_error() -> None:
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'url'"):
        quick_builder(UrlItem)(index=0, raw="x")  # type: ignore[call-arg]
