"""The process that evaluates ``--expect-jq`` (started by ``jqcheck``): the jq library runs its
programs in C holding the GIL, so a pathological expression (``[range(1e9)]``) would freeze the
event loop and every timer of the run; in a process of its own it can be killed.

Self-contained: run with ``python -c`` from this file's text (``jqcheck.child_command``), it
imports nothing of fetchcli (whose package would load the engine). It reads one header line (JSON:
the expression and the memory limit in bytes), then answers each body it is sent (an 8-byte
big-endian length, then the bytes) with one JSON line: ``{"why": null}`` when the expression
yields only ``true``, else why not (raw: the parent cleans and bounds it). ``judge`` is the rule.
With ``"compile_only": true`` in the header it only compiles the expression and answers once:
``{}``, ``{"missing": true}`` (no jq package) or ``{"error": jq's message}`` (the CLI's check:
libjq can abort the process on some programs, and that process must not be fetchcli's).
"""

import codecs
import json
import re
import sys
from typing import Any, BinaryIO

# jq's module directives, which may only open a program (after blanks and # comments): jq would
# load ``import "x"`` from the working directory and its search path (and libjq 1.6, in the jq
# package's early wheels, aborts the process on a module it cannot find). Refused, here and by
# ``jqcheck.compile_problem``.
# A comment runs to its line's end and no further ((?![^\n])): one way to read each '#', never
# the exponential ways of "# ####...", nor "import" inside a comment.
DIRECTIVE = re.compile(r"(?:\s|#[^\n]*(?![^\n]))*(?:module|import|include)\b")
DIRECTIVE_REFUSED = "takes no import, include or module directive: jq would load their code from files"

SHOWN = 120  # characters of a value or a message the answer quotes at most


def _quote(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= SHOWN else text[:SHOWN] + "..."


def _reject(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _syntax_problem(text: str) -> str | None:
    """Why ``text`` is not one JSON document (RFC 8259), else None; values are not built."""
    if not text.strip():
        return "it is empty"
    try:
        json.loads(text, parse_int=len, parse_float=len, parse_constant=_reject)
    except ValueError as exc:  # JSONDecodeError, NaN/Infinity
        return str(exc)
    except RecursionError:
        return "nested too deeply"
    return None


def judge(program: Any, data: bytes) -> str | None:
    """None when ``program`` (a compiled jq program), run on ``data`` parsed as one JSON document
    (UTF-8, as RFC 8259 says; a leading BOM ignored), yields at least one output and every output
    is ``true``; else why not. Stops at the first output that is not ``true``."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"the body is not JSON: not UTF-8 (byte {exc.start})"
    problem = _syntax_problem(text)
    if problem is not None:
        return f"the body is not JSON: {problem}"
    count = 0
    try:
        for value in program.input(text=text):
            count += 1
            if value is not True:
                which = "" if count == 1 else f" (output {count})"
                return f"--expect-jq yielded {_quote(value)}{which}, not true"
    except ValueError as exc:  # a jq runtime error: error("..."), .a on a string
        return f"--expect-jq failed: jq error: {str(exc)[: SHOWN * 2]}"
    except MemoryError:
        return "--expect-jq ran out of memory"
    if count == 0:
        return "--expect-jq yielded nothing (it must yield true)"
    return None


def _limit_memory(limit: int) -> None:
    """The address space this process may take (jq aborts when it cannot allocate more), and
    death with its parent (Linux), which cannot otherwise stop a jq loop that holds the GIL."""
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):
        pass
    try:  # PR_SET_PDEATHSIG: signalled when the thread that started it ends (jqcheck: it never does)
        import ctypes
        import signal

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)
    except Exception:  # noqa: BLE001 - not Linux: no such call (the closed pipe still ends it between bodies)
        pass


def _read(stream: BinaryIO, size: int) -> bytes | None:
    data = stream.read(size)
    return data if len(data) == size else None


def _compiled(expression: str) -> tuple[Any, dict[str, Any]]:
    """The compiled program, or None and what is wrong: ``{"missing": True}`` (no jq package)
    or ``{"error": jq's message}``."""
    try:
        import jq

        if DIRECTIVE.match(expression):  # the CLI refuses these; so does a library run
            raise ValueError(DIRECTIVE_REFUSED)
        return jq.compile(expression), {}
    except ImportError:
        return None, {"missing": True}
    except ValueError as exc:
        return None, {"error": str(exc)}


def serve(stdin: BinaryIO, stdout: BinaryIO) -> None:
    header = json.loads(stdin.readline())
    _limit_memory(int(header["memory"]))
    program, problem = _compiled(header["expression"])
    if header.get("compile_only"):
        _answer(stdout, problem)
        return
    broken: str | None = None
    if problem.get("missing"):
        broken = "--expect-jq needs the jq package"
    elif "error" in problem:
        broken = f"--expect-jq does not compile: {problem['error'][: SHOWN * 2]}"
    while (size := _read(stdin, 8)) is not None:
        data = _read(stdin, int.from_bytes(size, "big"))
        if data is None:
            return
        try:
            why = broken if broken is not None else judge(program, data)
        except Exception as exc:  # noqa: BLE001 - whatever jq or a conversion raises: the answer says so
            why = f"--expect-jq failed: {type(exc).__name__}: {str(exc)[:SHOWN]}"
        _answer(stdout, {"why": why})


def _answer(stdout: BinaryIO, answer: dict[str, Any]) -> None:
    stdout.write(json.dumps(answer).encode() + b"\n")
    stdout.flush()


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
