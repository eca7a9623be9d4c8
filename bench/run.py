"""fetchcli's benchmark: fetchcli beside its peers, on loopback only, in one run.

    python bench/run.py                  # every workload, 3 interleaved repetitions
    python bench/run.py --quick          # small sizes, 1 repetition: a smoke test
    python bench/run.py --workloads small,latency --reps 5

Starts nginx when it is on the PATH (apt-get install nginx-light wrk), else bench/server.py,
and says which. Prints a markdown table per workload with ratios to fetchcli, and writes JSON
to bench/results/latest.json. Peers: the textbook httpx recipe, requests + threads, aiohttp,
and curl --parallel when installed. Nothing here leaves 127.0.0.0/8.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
PY = sys.executable
HOSTS = [f"127.0.{n // 250}.{n % 250 + 2}" for n in range(200)]  # 200 loopback addresses, no DNS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    kind = ""

    def __init__(self, port: int) -> None:
        self.port = port

    def accepted(self) -> int:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


class Nginx(Server):
    kind = "nginx"

    def __init__(self, port: int, workdir: Path) -> None:
        super().__init__(port)
        self.dir = workdir
        (workdir / "large").mkdir(parents=True)
        for folder in (workdir, workdir.parent):  # nginx's workers run unprivileged
            folder.chmod(0o755)
        (workdir / "large" / "file").write_bytes(b"y" * (1024 * 1024))
        self.tls_port = free_port()
        cert, key = _self_signed(workdir)
        echo = Path("/usr/lib/nginx/modules/ngx_http_echo_module.so")
        self.has_echo = echo.exists()
        listens = "\n".join(f"    listen {host}:{port};" for host in ["127.0.0.1", *HOSTS])
        delay = 'echo_sleep 0.05; echo "delayed";' if self.has_echo else 'return 200 "no echo module";'
        (workdir / "nginx.conf").write_text(
            f"""
