"""Issue 17, the engine's side: workers that run only fetchcli's own code and say why they died
(item 3), a URL whose fetch raises is a record and not a gap (item 7)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fetchcli.engine import workers
from fetchcli.models import ErrorInfo, FetchResult, UrlItem
from fetchcli.settings import Backend, Order, Settings
from tests.helpers import run
from tests.server import LoopbackServer

REPO = Path(__file__).resolve().parent.parent
CONSOLE_SCRIPT = Path(sys.executable).with_name("fetchcli")


def _clean_env(**extra: str) -> dict[str, str]:
    kept = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("FETCHCLI_") and "proxy" not in k.lower() and k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")
    }
    return {**kept, **extra}


def _records(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


def _error_type(record: dict[str, object]) -> str | None:
    error = record["error"]
    return error["type"] if isinstance(error, dict) else None


def _error_message(record: dict[str, object]) -> str:
    error = record["error"]
    assert isinstance(error, dict)
    return str(error["message"])


# --- item 3: --workers runs nothing from the working directory ------------------------------


def _fetchcli_as_installed() -> list[str]:
    """fetchcli as a user runs it: the console script (sys.path[0] is its bin folder, as in a
    cron job), else its equivalent with the repository on the path."""
    if CONSOLE_SCRIPT.exists():
        return [str(CONSOLE_SCRIPT)]
    launcher = f"import sys; sys.path[0] = {str(REPO)!r}; from fetchcli.cli.app import main; sys.exit(main())"
    return [sys.executable, "-c", launcher]


@pytest.mark.parametrize("planted", ["package", "empty-folder", "module"])
def test_workers_import_nothing_from_the_working_directory(
    fresh_server: LoopbackServer, tmp_path: Path, planted: str
) -> None:
    marker = tmp_path / "MARKER"
    payload = f"open({str(marker)!r}, 'w').write('ran')\n"
    if planted == "package":
        (tmp_path / "fetchcli").mkdir()
        (tmp_path / "fetchcli" / "__init__.py").write_text(payload)
        (tmp_path / "fetchcli" / "workers.py").write_text(payload)
        (tmp_path / "fetchcli" / "engine").mkdir()
        (tmp_path / "fetchcli" / "engine" / "__init__.py").write_text(payload)
        (tmp_path / "fetchcli" / "engine" / "workers.py").write_text(payload)
        (tmp_path / "fetchcli" / "engine" / "workerprocess.py").write_text(payload)
    elif planted == "empty-folder":
        (tmp_path / "fetchcli").mkdir()
    else:
        (tmp_path / "fetchcli.py").write_text(payload)
    urls = [fresh_server.url(f"/ok/{n}?cwd={planted}") for n in range(6)]
    done = subprocess.run(
        [*_fetchcli_as_installed(), "--workers", "2", *urls],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env=_clean_env(),
    )  # fmt: skip
    assert not marker.exists(), "a worker ran code from the working directory"
    assert done.returncode == 0, done.stderr
    records = _records(done.stdout)
    assert [r["index"] for r in records] == list(range(6))
    assert all(r["ok"] for r in records), done.stdout
    assert fresh_server.stats.requests == 6


def test_the_import_path_of_a_worker_leaves_out_the_working_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    elsewhere = str(REPO)
    monkeypatch.setattr(sys, "path", [str(tmp_path), elsewhere, "/usr/lib/python3"])  # python -m
    assert workers.import_path() == [elsewhere, "/usr/lib/python3"]
    monkeypatch.setattr(sys, "path", ["", elsewhere, str(tmp_path)])  # python -c, and PYTHONPATH=cwd
    assert workers.import_path() == [elsewhere, str(tmp_path)]  # what the user put there stays
    command = workers.worker_command()
    assert command[:3] == [sys.executable, "-I", "-c"]
    assert Path(command[4]) == Path(workers.__file__).parents[1]  # the very package the parent runs


def _parent_with_bootstrap(bootstrap: str) -> str:
    """A fetchcli parent process whose workers start with ``bootstrap``."""
    return (
        f"import sys; sys.path[0] = {str(REPO)!r}\n"
        "import fetchcli.engine.workers\n"
        f"fetchcli.engine.workers.BOOTSTRAP = {bootstrap!r}\n"
        "from fetchcli.cli.app import main\n"
        "sys.exit(main())\n"
    )


def test_a_worker_that_cannot_start_says_why_in_its_records_and_once_on_stderr(
    fresh_server: LoopbackServer,
) -> None:
    dies = "import sys\nsys.stderr.write('warming up\\nboom: no \\x1b]0;title\\x07luck\\n')\nsys.exit(3)\n"
    urls = [fresh_server.url(f"/ok/{n}?dies") for n in range(4)]
    done = subprocess.run(
        [sys.executable, "-c", _parent_with_bootstrap(dies), "--workers", "2", *urls],
        capture_output=True, text=True, timeout=120, env=_clean_env(),
    )  # fmt: skip
    assert done.returncode == 1
    records = _records(done.stdout)
    assert [r["index"] for r in records] == list(range(4)), (
        done.stdout,
        done.stderr,
    )  # seen once empty (CI under load)
    assert {_error_type(r) for r in records} == {"Unexpected"}
    for record in records:
        message = _error_message(record)
        assert message.startswith("worker process ") and " exited (status 3): boom: no " in message
        assert "\x1b" not in message and "\x07" not in message  # the one sanitiser
    for number in (1, 2):
        said = [line for line in done.stderr.splitlines() if f"worker process {number} exited" in line]
        assert len(said) == 1, done.stderr
        assert said[0].startswith("fetchcli: error: ") and "boom: no" in said[0] and "\x1b" not in said[0]
    assert "Traceback" not in done.stderr
    assert fresh_server.stats.requests == 0


# --- item 7: a URL whose fetch raises ---------------------------------------------------------


class PoisonError(Exception):
    """Stands for a bug: an exception nobody mapped, escaping the per-URL fetch."""


def _poison_index(monkeypatch: pytest.MonkeyPatch, index: int) -> None:
    from fetchcli.engine import request
    from fetchcli.engine import run as engine

    real = request.fetch_one

    async def fetch_one(client: Any, item: UrlItem, *args: Any, **kwargs: Any) -> FetchResult:
        if item.index == index:
            raise PoisonError("internal detail that must not be shown")
        return await real(client, item, *args, **kwargs)

    monkeypatch.setattr(engine, "fetch_one", fetch_one)


def _assert_poisoned_record(error: object) -> None:
    """The record of the URL whose fetch raised: ``Unexpected``, naming the type, no internals."""
    if isinstance(error, dict):
        kind, message = error["type"], error["message"]
    else:
        assert isinstance(error, ErrorInfo)
        kind, message = error.type, error.message
    assert kind == "Unexpected"
    assert message == "internal error: PoisonError while fetching this URL"


@pytest.mark.parametrize("order", [Order.input, Order.completion])
def test_a_url_whose_fetch_raises_is_a_record_in_process(
    server: LoopbackServer, backend: Backend, monkeypatch: pytest.MonkeyPatch, order: Order
) -> None:
    _poison_index(monkeypatch, 2)
    urls = [server.url(f"/ok/{n}?poison") for n in range(5)]
    results = run(urls, Settings(order=order), backend=backend)
    assert sorted(r.index for r in results) == list(range(5))
    if order is Order.input:
        assert [r.index for r in results] == list(range(5))
    by_index = {r.index: r for r in results}
    _assert_poisoned_record(by_index[2].error)
    assert all(by_index[n].ok for n in (0, 1, 3, 4))


def test_a_url_whose_fetch_raises_fails_the_cli_run(
    server: LoopbackServer, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fetchcli.cli.app import app
    from tests.test_cli import runner

    _poison_index(monkeypatch, 2)
    urls = [server.url(f"/ok/{n}?poison-cli") for n in range(5)]
    result = runner.invoke(app, ["--backend", backend.value, "--max-failures", "5", *urls])
    assert result.exit_code == 1  # a fault in fetchcli is never within --max-failures
    records = _records(result.stdout)
    assert [r["index"] for r in records] == list(range(5))
    _assert_poisoned_record(records[2]["error"])
    assert [r["ok"] for r in records] == [True, True, False, True, True]
    said = [line for line in result.stderr.splitlines() if "internal error" in line]
    assert said == ["fetchcli: internal error: PoisonError while fetching a URL; please report it"]
    assert "Traceback" not in result.stderr and "must not be shown" not in result.stderr


def _poisoned_worker() -> str:
    """A worker whose per-URL fetch raises for the URL of index 2."""
    poisoned = workers.BOOTSTRAP.replace(
        "from fetchcli.engine.workerprocess import main\n",
        "import fetchcli.engine.request as request\n"
        "real = request.fetch_one\n"
        "class PoisonError(Exception):\n"
        "    pass\n"
        "async def fetch_one(client, item, *args, **kwargs):\n"
        "    if item.index == 2:\n"
        "        raise PoisonError('internal detail that must not be shown')\n"
        "    return await real(client, item, *args, **kwargs)\n"
        "request.fetch_one = fetch_one\n"
        "from fetchcli.engine.workerprocess import main\n",
    )
    assert poisoned != workers.BOOTSTRAP
    return poisoned


@pytest.mark.parametrize("backend_name", ["aiohttp", "httpx"])
def test_a_url_whose_fetch_raises_in_a_worker_is_a_record(fresh_server: LoopbackServer, backend_name: str) -> None:
    urls = [fresh_server.url(f"/ok/{n}?poison-worker") for n in range(5)]
    done = subprocess.run(
        [sys.executable, "-c", _parent_with_bootstrap(_poisoned_worker()), "--backend", backend_name,
         "--workers", "2", "--max-failures", "5", *urls],
        capture_output=True, text=True, timeout=120, env=_clean_env(),
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    records = _records(done.stdout)
    assert [r["index"] for r in records] == list(range(5))
    _assert_poisoned_record(records[2]["error"])
    assert [r["ok"] for r in records] == [True, True, False, True, True]
    said = [line for line in done.stderr.splitlines() if "internal error" in line]
    assert said == ["fetchcli: internal error: PoisonError while fetching a URL; please report it"]
    assert "Traceback" not in done.stderr


# --- a worker's stream of records: stray output, garbled messages, secrets in its stderr -----------


def _worker_with(patch: str) -> str:
    """A worker bootstrap with ``patch`` run just before the worker's main (after fetchcli loads)."""
    patched = workers.BOOTSTRAP.replace(
        "from fetchcli.engine.workerprocess import main\n", patch + "from fetchcli.engine.workerprocess import main\n"
    )
    assert patched != workers.BOOTSTRAP
    return patched


