"""``ErrorType``: the vocabulary of ``error.type`` is one enum, written as its bare names."""

from __future__ import annotations

import csv
import io
import json
import pickle

from fetchcli.errors import ERROR_TYPES, ErrorType
from fetchcli.models import ErrorInfo, FetchResult
from fetchcli.output.schema import record_schema
from fetchcli.summary import Summary


def test_each_member_is_its_name_and_says_what_it_means() -> None:
    assert len(ErrorType) == 27  # InvalidInput: a JSON Lines line that is not a request
    for member in ErrorType:
        assert isinstance(member, str) and member.value == member.name
        assert member.description and member.description == member.description.strip()
    assert {member.value: member.description for member in ErrorType} == ERROR_TYPES
    assert list(ERROR_TYPES) == [member.value for member in ErrorType]


def test_a_member_is_written_as_its_bare_name_everywhere() -> None:
    member = ErrorType.ReadTimeout
    assert (str(member), f"{member}", f"{member:>12}") == ("ReadTimeout", "ReadTimeout", " ReadTimeout")
    record = FetchResult(index=0, url="u", ok=False, error=ErrorInfo(member, "m")).to_dict()
    assert json.dumps(record["error"]) == '{"type": "ReadTimeout", "message": "m"}'
    assert json.dumps({member: 1}, indent=1) == '{\n "ReadTimeout": 1\n}'
    cells = io.StringIO()
    csv.writer(cells).writerow([member])
    assert cells.getvalue() == "ReadTimeout\r\n"
    assert member == "ReadTimeout" and hash(member) == hash("ReadTimeout")
    assert pickle.loads(pickle.dumps(member, pickle.HIGHEST_PROTOCOL)) is member


def test_text_becomes_a_member_only_when_it_is_one() -> None:
    assert ErrorType.named("ConnectError") is ErrorType.ConnectError
    assert ErrorType.named(ErrorType.ConnectError) is ErrorType.ConnectError
    for other in ("connecterror", "ConnectError ", "", "description", "_value_", None, 3):
        assert ErrorType.named(other) is None


def test_the_schema_and_the_summary_use_the_names() -> None:
    schema = record_schema()
    error = schema["properties"]["error"]
    assert error["properties"]["type"]["enum"] == [member.value for member in ErrorType]
    summary = Summary()
    summary.add(FetchResult(index=0, url="u", ok=False, error=ErrorInfo(ErrorType.DNSError, "m")))
    assert json.dumps(summary.to_dict()["by_error_type"]) == '{"DNSError": 1}'
    assert summary.describe().startswith("1 URL: 0 ok, 1 failed (1 DNSError)")


def test_no_description_is_cut_short() -> None:
    """The review of issue 18 found ``InvalidRedirect`` described as "(no host, an invalid host or
    a port outside 1-65535...)": every cause -L refuses is named, and it says the redirect is
    not followed."""
    described = ErrorType.InvalidRedirect.description
    assert not described.rstrip(")").endswith(("...", "\u2026")), described
    for cause in ("no host", "an invalid host", "a port outside 1-65535", "`\\` before its path", "not a URL"):
        assert cause in described
    assert described.endswith("it is not followed")
