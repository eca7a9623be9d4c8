"""fetchcli's memory against the length of its input: peak RSS for 10,000 and 1,000,000 URLs.

    python bench/scale.py                  # 10k and 1M URLs: default, --unique, --workers 2
    python bench/scale.py --sizes 10000,100000 --variants default,table,json,completion
    python bench/scale.py --variants default,state       # --state FILE against none (issue 21)

A benchmark, not a test (a million requests take minutes). Same server as bench/run.py (nginx
when installed, else bench/server.py), `small` URLs (distinct, one host, 1,000-byte bodies).
Each run is a whole `fetchcli` process; its resident memory, with its workers', is sampled from
/proc every 0.1 s. Prints a markdown table and writes JSON. Nothing leaves 127.0.0.0/8.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import PY, Builtin, Nginx, Server, free_port, workload_urls, write_urls

VARIANTS: dict[str, list[str]] = {
    "default": [],  # jsonl in input order: what a pipe to jq gets
    "table": ["-f", "table"],
    "json": ["-f", "json"],
    "csv": ["-f", "csv"],
    "completion": ["--order", "completion"],
    "unique": ["--unique"],
    "workers2": ["--workers", "2"],
    "state": ["--state", "{state}"],  # a new state file per run (issue 21): its memory must stay flat too
}


def _tree_rss_mb(root: int) -> float:
    """Resident memory of ``root`` and its child processes (the workers), from /proc."""
    total_kb = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(entry.name) != root and int(stat.rsplit(")", 1)[1].split()[1]) != root:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except (OSError, ValueError):
            continue
    return total_kb / 1024


def measure(url_file: Path, extra: list[str]) -> tuple[float, float, int]:
    """(peak resident MB of the process and its workers together, wall seconds, exit status)."""
    cmd = [PY, "-m", "fetchcli", "-i", str(url_file), "-q", "-o", os.devnull, *extra]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak_tree = 0.0
    while proc.poll() is None:
        peak_tree = max(peak_tree, _tree_rss_mb(proc.pid))
        time.sleep(0.1)
    return peak_tree, time.perf_counter() - started, proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--variants", default="default,unique,workers2", help=f"of: {', '.join(VARIANTS)}")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "scale.json"))
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    variants = args.variants.split(",")
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="fetchcli-scale-") as folder:
        tmp = Path(folder)
        port = free_port()
        server: Server = Nginx(port, tmp / "nginx") if _has_nginx() else Builtin(port)
        try:
            for n in sizes:
                url_file = write_urls(tmp / f"urls-{n}.txt", workload_urls("small", port, n))
                for variant in variants:
                    extra = [str(tmp / f"state-{n}-{variant}.db") if a == "{state}" else a for a in VARIANTS[variant]]
                    tree, wall, status = measure(url_file, extra)
                    rows.append({"urls": n, "variant": variant, "peak_rss_mb": round(tree, 1),
                                 "wall_s": round(wall, 1), "req_s": round(n / wall), "exit": status})  # fmt: skip
                    print(f"  {n:,} URLs, {variant}: {tree:.1f} MB, {wall:.1f} s", file=sys.stderr)
        finally:
            server.stop()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"server: {server.kind}\n")  # fmt: skip
    print("| URLs | variant | peak RSS MB (process and workers) | wall s | req/s |\n|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['urls']:,} | {row['variant']} | {row['peak_rss_mb']} | {row['wall_s']} | {row['req_s']:,} |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"rows": rows, "server": server.kind}, indent=2) + "\n")


def _has_nginx() -> bool:
    import shutil

    return shutil.which("nginx") is not None


if __name__ == "__main__":
    main()
