"""Which fields a record shows, in which order (``--fields``), for every structured format.

A name is a record field (``status``) or a field of its error (``error.type``,
``error.message``); a dotted name is written under that name, flattened."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fetchcli.models import FetchResult
from fetchcli.settings import SettingsError

NESTED = ("error.type", "error.message")


def all_fields(*, flat: bool) -> tuple[str, ...]:
    """Every field in record order; ``flat`` (CSV, TSV) splits ``error`` into its two fields."""
    names = tuple(FetchResult(index=0, url="", ok=True).to_dict())
    if not flat:
        return names
    at = names.index("error")
    return (*names[:at], *NESTED, *names[at + 1 :])


def parse_fields(text: str) -> tuple[str, ...]:
    """``'url,status,error.type'`` -> the names, checked; a usage error names what is allowed."""
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    allowed = set(all_fields(flat=False)) | set(NESTED)
    unknown = [name for name in names if name not in allowed]
    if not names or unknown:
        what = f"unknown field {unknown[0]!r}" if unknown else "needs at least one field"
        raise SettingsError("--fields", f"{what}; fields are: {', '.join(all_fields(flat=True))}, error")
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
