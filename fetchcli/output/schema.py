"""The JSON Schema of a record, generated from ``FetchResult`` itself (its fields and their type
hints), so that it cannot drift from what ``to_dict`` writes: ``fetchcli --schema`` prints it."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from fetchcli.errortype import ErrorType
from fetchcli.models import RECORD_SCHEMA_VERSION, WATCHABLE, Change, ErrorInfo, FetchResult, RawJson

_JSON_TYPES: dict[Any, str] = {int: "integer", float: "number", str: "string", bool: "boolean"}


def _type_schema(hint: Any) -> dict[str, Any]:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        members = [m for m in typing.get_args(hint) if m is not type(None)]
        (member,) = members
        inner = _type_schema(member)
        if "type" in inner and isinstance(inner["type"], str):
            return {**inner, "type": [inner["type"], "null"]}
        return {"anyOf": [inner, {"type": "null"}]}
    if hint is RawJson:  # a JSON Lines input's meta: the line's object, as written
        return {"type": "object", "description": "the input line's meta object, copied as written"}
    if hint is ErrorInfo:
        return {
            "type": "object",
            "properties": {"type": {"enum": [member.value for member in ErrorType]}, "message": {"type": "string"}},
            "required": ["type", "message"],
            "additionalProperties": False,
        }
    if hint is Change:
        return {
            "type": "object",
            "properties": {
                "kind": {"enum": ["new", "changed", "same"]},
                "fields": {"type": "array", "items": {"enum": list(WATCHABLE)}},
                "previous": {"type": "object", "description": "the earlier value of each field in fields, by name"},
                "transition": {"enum": ["down", "up", None]},
            },
            "required": ["kind", "fields", "previous", "transition"],
            "additionalProperties": False,
        }
    if dataclasses.is_dataclass(hint):
        return _object_schema(hint)
    if typing.get_origin(hint) is tuple:
        return {"type": "array", "items": _type_schema(typing.get_args(hint)[0])}
    return {"type": _JSON_TYPES[hint]}


def _object_schema(cls: Any) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    properties = {field.name: _type_schema(hints[field.name]) for field in dataclasses.fields(cls)}
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def record_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of one record, as the JSON, JSON Lines and CSV outputs write it."""
    hints = typing.get_type_hints(FetchResult)
    properties: dict[str, Any] = {"schema_version": {"const": RECORD_SCHEMA_VERSION}}
    for field in dataclasses.fields(FetchResult):
        if field.metadata.get("record") is False:
            continue  # carried for the run, not written
        properties[field.name] = _type_schema(hints[field.name])
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "fetchcli record",
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