worker_processes 1;
daemon off;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
{"load_module " + str(echo) + ";" if self.has_echo else ""}
events {{ worker_connections 8192; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  client_body_temp_path {workdir}; proxy_temp_path {workdir}; fastcgi_temp_path {workdir};
  uwsgi_temp_path {workdir}; scgi_temp_path {workdir};
  server {{
{listens}
    root {workdir};
    location /p/ {{ default_type text/plain; return 200 "{"x" * 1000}"; }}
    location /delay/ {{ default_type text/plain; {delay} }}
    location /large/ {{ default_type text/plain; try_files /large/file =404; }}
    location = /__stats {{ stub_status; }}
  }}
  server {{
    listen 127.0.0.1:{self.tls_port} ssl http2;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    location /p/ {{ default_type text/plain; return 200 "{"x" * 1000}"; }}
  }}
}}
"""
        )
        self.proc = subprocess.Popen(
            ["nginx", "-c", str(workdir / "nginx.conf"), "-p", str(workdir)], stderr=subprocess.DEVNULL
        )
        wait_ready(port)

    def accepted(self) -> int:
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.port}/__stats", timeout=5).read().decode()
        return int(text.splitlines()[2].split()[0])

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGQUIT)
        self.proc.wait(timeout=10)


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with cryptography (a fetchcli dependency)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = folder / "tls.pem", folder / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class Builtin(Server):
    kind = "built-in (bench/server.py)"
    has_echo = True

    def __init__(self, port: int) -> None:
        super().__init__(port)
        self.proc = subprocess.Popen([PY, str(HERE / "server.py"), str(port), "127.0.0.1", *HOSTS])
        wait_ready(port)

    def accepted(self) -> int:
        return int(urllib.request.urlopen(f"http://127.0.0.1:{self.port}/__stats", timeout=5).read())

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def wait_ready(port: int) -> None:
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"benchmark server did not start on port {port}")


@dataclass
class Sample:
    wall: float
    cpu: float
    rss_mb: float
    connections: int


@dataclass
class Row:
    client: str
    samples: list[Sample] = field(default_factory=list)
    extra: dict[str, float] = field(default_factory=dict)


def run_measured(cmd: list[str], server: Server) -> Sample:
    before = server.accepted()
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode not in (0, 1):  # 1: fetchcli's "some URL failed" is data, not a crash
        raise SystemExit(f"{cmd[:3]} failed ({proc.returncode}): {err[-500:]}")
    # Minus one: the "before" status request's own connection is counted in "after".
    return Sample(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, server.accepted() - before - 1)


def tls_clients(url_file: Path, concurrency: int) -> dict[str, list[str]]:
    """The `tls` workload: fetchcli over HTTP/1.1 and HTTP/2, curl both ways (-k: a self-signed
    certificate; the Python peers have no such switch and are left out)."""
    fetchcli = [PY, "-m", "fetchcli", "-k", "-i", str(url_file), "-c", str(concurrency), "-q", "-o", os.devnull]
    found = {"fetchcli": fetchcli, "fetchcli --http2": [*fetchcli, "--http2"]}
    if shutil.which("curl"):
        config = url_file.with_suffix(".curl")
        config.write_text(
            "insecure\n" + "".join(f'url = "{u}"\noutput = "/dev/null"\n' for u in url_file.read_text().split())
        )
        curl = ["curl", "--parallel", "--parallel-max", str(concurrency), "-s", "-K", str(config)]
        found["curl --http1.1"] = [*curl, "--http1.1"]
        found["curl --http2"] = [*curl, "--http2"]
    return found


def clients(url_file: Path, concurrency: int) -> dict[str, list[str]]:
    fetchcli = [PY, "-m", "fetchcli", "-i", str(url_file), "-c", str(concurrency), "--max-connections", str(concurrency),
                "-q", "-o", os.devnull]  # fmt: skip
    found = {
        "fetchcli": fetchcli,
        "fetchcli --workers 2": [*fetchcli, "--workers", "2"],
        "httpx textbook": [PY, str(HERE / "peers" / "httpx_textbook.py"), str(url_file), str(concurrency)],
        "requests + threads": [PY, str(HERE / "peers" / "requests_threads.py"), str(url_file), str(concurrency)],
        "aiohttp": [PY, str(HERE / "peers" / "aiohttp_peer.py"), str(url_file), str(concurrency)],
    }
    if shutil.which("curl"):
        config = url_file.with_suffix(".curl")
        config.write_text("".join(f'url = "{u}"\noutput = "/dev/null"\n' for u in url_file.read_text().split()))
        found["curl --parallel"] = ["curl", "--parallel", "--parallel-max", str(concurrency), "-s", "-K", str(config)]
    return found


def write_urls(path: Path, urls: list[str]) -> Path:
    path.write_text("\n".join(urls) + "\n")
    return path


def workload_urls(name: str, port: int, n: int) -> list[str]:
    if name == "small":
        return [f"http://127.0.0.1:{port}/p/{i}" for i in range(n)]
    if name in ("latency", "latency500"):
        return [f"http://127.0.0.1:{port}/delay/{i}" for i in range(n)]
    if name == "hosts":
        return [f"http://{HOSTS[i % len(HOSTS)]}:{port}/p/{i}" for i in range(n)]
    if name == "large":
        return [f"http://127.0.0.1:{port}/large/{i}" for i in range(n)]
    if name == "tls":  # port: the TLS server's
        return [f"https://127.0.0.1:{port}/p/{i}" for i in range(n)]
    raise ValueError(name)


def bench_workload(
    name: str, n: int, concurrency: int, reps: int, server: Server, tmp: Path, only: set[str] | None
) -> list[Row]:
    port = getattr(server, "tls_port", server.port) if name == "tls" else server.port
    url_file = write_urls(tmp / f"{name}.txt", workload_urls(name, port, n))
    chosen = tls_clients(url_file, concurrency) if name == "tls" else clients(url_file, concurrency)
    if name == "latency500":  # the textbook recipe would take minutes a repetition here
        chosen.pop("httpx textbook", None)
    if name == "hosts":  # a pool larger than the 200 hosts: every host keeps its connection
        fetchcli = chosen["fetchcli"]
        at = fetchcli.index("--max-connections") + 1
        wide = {"fetchcli --max-connections 250": [*fetchcli[:at], "250", *fetchcli[at + 1 :]]}
        chosen = {"fetchcli": fetchcli, **wide, **chosen}
    commands = {k: v for k, v in chosen.items() if only is None or k in only}
    rows = {client: Row(client) for client in commands}
    for rep in range(reps):
        for client, cmd in commands.items():
            sample = run_measured(cmd, server)
            rows[client].samples.append(sample)
            print(f"  {name} rep {rep + 1}/{reps} {client}: {n / sample.wall:,.0f} req/s", file=sys.stderr)
    if name == "large":  # bytes fetchcli read per response, from its own records
        out = tmp / "large.jsonl"
        subprocess.run([*commands["fetchcli"][:-2], "-o", str(out)], check=False)
        reads = [json.loads(line)["bytes_read"] for line in out.read_text().splitlines()]
        rows["fetchcli"].extra["max_bytes_read"] = max(reads)
    return list(rows.values())


def median(values: list[float]) -> float:
    return statistics.median(values)


def summarise(name: str, rows: list[Row], n: int, concurrency: int) -> list[dict[str, object]]:
    table = []
    for row in rows:
        wall = median([s.wall for s in row.samples])
        entry: dict[str, object] = {
            "client": row.client,
            "req_per_s": n / wall,
            "cpu_s_per_1k": median([s.cpu for s in row.samples]) / n * 1000,
            "peak_rss_mb": max(s.rss_mb for s in row.samples),
            "connections": max(s.connections for s in row.samples),
            **row.extra,
        }
        if name.startswith("latency"):
            entry["efficiency"] = (n * 0.05 / concurrency) / wall
        table.append(entry)
    return table


def markdown(name: str, table: list[dict[str, object]]) -> str:
    base = next((float(str(e["req_per_s"])) for e in table if e["client"] == "fetchcli"), None)
    cols = ["client", "req/s", "fetchcli ÷ it", "CPU s / 1k req", "peak RSS MB", "TCP conns"]
    if name.startswith("latency"):
        cols.append("efficiency")
    lines = [f"**{name}**", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for e in table:
        rate = float(str(e["req_per_s"]))
        cells = [
            str(e["client"]),
            f"{rate:,.0f}",
            f"{base / rate:.2f}x" if base else "",
            f"{float(str(e['cpu_s_per_1k'])):.2f}",
            f"{float(str(e['peak_rss_mb'])):.0f}",
            str(e["connections"]),
        ]
        if name.startswith("latency"):
            cells.append(f"{float(str(e['efficiency'])):.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    extra = [e for e in table if "max_bytes_read" in e]
    if extra:
        lines += ["", f"fetchcli read at most {extra[0]['max_bytes_read']:,} bytes of any 1 MiB response."]
    return "\n".join(lines)


def startup(port: int) -> str:
    def best(cmd: list[str], runs: int = 7) -> float:
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            times.append(time.perf_counter() - started)
        return median(times) * 1000

    url = f"http://127.0.0.1:{port}/p/startup"
    rows = [
        ("python -c pass", best([PY, "-c", "pass"])),
        ("fetchcli --version", best([PY, "-m", "fetchcli", "--version"])),
        ("fetchcli URL", best([PY, "-m", "fetchcli", "-q", url])),
    ]
    if shutil.which("curl"):
        rows.append(("curl URL", best(["curl", "-s", "-o", os.devnull, url])))
    lines = ["**startup** (median of 7 whole processes)", "", "| command | ms |", "|---|---|"]
    lines += [f"| {name} | {ms:.0f} |" for name, ms in rows]
    return "\n".join(lines)


def ceiling(port: int) -> str:
    if not shutil.which("wrk"):
        return "server ceiling: wrk not installed (apt-get install wrk)"
    out = subprocess.run(
        ["wrk", "-t1", "-c100", "-d3s", f"http://127.0.0.1:{port}/p/ceiling"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    rate = next((line.split()[1] for line in out.splitlines() if line.startswith("Requests/sec")), "?")
    return (
        f"server ceiling (wrk -t1 -c100, small): {float(rate):,.0f} req/s"
        if rate != "?"
        else "server ceiling: wrk failed"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", default="small,latency,latency500,hosts,large,tls,startup")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small sizes and 1 repetition")
    parser.add_argument("--clients", default=None, help="comma-separated subset of clients")
    parser.add_argument("--server", choices=["auto", "nginx", "builtin"], default="auto")
    parser.add_argument("--out", default=str(HERE / "results" / "latest.json"))
    args = parser.parse_args()
    reps = 1 if args.quick else args.reps
    sizes = {"small": 10_000, "latency": 10_000, "latency500": 20_000, "hosts": 10_000, "large": 200, "tls": 2_000}
    if args.quick:
        sizes = {"small": 1_000, "latency": 500, "latency500": 1_000, "hosts": 1_000, "large": 50, "tls": 500}
    # Requests in flight: 100, except latency500, which asks what -c 500 costs when every
    # response waits 50 ms (the server's delay is the same; only the concurrency changes).
    concurrency = {"latency500": 500}
    only = set(args.clients.split(",")) | {"fetchcli"} if args.clients else None
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="fetchcli-bench-") as tmpdir:
        tmp = Path(tmpdir)
        use_nginx = args.server == "nginx" or (args.server == "auto" and shutil.which("nginx"))
        server: Server = Nginx(port, tmp / "nginx") if use_nginx else Builtin(port)
        report = {
            "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
            "server": server.kind,
            "ceiling": ceiling(port),
            "workloads": {},
        }
        sys.path.insert(0, str(HERE / "peers"))
        import loop

        report["event_loop"] = loop.name()
        sections = [
            f"machine: {report['machine']}; server: {server.kind}; {report['ceiling']}; event loop of fetchcli "
            f"and the asyncio peers (aiohttp, httpx textbook): {loop.name()}"
        ]
        try:
            for name in args.workloads.split(","):
                if name == "startup":
                    sections.append(startup(port))
                    continue
                if name == "tls" and not hasattr(server, "tls_port"):
                    sections.append("tls: skipped (needs nginx: apt-get install nginx-light)")
                    continue
                if name.startswith("latency") and not getattr(server, "has_echo", True):
                    sections.append(
                        "latency: skipped (nginx has no echo module: apt-get install libnginx-mod-http-echo)"
                    )
                    continue
                c = concurrency.get(name, 100)
                rows = bench_workload(name, sizes[name], c, reps, server, tmp, only)
                table = summarise(name, rows, sizes[name], c)
                report["workloads"][name] = {"urls": sizes[name], "concurrency": c, "reps": reps, "rows": table}  # type: ignore[index]
                sections.append(markdown(name, table))
        finally:
            server.stop()
    text = "\n\n".join(sections)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({**report, "markdown": text}, indent=2))


if __name__ == "__main__":
    main()
