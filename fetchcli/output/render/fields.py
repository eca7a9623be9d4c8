"""Which fields a record shows, in which order (``--fields``), for every structured format.

A name is a record field (``status``) or a field of one of its objects (``error.type``,
``tls.days_left``); a dotted name is written under that name, flattened. In CSV and TSV an
object named whole (``--fields error``) is written as its fields (``error.type``,
``error.message``): ``flat_fields``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from fetchcli.models import NESTED_FIELDS, FetchResult, RawJson
from fetchcli.settings import SettingProblem

NESTED = tuple(f"{parent}.{child}" for parent, children in NESTED_FIELDS.items() for child in children)


def all_fields(*, flat: bool) -> tuple[str, ...]:
    """Every field in record order; ``flat`` (CSV, TSV) splits each object (``error``, ``tls``)
    into its fields."""
    names = tuple(FetchResult(index=0, url="", ok=True).to_dict())
    return flat_fields(names) if flat else names


def flat_fields(names: Sequence[str]) -> tuple[str, ...]:
    """CSV and TSV: each object named whole (``error``, ``timing``, ``tls``) split into its fields
    (``error.type``, ``error.message``), as it is without ``--fields``, so that no cell holds an
    object; other names as they are (a list, such as ``redirects`` or ``tls.san``, is one cell)."""
    out: list[str] = []
    for name in names:
        out.extend(f"{name}.{child}" for child in NESTED_FIELDS[name]) if name in NESTED_FIELDS else out.append(name)
    return tuple(out)


def parse_fields(text: str) -> tuple[str, ...]:
    """``'url,status,error.type'`` -> the names, checked; a usage error names what is allowed."""
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    allowed = set(all_fields(flat=False)) | set(NESTED)
    unknown = [name for name in names if name not in allowed]
    if not names or unknown:
        what = f"unknown field {unknown[0]!r}" if unknown else "needs at least one field"
        objects = ", ".join(NESTED_FIELDS)
        raise SettingProblem("fields", f"{what}; fields are: {', '.join(all_fields(flat=True))}, {objects}")
    return names


def project(record: dict[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    """``record`` with only ``fields``, in that order; dotted names read the nested value."""
    out: dict[str, Any] = {}
    for name in fields:
        parent, dot, child = name.partition(".")
        if dot:
            nested = record.get(parent)
            out[name] = nested.get(child) if isinstance(nested, dict) else None
        else:
            out[name] = record[name]
    return out


def dumps_record(record: dict[str, Any]) -> str:
    """A record (``to_dict``, projected or not) as one line of JSON, as ``json.dumps`` writes it;
    a ``meta`` (``models.RawJson``) written as the JSON text it is, not as a string. The record is
    cut around it and each part dumped, so no text of the record can be taken for it."""
    meta = record.get("meta")
    if not isinstance(meta, RawJson):
        return json.dumps(record)
    keys = list(record)
    at = keys.index("meta")
    before = {key: record[key] for key in keys[:at]}
    after = {key: record[key] for key in keys[at + 1 :]}
    head = json.dumps(before)[:-1] + ", " if before else "{"
    tail = ", " + json.dumps(after)[1:] if after else "}"
    return f'{head}"meta": {meta}{tail}'