def test_a_stray_print_in_a_worker_does_not_put_its_records_out_of_step(fresh_server: LoopbackServer) -> None:
    chatty = _worker_with(
        "import fetchcli.engine.request as request\n"
        "real = request.fetch_one\n"
        "async def fetch_one(client, item, *args, **kwargs):\n"
        "    print('a library says hello', flush=True)\n"
        "    return await real(client, item, *args, **kwargs)\n"
        "request.fetch_one = fetch_one\n"
    )
    urls = [fresh_server.url(f"/ok/{n}?chatty") for n in range(6)]
    done = subprocess.run(
        [sys.executable, "-c", _parent_with_bootstrap(chatty), "--workers", "2", *urls],
        capture_output=True, text=True, timeout=120, env=_clean_env(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    records = _records(done.stdout)
    assert [r["index"] for r in records] == list(range(6))
    assert all(r["ok"] for r in records)


def test_a_garbled_message_from_a_worker_fails_its_urls_instead_of_hanging(fresh_server: LoopbackServer) -> None:
    garbling = _worker_with(
        "import fetchcli.engine.workerprocess as w, fetchcli.engine.workerframes as frames\n"
        "real = w.frame\n"
        "def frame(message):\n"
        "    if isinstance(message, tuple) and len(message) == 2 and getattr(message[1], 'index', None) == 2:\n"
        "        return frames._LENGTH.pack(5) + b'\\x00garb'\n"
        "    return real(message)\n"
        "w.frame = frame\n"
    )
    urls = [fresh_server.url(f"/ok/{n}?garbled") for n in range(5)]
    done = subprocess.run(
        [sys.executable, "-c", _parent_with_bootstrap(garbling), "--workers", "2", *urls],
        capture_output=True, text=True, timeout=120, env=_clean_env(),
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    records = _records(done.stdout)
    assert [r["index"] for r in records] == list(range(5))  # every URL, none waiting for ever
    assert records[2]["ok"] is False and _error_type(records[2]) == "Unexpected"
    assert "could not be read" in _error_message(records[2])
    assert "Traceback" not in done.stderr


def test_a_dead_workers_last_line_is_redacted(fresh_server: LoopbackServer) -> None:
    secret = "s3cr3t-t0ken-value"
    dies = f"import sys\nsys.stderr.write('failed with Authorization: Bearer {secret}\\n')\nsys.exit(3)\n"
    done = subprocess.run(
        [sys.executable, "-c", _parent_with_bootstrap(dies), "--workers", "2",
         "-H", f"Authorization: Bearer {secret}", fresh_server.url("/ok?redacted")],
        capture_output=True, text=True, timeout=120, env=_clean_env(),
    )  # fmt: skip
    assert done.returncode == 1
    assert "failed with Authorization" in done.stdout and "failed with Authorization" in done.stderr
    assert secret not in done.stdout and secret not in done.stderr
