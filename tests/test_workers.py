"""--workers P: one run over several processes, with every limit still the whole run's, input
order kept, Ctrl-C and --deadline clean, and a worker that dies reported, not hung on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from fetchcli.engine.workers import worker_count, worker_settings
from fetchcli.settings import PolitenessSettings, PoolSettings, Settings
from tests.server import LoopbackServer

FETCHCLI = [sys.executable, "-m", "fetchcli"]


def _records(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


def test_limits_are_split_so_that_their_sums_are_the_flags() -> None:
    settings = Settings(
        pool=PoolSettings(max_connections=9, max_keepalive=5),
        politeness=PolitenessSettings(per_host=2, rate=10.0, host_rate=1.0),
        workers=2,
    )
    share = worker_settings(settings, worker_count(settings))
    assert share.pool.max_connections == 4 and share.pool.max_keepalive == 2  # 2 x 4 <= 9
    # Hosts are routed (per_host, host_rate): the parent paces --rate, each worker at most at it.
    assert share.politeness.rate == 10.0
    assert (share.politeness.per_host, share.politeness.host_rate) == (2, 1.0)  # whole: hosts are routed
    alone = Settings(politeness=PolitenessSettings(rate=10.0), workers=2)
    assert worker_settings(alone, worker_count(alone)).politeness.rate == 5.0  # URLs go to each in turn
    assert worker_count(Settings(pool=PoolSettings(max_connections=1), workers=4)) == 1


def test_two_workers_fetch_every_url_once_in_input_order(fresh_server: LoopbackServer, tmp_path: Path) -> None:
    listing = tmp_path / "urls.txt"
    urls = [fresh_server.url(f"/slow/{(n * 7) % 30}?n={n}") for n in range(600)]
    listing.write_text("\n".join([*urls, "ftp://not-fetched"]) + "\n")
    done = subprocess.run(
        [*FETCHCLI, "--workers", "2", "--max-connections", "10", "-c", "40", "--summary", "-i", str(listing)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr  # the ftp:// line: one failure, for the whole run
    records = _records(done.stdout)
    assert [r["index"] for r in records] == list(range(601))  # input order, each once
    assert [r["url"] for r in records[:600]] == urls and all(r["ok"] for r in records[:600])
    assert fresh_server.stats.requests == 600
    assert fresh_server.stats.max_open <= 10  # --max-connections: a bound on the whole run
    assert done.stderr.split(" ", 1)[1].startswith("601 URLs: 600 ok, 1 failed (1 InvalidURL)")  # after the time


def test_per_host_holds_across_workers(fresh_server: LoopbackServer) -> None:
    hosts = ("127.0.0.1", "localhost")
    urls = [fresh_server.url(f"/slow/30?h={n}").replace("127.0.0.1", hosts[n % 2]) for n in range(40)]
    done = subprocess.run(
        [*FETCHCLI, "--workers", "2", "--per-host", "1", *urls], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert max(fresh_server.stats.max_inflight_by_host.values()) == 1


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc: the worker processes)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def test_ctrl_c_stops_every_worker_and_reports_every_url_started(fresh_server: LoopbackServer) -> None:
    urls = [fresh_server.url(f"/hang?w={n}") for n in range(20)]
    proc = subprocess.Popen(
        [*FETCHCLI, "--workers", "2", "-c", "8", *urls], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    limit = time.monotonic() + 60
    while fresh_server.stats.requests < 8 and time.monotonic() < limit:  # 8 in flight, over both workers
        time.sleep(0.01)
    workers = _children(proc.pid)
    assert len(workers) == 2
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    records = _records(out)
    types = [r["error"]["type"] for r in records]  # type: ignore[index]
    # 8 in flight; the other 12 were read ahead (admission.py) and never started
    assert types.count("Cancelled") == 8 and types.count("NotStarted") == 12
    assert "Traceback" not in err
    for pid in workers:  # gone: not left behind holding connections
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()


def test_a_worker_that_dies_fails_its_urls_and_the_run_goes_on(fresh_server: LoopbackServer) -> None:
    urls = [fresh_server.url(f"/hang?dies={n}") for n in range(4)] + [fresh_server.url("/ok/after")]
    proc = subprocess.Popen(
        [*FETCHCLI, "--workers", "2", "-c", "4", "--max-time", "3", *urls],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    limit = time.monotonic() + 60
    while fresh_server.stats.requests < 4 and time.monotonic() < limit:
        time.sleep(0.01)
    victim = _children(proc.pid)[0]
    os.kill(victim, signal.SIGKILL)
    out, _ = proc.communicate(timeout=60)
    records = _records(out)
    assert [r["index"] for r in records] == list(range(5))
    types = [r["error"]["type"] if r["error"] else None for r in records]  # type: ignore[index]
    assert "Unexpected" in types  # the dead worker's URLs, said so
    assert types[4] is None  # the URL after them: fetched by the worker that is left
    assert all(t in ("Unexpected", "TotalTimeout", None) for t in types)
    assert proc.returncode == 1


def test_deadline_with_workers_reports_the_rest_as_not_started(fresh_server: LoopbackServer) -> None:
    urls = [fresh_server.url(f"/hang?d={n}") for n in range(4)] + [fresh_server.url(f"/ok/late{n}") for n in range(10)]
    done = subprocess.run([*FETCHCLI, "--workers", "2", "-c", "4", "--deadline", "1", *urls],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    records = _records(done.stdout)
    assert [r["index"] for r in records] == list(range(14))
    types = [r["error"]["type"] for r in records]  # type: ignore[index]
    assert types == ["Cancelled"] * 4 + ["NotStarted"] * 10
    assert done.returncode == 1


@dataclass
class _Load:
    """A worker as routing sees it (fetchcli.engine.routing.Load): no process."""

    number: int
    alive: bool = True
    inflight: int = 0
    routed: int = 0


def test_under_per_host_limits_a_host_goes_to_one_worker_whatever_its_port() -> None:
    """The Gate counts a host without its port (request.py), so routing does too: two ports of
    one host land in the same worker, which then enforces --per-host over both."""
    from fetchcli.engine.workers import WorkerPool
    from fetchcli.models import UrlItem

    pool = WorkerPool(Settings(politeness=PolitenessSettings(per_host=1), workers=4))  # starts no process
    workers = [_Load(n) for n in range(4)]
    for host in ("127.0.0.1", "example.com", "[::1]"):
        chosen = {
            pool.router.choose(UrlItem(n, url, url), workers).number
            for n, url in enumerate((f"http://{host}:8080/a", f"https://{host}/b", f"http://user@{host.upper()}:9/c"))
        }
        assert len(chosen) == 1, (host, chosen)


def test_a_host_goes_to_its_own_worker_unless_that_one_is_busier() -> None:
    """Without politeness limits: a URL goes to its host's worker (where connections to the host
    may be idle), so a list of more hosts than connections still reuses them; when that worker
    has a quarter of its share more in flight than the least busy, or no connection free, the
    least busy takes the URL, so a list of one host keeps every worker busy."""
    from fetchcli.engine.workers import WorkerPool
    from fetchcli.models import UrlItem

    pool = WorkerPool(Settings(workers=2))  # -c 100, 100 connections: 50 each, slack 12; no process
    workers = [_Load(n) for n in range(2)]
    url = "http://one.test/"
    home = pool.router.choose(UrlItem(0, url, url), workers)
    other = workers[1 - home.number]
    assert all(pool.router.choose(UrlItem(n, url, url), workers) is home for n in range(5))
    home.inflight, other.inflight = 12, 0
    assert pool.router.choose(UrlItem(1, url, url), workers) is home  # within the slack
    home.inflight = 13
    assert pool.router.choose(UrlItem(2, url, url), workers) is other
    routed = []
    home.inflight = other.inflight = 0
    for n in range(100):  # a one-host burst of 100: both workers get their share
        worker = pool.router.choose(UrlItem(n, url, url), workers)
        worker.inflight += 1
        routed.append(worker.number)
    assert 38 <= routed.count(home.number) <= 50 and routed.count(other.number) >= 50 - 12
    home.inflight = other.inflight = 0
    hosts = [f"http://h{n}.test/" for n in range(40)]
    homes = [pool.router.choose(UrlItem(0, u, u), workers).number for u in hosts]
    assert [pool.router.choose(UrlItem(0, u, u), workers).number for u in hosts] == homes  # each host its worker
    assert set(homes) == {0, 1}  # hosts spread over both
