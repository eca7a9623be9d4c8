"""A record as one line of JSON, written field by field (``output/render/jsonline.py``): exactly
``dumps_record(result.to_dict())`` whatever the record holds, and the JSON Lines and JSON sinks
write it without building the record's dict."""

from __future__ import annotations

import dataclasses
import enum
import json
import random
from http import HTTPStatus
from typing import Any

from fetchcli.errortype import ErrorType
from fetchcli.models import Change, ErrorInfo, FetchResult, RawJson, Redirect, Timing, TlsInfo
from fetchcli.output.render.fields import dumps_record
from fetchcli.output.render.jsonline import record_json, record_line


class _Text(str):
    pass


class _Number(enum.IntEnum):
    seven = 7


class _Real(float):
    pass


_STRINGS: list[Any] = [
    "",
    "plain",
    "http://127.0.0.1:8080/p/1?q=a&b=c#top",
    'quote " backslash \\ slash /',
    "controls \x00\x01\x1b[31m\x7f\n\r\t",
    "unicode é 日本 \u2028 \u202e \ufeff",
    "astral \U0001f600",
    "lone surrogate \ud800",
    _Text("a str subclass"),
    ErrorType.ConnectError,
    "x" * 300,
]
_INTS: list[Any] = [0, 1, -1, 200, 65535, 2**70, -(2**64), HTTPStatus.OK, _Number.seven]
_FLOATS: list[Any] = [0.0, -0.0, 1.5, 123.4, 1e-7, 1e300, float("nan"), float("inf"), float("-inf"), _Real(2.5)]
_BOOLS: list[Any] = [True, False]
_ODD: list[Any] = [True, False, 3, 2.5, "text", None, [1, "a"], {"k": "v"}, (1, 2), b"bytes", object()]


def _pick(rng: random.Random, usual: list[Any], optional: bool) -> Any:
    """Mostly a value of the field's declared type (or None when it may be None); now and then
    one of another type, as a caller of the Python API could put there."""
    roll = rng.random()
    if optional and roll < 0.3:
        return None
    if roll < 0.93:
        return rng.choice(usual)
    return rng.choice(_ODD)


def _timing(rng: random.Random) -> Timing:
    return Timing(*(_pick(rng, _FLOATS, True) for _ in range(4)))


def _tls(rng: random.Random) -> TlsInfo:
    return TlsInfo(
        "TLSv1.3",
        rng.choice(_STRINGS),
        "2027-01-01",
        rng.choice(_INTS),
        rng.choice(_STRINGS),
        None,
        ("a", "b"),
        False,
        True,
    )


def _record(rng: random.Random) -> FetchResult:
    values: dict[str, Any] = {}
    for field in dataclasses.fields(FetchResult):
        kind = str(field.type)
        optional = "None" in kind
        if field.name == "redirects":
            values[field.name] = tuple(
                Redirect(rng.choice(_STRINGS), rng.choice(_INTS)) for _ in range(rng.randint(0, 2))
            )
        elif field.name == "timing":
            values[field.name] = None if rng.random() < 0.3 else _timing(rng)
        elif field.name == "error":
            values[field.name] = None if rng.random() < 0.5 else ErrorInfo(ErrorType.ReadTimeout, rng.choice(_STRINGS))
        elif field.name == "tls":
            values[field.name] = None if rng.random() < 0.5 else _tls(rng)
        elif field.name == "change":
            values[field.name] = (
                None if rng.random() < 0.5 else Change("changed", ("status",), (("status", 200),), "down")
            )
        elif field.name == "meta":
            roll = rng.random()
            values[field.name] = None if roll < 0.4 else RawJson('{"a": 1.10, "b": [true]}') if roll < 0.8 else "a str"
        elif field.name == "validators":
            values[field.name] = None
        elif kind.startswith("bool"):
            values[field.name] = _pick(rng, _BOOLS, optional)
        elif kind.startswith("int"):
            values[field.name] = _pick(rng, _INTS, optional)
        elif kind.startswith("float"):
            values[field.name] = _pick(rng, _FLOATS, optional)
        else:
            assert kind.startswith("str"), (field.name, kind)
            values[field.name] = _pick(rng, _STRINGS, optional)
    return FetchResult(**values)


def _written(write: Any, result: FetchResult) -> tuple[str, str]:
    try:
        return "line", write(result)
    except Exception as exc:  # noqa: BLE001 - both ways must fail alike
        return "raised", type(exc).__name__


def test_a_record_is_written_as_json_dumps_writes_its_dict() -> None:
    rng = random.Random(20)
    kinds = set()
    for _ in range(20_000):
        result = _record(rng)
        fast = _written(record_line, result)
        assert fast == _written(lambda r: dumps_record(r.to_dict()), result), result
        kinds.add(fast[0])
    assert kinds == {"line", "raised"}  # both ways met values json cannot write, and raised alike


def test_every_field_of_a_full_record_is_written_in_the_records_order() -> None:
    result = FetchResult(
        index=3,
        url="http://h/",
        ok=False,
        status=503,
        reason="Service Unavailable",
        http_version="HTTP/1.1",
        final_url="http://h/b",
        redirects=(Redirect("http://h/", 301),),
        elapsed_ms=12.5,
        timing=Timing(1.0, 2.0, 3.0, 4.0),
        content_type="text/html",
        content_length=10,
        server="nginx",
        title="t",
        remote_ip="127.0.0.1",
        remote_port=80,
        bytes_read=10,
        truncated=True,
        sha256="ab",
        binary=True,
        snippet="s",
        fetched_at="2026-12-03T21:00:00.000Z",
        error=ErrorInfo(ErrorType.ReadTimeout, "m"),
        attempts=2,
        tls=TlsInfo("TLSv1.3", "c", "n", 5, "i", "s", ("a",), False, True),
        queued_ms=0.5,
        location="http://h/c",
        method="GET",
        saved_path="a/b",
        meta=RawJson('{"k": 1}'),
        not_modified=True,
        change=Change("changed", ("ok",), (("ok", True),), "down"),
        consecutive_failures=4,
    )
    line = record_line(result)
    assert line == dumps_record(result.to_dict())
    assert list(json.loads(line)) == list(result.to_dict())
    assert all(value is not None for value in json.loads(line).values())  # no field left out


def test_fields_take_the_general_way() -> None:
    result = FetchResult(index=0, url="http://h/", ok=True, status=200)
    assert (
        record_json(result, ["status", "url", "error.type"])
        == '{"status": 200, "url": "http://h/", "error.type": null}'
    )
    assert record_json(result) == dumps_record(result.to_dict())
