"""``--workers``: the records that come back from worker processes carry only ``ErrorType``
members (tests/conftest.py's fixture sees only the records built in the test's own process).

The parent here is fetchcli's CLI with one addition: every record a ``WorkerPool`` hands back is
described on stderr (``pool: <class of error.type> <error.type>``), so the test sees the types
the parent holds, not only the JSON they become."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fetchcli.engine import workers
from fetchcli.errortype import ErrorType
from fetchcli.settings import Backend
from tests.server import LoopbackServer

REPO = Path(__file__).resolve().parent.parent
NAMES = {member.value for member in ErrorType}

_PARENT = """\
import sys
sys.path[0] = {repo!r}
import fetchcli.engine.workers as w
w.BOOTSTRAP = {bootstrap!r}
real = w.WorkerPool.fetch
async def fetch(self, item, ticket=None):
    result = await real(self, item, ticket)
    if result.error is not None:
        sys.stderr.write(f"pool: {{type(result.error.type).__name__}} {{result.error.type}}\\n")
    return result
w.WorkerPool.fetch = fetch
from fetchcli.cli.app import main
sys.exit(main())
"""


def _run(bootstrap: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("FETCHCLI_") and "proxy" not in k.lower() and k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")
    }
    parent = _PARENT.format(repo=str(REPO), bootstrap=bootstrap)
    return subprocess.run(
        [sys.executable, "-c", parent, "--workers", "2", *args], capture_output=True, text=True, timeout=120, env=env
    )


def _records(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


def _error(record: dict[str, object]) -> dict[str, str] | None:
    error = record["error"]
    assert error is None or isinstance(error, dict)
    return error


def _pool_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("pool: ")]


def test_records_from_worker_processes_carry_only_documented_types(
    fresh_server: LoopbackServer, backend: Backend
) -> None:
    cases = [
        (fresh_server.url("/ok/1"), None),
        ("http://127.0.0.1:9/", "ConnectionRefused"),
        (fresh_server.url("/bad-chunk"), "RemoteProtocolError"),
        (fresh_server.url("/bad-gzip"), "DecodingError"),
        (fresh_server.url("/loop"), "TooManyRedirects"),
        (fresh_server.url("/location?to=ftp://h/x"), "UnsupportedRedirect"),
        (fresh_server.url("/location?to=http:///x"), "InvalidRedirect"),
        (fresh_server.url("/hang"), "ReadTimeout"),
        (fresh_server.url("/say?text=hello"), "ExpectFailed"),
        ("ftp://not-fetched/", "InvalidURL"),
    ]
    done = _run(
        workers.BOOTSTRAP,
        "--backend", backend.value, "-L", "--max-redirects", "2", "--read-timeout", "1", "--max-failures", "100",
        "--expect-text", "ok", *[url for url, _ in cases],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    records = _records(done.stdout)
    assert [r["index"] for r in records] == list(range(len(cases)))
    types = [(error or {}).get("type") for error in map(_error, records)]
    assert types == [expected for _, expected in cases]
    assert {t for t in types if t is not None} <= NAMES
    # The parent held a member for every record a worker sent (the invalid URL is the parent's).
    assert sorted(_pool_lines(done.stderr)) == sorted(f"pool: ErrorType {t}" for t in types[1:-1])
    assert "Traceback" not in done.stderr


# A worker whose records hold text where the type goes (a worker's fault): the URL's ``?as=``.
_TEXT_TYPES = workers.BOOTSTRAP.replace(
    "from fetchcli.engine.workerprocess import main\n",
    "import dataclasses, fetchcli.engine.request as request, fetchcli.models as models\n"
    "real = request.fetch_one\n"
    "async def fetch_one(client, item, *args, **kwargs):\n"
    "    result = await real(client, item, *args, **kwargs)\n"
    "    if '?as=' in item.url:\n"
    "        error = models.ErrorInfo(item.url.rsplit('=', 1)[1], 'the message')\n"
    "        result = dataclasses.replace(result, ok=False, error=error)\n"
    "    return result\n"
    "request.fetch_one = fetch_one\n"
    "from fetchcli.engine.workerprocess import main\n",
)


def test_text_from_a_worker_is_read_back_into_the_vocabulary_or_is_an_internal_error(
    fresh_server: LoopbackServer,
) -> None:
    assert _TEXT_TYPES != workers.BOOTSTRAP
    urls = [fresh_server.url("/ok/0"), fresh_server.url("/ok/1?as=ReadError"), fresh_server.url("/ok/2?as=Bogus")]
    done = _run(_TEXT_TYPES, "--max-failures", "100", *urls)
    records = _records(done.stdout)
    assert [r["index"] for r in records] == [0, 1, 2]
    assert [r["ok"] for r in records] == [True, False, False]
    assert _error(records[1]) == {"type": "ReadError", "message": "the message"}
    assert _error(records[2]) == {
        "type": "Unexpected",
        "message": "internal error: UnknownErrorType while fetching this URL",
    }
    assert sorted(_pool_lines(done.stderr)) == ["pool: ErrorType ReadError", "pool: ErrorType Unexpected"]
    said = [line for line in done.stderr.splitlines() if "internal error" in line]
    assert said == ["fetchcli: internal error: UnknownErrorType while fetching a URL; please report it"]
    assert done.returncode == 1  # an internal error fails the run, whatever --max-failures says
    assert "Traceback" not in done.stderr
