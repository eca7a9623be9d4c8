"""The record schema is generated from the record type, and real output of every kind meets it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema

from fetchcli.models import FetchResult
from fetchcli.output.schema import record_schema
from fetchcli.settings import Settings
from tests.helpers import run
from tests.server import LoopbackServer


def test_every_field_of_the_record_is_in_the_schema_and_required() -> None:
    schema = record_schema()
    record = FetchResult(index=0, url="u", ok=True).to_dict()
    assert list(schema["properties"]) == list(record) == schema["required"]
    jsonschema.Draft202012Validator.check_schema(schema)


def test_real_output_of_every_kind_meets_the_schema(server: LoopbackServer) -> None:
    urls = [
        server.url("/ok"),  # ok
        server.url("/status/404"),  # an HTTP error
        "http://127.0.0.1:9/",  # a network error
        "ftp://x",  # invalid input
        server.url("/hang"),  # cancelled in flight by the deadline
        server.url("/ok/late"),  # not started before it
    ]
    results = run(urls, Settings(concurrency=1, deadline=1.0))
    kinds = [r.error.type if r.error else r.status for r in results]
    assert kinds == [200, 404, "ConnectionRefused", "InvalidURL", "Cancelled", "NotStarted"]
    validator = jsonschema.Draft202012Validator(record_schema())
    for result in results:
        validator.validate(result.to_dict())
    printed = subprocess.run(
        [sys.executable, "-m", "fetchcli", "--schema"], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(printed.stdout) == record_schema()


def test_records_with_tls_facts_and_redirects_meet_the_schema(server: LoopbackServer, tmp_path: Path) -> None:
    from fetchcli.settings import RequestSettings, SuccessSettings
    from tests.helpers import self_signed_context
    from tests.server import running_server

    validator = jsonschema.Draft202012Validator(record_schema())
    [chain] = run([server.url("/redirect/2")], Settings(request=RequestSettings(follow_redirects=True)))
    assert len(chain.redirects) == 2
    validator.validate(chain.to_dict())
    with running_server(ssl_context=self_signed_context(tmp_path)) as tls:
        unverified, expiring = run([tls.url("/ok/a")], Settings(success=SuccessSettings(cert_expiry_days=9))) + run(
            [tls.url("/ok/b")],
            Settings(request=RequestSettings(insecure=True), success=SuccessSettings(cert_expiry_days=9)),
        )
    assert unverified.tls is not None and unverified.tls.verified is False
    assert expiring.error is not None and expiring.error.type == "CertificateExpiring"
    for result in (unverified, expiring):
        validator.validate(result.to_dict())
