"""A/B: two (or more) fetchcli installs, and raw aiohttp, in interleaved rounds on one server.

    python bench/ab.py --side before=/tmp/perf-before/.venv/bin/python --side after=.venv/bin/python
    python bench/ab.py --side tuned=.venv/bin/python --side gcdefault=.venv/bin/python:FETCHCLI_GC=default

Each side is ``NAME=PYTHON[:VAR=VALUE,...]``: that interpreter runs ``-m fetchcli -i FILE -c 100
-q -f jsonl -o OUT`` and the arguments ``--args NAME='...'`` gives it (``{state}``: a new file
each run), on the ``small`` workload of bench/run.py (distinct URLs on one host,
1,000-byte bodies; nginx when installed, else bench/server.py), with those variables set. Raw
aiohttp (bench/peers/aiohttp_peer.py, this interpreter) runs in the same rounds. Every round runs
each side once, in a rotating order; the figures are each process's own CPU (user + sys, from
``wait4``), its wall time and its peak RSS. Prints medians and min-max per side, and the ratios
to raw aiohttp. Meant for a shared machine: compare within one run, CPU first.

``--startup``: instead, ``-m fetchcli -q URL`` for one URL, ``-m fetchcli --help``, ``-m fetchcli
--version``, the ``fetchcli`` console script next to the side's python with ``-q URL``, and
``python -c pass``, interleaved, ``--rounds`` times each: CPU and wall time per process, and the
ratio to ``python -c pass``.

Every process runs without ``PYTHONDONTWRITEBYTECODE`` (an installed package has its ``.pyc``
files; a development environment that sets it compiles fetchcli's modules on every run, about
100 ms of start-up), after one warm-up run of each side that writes them.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import HERE, PY, Builtin, Nginx, Server, free_port, workload_urls, write_urls


def _side(text: str) -> tuple[str, str, dict[str, str]]:
    name, _, rest = text.partition("=")
    python, _, variables = rest.partition(":")
    env = dict(item.split("=", 1) for item in variables.split(",") if item)
    return name, python, env


# Every process starts in an empty folder: ``python -m fetchcli`` puts the working directory first
# on sys.path, so from a checkout every side would run that checkout's fetchcli.
_NEUTRAL = tempfile.mkdtemp(prefix="fetchcli-ab-")


def _named(text: str) -> tuple[str, str]:
    name, _, rest = text.partition("=")
    return name, rest


def _where(python: str, env: dict[str, str]) -> str:
    """The fetchcli ``python`` runs with ``env`` (its package folder)."""
    code = "import fetchcli, os; print(os.path.dirname(fetchcli.__file__))"
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, cwd=_NEUTRAL, env={**os.environ, **env})
    return done.stdout.strip()


def _timed(cmd: list[str], env: dict[str, str]) -> dict[str, float]:
    for arg in cmd:  # a {state} file: new for every run
        if arg.endswith("state.db"):
            for suffix in ("", "-wal", "-shm"):
                Path(arg + suffix).unlink(missing_ok=True)
    started = time.perf_counter()
    base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    proc = subprocess.Popen(cmd, env={**base, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=_NEUTRAL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode not in (0,):
        raise SystemExit(f"{cmd[:3]} exited {proc.returncode}: {err[-500:]}")
    return {"cpu": usage.ru_utime + usage.ru_stime, "wall": wall, "rss_mb": usage.ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--side", action="append", required=True, help="NAME=PYTHON[:VAR=VALUE,...]")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("-n", type=int, default=10_000)
    parser.add_argument("-c", type=int, default=100)
    parser.add_argument("--no-raw", action="store_true", help="leave raw aiohttp out")
    parser.add_argument("--json", type=Path, help="write the samples here")
    parser.add_argument(
        "--args",
        action="append",
        default=[],
        help="NAME='ARGS': more fetchcli arguments for side NAME ({state}: a new file)",
    )
    parser.add_argument("--startup", action="store_true", help="time `-m fetchcli -q URL` and `python -c pass`")
    args = parser.parse_args()
    sides = [_side(text) for text in args.side]
    for name, python, env in sides:
        print(f"{name}: {python} runs {_where(python, env)}", file=sys.stderr)
    if args.startup:
        _startup(sides, args.rounds)
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        port = free_port()
        server: Server
        try:
            server = Nginx(port, work / "nginx")
        except (FileNotFoundError, OSError):
            server = Builtin(port)
        url_file = write_urls(work / "urls.txt", workload_urls("small", port, args.n))
        out = work / "out.jsonl"
        state = work / "state.db"  # {state}: removed before every run, so each run makes a new file
        extra = {name: shlex.split(text.replace("{state}", str(state))) for name, text in map(_named, args.args)}
        runs: list[tuple[str, list[str], dict[str, str]]] = [
            (
                name,
                [
                    *(python, "-m", "fetchcli", "-i", str(url_file), "-c", str(args.c)),
                    *("-q", "-f", "jsonl", "-o", str(out), *extra.get(name, [])),
                ],
                env,
            )
            for name, python, env in sides
        ]
        if not args.no_raw:
            runs.append(("raw aiohttp", [PY, str(HERE / "peers" / "aiohttp_peer.py"), str(url_file), str(args.c)], {}))
        samples: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in runs}
        try:
            for _ in range(1):  # warm-up: caches, nginx
                for _, cmd, env in runs:
                    _timed(cmd, env)
            for r in range(args.rounds):
                order = runs[r % len(runs) :] + runs[: r % len(runs)]
                for name, cmd, env in order:
                    samples[name].append(_timed(cmd, env))
                    if cmd[1] == "-m":
                        lines = out.read_text().count("\n")
                        if lines != args.n:
                            raise SystemExit(f"{name}: {lines} records, not {args.n}")
                print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
        finally:
            server.stop()
    raw = samples.get("raw aiohttp")
    print(f"server: {server.kind}; {args.n} URLs at -c {args.c}; {args.rounds} interleaved rounds\n")
    print("| side | CPU ms/request median (min-max) | req/s median (min-max) | peak RSS MB | CPU ÷ raw | rate ÷ raw |")
    print("|---|---|---|---|---|---|")
    for name, got in samples.items():
        cpu = [s["cpu"] * 1000 / args.n for s in got]
        rate = [args.n / s["wall"] for s in got]
        ratio_cpu = ratio_rate = ""
        if raw and name != "raw aiohttp":
            raw_cpu = statistics.median(s["cpu"] for s in raw)
            raw_rate = statistics.median(args.n / s["wall"] for s in raw)
            ratio_cpu = f"{statistics.median(cpu) / (raw_cpu * 1000 / args.n):.2f}x"
            ratio_rate = f"{statistics.median(rate) / raw_rate:.2f}x"
        print(
            f"| {name} | {statistics.median(cpu):.3f} ({min(cpu):.3f}-{max(cpu):.3f}) "
            f"| {statistics.median(rate):,.0f} ({min(rate):,.0f}-{max(rate):,.0f}) "
            f"| {statistics.median(s['rss_mb'] for s in got):.1f} | {ratio_cpu} | {ratio_rate} |"
        )
    if args.json:
        args.json.write_text(json.dumps(samples, indent=1))


def _startup(sides: list[tuple[str, str, dict[str, str]]], rounds: int) -> None:
    port = free_port()
    server = Builtin(port)
    url = f"http://127.0.0.1:{port}/p/0"
    runs: list[tuple[str, list[str], dict[str, str]]] = []
    for name, python, env in sides:
        runs.append((name, [python, "-m", "fetchcli", "-q", url], env))
        runs.append((f"{name} --help", [python, "-m", "fetchcli", "--help"], env))
        runs.append((f"{name} --version", [python, "-m", "fetchcli", "--version"], env))
        script = Path(python).parent / "fetchcli"  # the console script `pip install` made
        if script.exists():
            runs.append((f"{name} (console script)", [str(script), "-q", url], env))
    runs.append(("python -c pass", [PY, "-c", "pass"], {}))
    samples: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in runs}
    try:
        for _, cmd, env in runs:  # warm-up: writes the .pyc files
            _timed(cmd, env)
        for r in range(rounds):
            for name, cmd, env in runs[r % len(runs) :] + runs[: r % len(runs)]:
                samples[name].append(_timed(cmd, env))
    finally:
        server.stop()
    base_cpu = statistics.median(s["cpu"] for s in samples["python -c pass"])
    base_wall = statistics.median(s["wall"] for s in samples["python -c pass"])
    print(f"{rounds} interleaved rounds, one URL on bench/server.py\n")
    print("| command | CPU ms median (min-max) | wall ms median (min-max) | CPU ÷ pass | wall ÷ pass |")
    print("|---|---|---|---|---|")
    for name, got in samples.items():
        cpu = [s["cpu"] * 1000 for s in got]
        wall = [s["wall"] * 1000 for s in got]
        print(
            f"| {name} | {statistics.median(cpu):.0f} ({min(cpu):.0f}-{max(cpu):.0f}) "
            f"| {statistics.median(wall):.0f} ({min(wall):.0f}-{max(wall):.0f}) "
            f"| {statistics.median(cpu) / 1000 / base_cpu:.1f}x | {statistics.median(wall) / 1000 / base_wall:.1f}x |"
        )


if __name__ == "__main__":
    main()
