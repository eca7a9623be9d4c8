"""``--expect-jq EXPR``: a jq expression over the body parsed as JSON, which must yield ``true``
(the rule: ``jqchild.judge``). An expression that does not compile is a usage error before
anything is sent (``compile_problem``, asked by the CLI).

The jq library (the ``jq`` package, binding the C jq) runs a program holding the GIL and cannot
be interrupted: ``[range(1e9)]`` in this process would freeze the event loop, the run's
``--deadline`` and every ``--max-time`` timer with it. So each body is judged in a child process
(``jqchild``, compiled there from the expression's text: also in each ``--workers`` process),
with a limit on its memory; a few of them serve the run (``JqChecks``), each fed by a thread that
blocks on its pipes, never the event loop. A check that outlives its time (``--max-time``,
``--deadline``: the URL's task is cancelled; else the ``--read-timeout``) kills its child, and a
new one serves the next check. The processes are killed when the run's process exits.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import json
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

from fetchcli.engine.jqchild import DIRECTIVE, DIRECTIVE_REFUSED
from fetchcli.settings import Settings
from fetchcli.text import clean_line

# fetchcli is installed from its clone, not from the package index (as settings.install_hint).
MISSING = "needs the jq package: in fetchcli's clone, pip install '.[jq]' (or pip install jq into its environment)"
MEMORY_BASE = 1 << 30  # bytes a child may take, plus MEMORY_PER_BODY_BYTE per byte of --max-body-bytes
MEMORY_PER_BODY_BYTE = 32
MAX_CHILDREN = 4  # processes judging bodies side by side, at most (each takes a core while it runs)
MESSAGE_LENGTH = 300  # characters of a reason the record gives at most
COMPILE_SECONDS = 30  # the CLI's check of an expression takes at most (jq compiles in milliseconds)


def compile_problem(expression: str, within: float | None = None) -> str | None:
    """None when ``expression`` compiles; else why not, in one clean line (jq's own message
    without its source excerpt), or that the jq package is missing. A program with a module
    directive (``import``, ``include``, ``module``) is refused: fetchcli loads no jq code from
    files, least of all from the working directory, where jq looks for them. Compiled in a
    ``jqchild`` process (about 50 ms, only when ``--expect-jq`` is given): libjq aborts its
    process on some programs (the jq package's early wheels on an ``import`` it cannot find),
    and a run must end with a one-line error, not a signal. ``within``: the run's --deadline,
    which bounds the check too (else ``COMPILE_SECONDS``)."""
    if DIRECTIVE.match(expression):
        return DIRECTIVE_REFUSED + ", the working directory first"
    header = json.dumps({"expression": expression, "memory": MEMORY_BASE, "compile_only": True})
    limit = COMPILE_SECONDS if within is None else min(COMPILE_SECONDS, within)
    try:
        done = subprocess.run(
            child_command(),
            input=header.encode() + b"\n",
            capture_output=True,
            timeout=limit,
            cwd="/",  # as the judging children: nothing of the working directory by a relative name
        )
    except subprocess.TimeoutExpired:
        return f"does not compile within {limit:g} s" + (" (--deadline)" if limit != COMPILE_SECONDS else "")
    except OSError as exc:
        return f"could not be compiled: {clean_line(str(exc) or type(exc).__name__, MESSAGE_LENGTH)}"
    try:
        answer = json.loads(done.stdout)
    except ValueError:
        return f"does not compile: jq stopped while compiling it ({_ended(done.returncode)})"
    if answer.get("missing"):
        return MISSING
    if "error" in answer:
        told = str(answer["error"])
        lines = [line for line in told.splitlines() if line.strip() and "compile error" not in line]
        first = lines[0].removeprefix("jq: error: ").rstrip(":") if lines else "a syntax error"
        return f"does not compile: {clean_line(first, MESSAGE_LENGTH)}"
    return None


def _ended(code: int) -> str:
    if code < 0:
        try:
            return f"signal {-code}, {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit status {code}"


def memory_limit(settings: Settings) -> int:
    return MEMORY_BASE + MEMORY_PER_BODY_BYTE * settings.body.max_body_bytes


_SOURCE = Path(__file__).with_name("jqchild.py")


def child_command() -> list[str]:
    """The child: ``jqchild``'s text run by this Python, without the current directory (which
    ``-c`` puts first) on its path, so no file there can shadow a module it imports."""
    first = "import sys\nif sys.path and sys.path[0] == '':\n    del sys.path[0]\n"  # not there with -P
    return [sys.executable, "-c", first + _SOURCE.read_text(encoding="utf-8")]


class _Died(Exception):
    pass


class _Child:
    """One ``jqchild`` process, used by one thread at a time."""

    def __init__(self, command: list[str], header: bytes) -> None:
        self.proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd="/"
        )  # cwd: nothing of the working directory is reachable by a relative name
        self.killed = False
        self._send(header)

    def _send(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except OSError as exc:  # BrokenPipeError: it died
            raise _Died from exc

    def ask(self, data: bytes) -> str | None:
        self._send(len(data).to_bytes(8, "big") + data)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise _Died
        why = json.loads(line)["why"]
        return None if why is None else str(why)

    def kill(self) -> None:
        self.killed = True
        if self.proc.poll() is None:
            self.proc.kill()

    def death(self, limit: int) -> str:
        """Why it gave no answer."""
        code = self.proc.wait()
        if code < 0:
            return f"--expect-jq stopped without an answer (signal {-code}: out of its {limit >> 20} MiB of memory?)"
        return f"--expect-jq stopped without an answer (exit status {code})"


class _Job:
    __slots__ = ("abandoned", "child", "data", "future", "lock")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.future: concurrent.futures.Future[str | None] = concurrent.futures.Future()
        self.lock = threading.Lock()
        self.child: _Child | None = None
        self.abandoned = False

    def abandon(self) -> None:
        """Its caller stopped waiting: kill the child judging it, if one is."""
        with self.lock:
            self.abandoned = True
            if self.child is not None:
                self.child.kill()


class JqChecks:
    """Judges bodies with one expression: up to ``MAX_CHILDREN`` child processes, each fed by a
    daemon thread; started as checks come, kept for the next ones."""

    def __init__(self, expression: str, memory: int) -> None:
        self._command = child_command()
        self._header = json.dumps({"expression": expression, "memory": memory}).encode() + b"\n"
        self._memory = memory
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._threads = 0
        self._pending = 0  # checks submitted, not yet answered
        self._lock = threading.Lock()
        self._children: set[_Child] = set()

    async def check(self, data: bytes, limit: float | None) -> str | None:
        """Why ``data`` fails the expression, or None; ``limit``: seconds to wait at most (None:
        until the caller is cancelled)."""
        job = _Job(data)
        self._submit(job)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(job.future), limit)
        except asyncio.TimeoutError:
            assert limit is not None
            return f"--expect-jq did not finish within {limit:g} s"
        finally:
            job.abandon()

    def _submit(self, job: _Job) -> None:
        with self._lock:
            self._pending += 1
            start = self._threads < min(self._pending, MAX_CHILDREN)
            if start:
                self._threads += 1
        if start:
            threading.Thread(target=self._serve, name="fetchcli-jq", daemon=True).start()
        self._jobs.put(job)

    def _serve(self) -> None:
        child: _Child | None = None
        while True:
            job = self._jobs.get()
            try:
                child = self._answer(job, child)
            finally:
                with self._lock:
                    self._pending -= 1

    def _answer(self, job: _Job, child: _Child | None) -> _Child | None:
        """Answer ``job`` (unless its caller gave up before it started) with ``child``, or a new
        one if it has none or it was killed; the child to use next."""
        if not job.future.set_running_or_notify_cancel():
            return child
        try:
            if child is None or child.killed:
                child = self._start()
            why = self._judge(child, job)
        except Exception as exc:  # noqa: BLE001 - an OSError starting it: the record says so
            why = f"--expect-jq could not run: {clean_line(str(exc) or type(exc).__name__, MESSAGE_LENGTH)}"
        job.future.set_result(why)
        return child

    def _start(self) -> _Child:
        child = _Child(self._command, self._header)
        with self._lock:
            self._children.add(child)
        return child

    def _judge(self, child: _Child, job: _Job) -> str | None:
        with job.lock:
            if job.abandoned:
                return None
            job.child = child
        try:
            why = child.ask(job.data)
        except (_Died, ValueError, KeyError):
            child.kill()
            why = child.death(self._memory)
            with self._lock:
                self._children.discard(child)
        with job.lock:
            job.child = None
        return None if why is None else clean_line(why, MESSAGE_LENGTH)

    def close(self) -> None:
        with self._lock:
            children, self._children = list(self._children), set()
        for child in children:
            child.kill()


_RUNNING: dict[tuple[str, int], JqChecks] = {}
_RUNNING_LOCK = threading.Lock()


def checks_for(settings: Settings) -> JqChecks:
    """This process's ``JqChecks`` for the run's ``--expect-jq`` (its children outlive one run:
    a library user's next run with the same expression reuses them)."""
    assert settings.success.expect_jq is not None
    key = (settings.success.expect_jq, memory_limit(settings))
    found = _RUNNING.get(key)
    if found is not None:
        return found
    with _RUNNING_LOCK:
        if key not in _RUNNING:
            if not _RUNNING:
                atexit.register(_close_all)
            _RUNNING[key] = JqChecks(*key)
        return _RUNNING[key]


def _close_all() -> None:
    for checks in list(_RUNNING.values()):
        checks.close()


def time_limit(settings: Settings) -> float | None:
    """Seconds a check may take: no limit of its own under ``--max-time`` (its timer cancels
    the URL, as ``--deadline`` does), else the ``--read-timeout``; None: no limit."""
    if settings.timeouts.total is not None:
        return None
    return settings.timeouts.phase(settings.timeouts.read)


def whole_body(data: bytes, complete: bool, size: int | None, settings: Settings) -> str | None:
    """Why the body read cannot be judged (cut at ``--max-body-bytes``), else None. Read whole
    (``--read-all``, ``--save``) but kept short, the body's size says how far to raise it."""
    if complete and (size is None or size == len(data)):
        return None
    limit = settings.body.max_body_bytes
    if complete and size is not None:
        return (
            f"--expect-jq needs the whole body: it is {size} bytes, only --max-body-bytes {limit} are kept"
            f" (raise it to {size} or more)"
        )
    return f"--expect-jq needs the whole body: it was cut at --max-body-bytes {limit} (raise it)"


__all__ = ["MISSING", "JqChecks", "checks_for", "compile_problem", "memory_limit", "time_limit", "whole_body"]
