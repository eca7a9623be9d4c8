"""The files under examples/: the Kubernetes manifest parses and names the right variables, the
Slurm script passes `bash -n` and runs as two array tasks would, and the GNU parallel recipe runs
for real with 4 shards against a loopback server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.server import LoopbackServer

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _env(**extra: str) -> dict[str, str]:
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("FETCHCLI_", "SLURM_", "JOB_COMPLETION"))}
    return {**clean, "PATH": path, **extra}


def _urls(server: LoopbackServer, folder: Path, count: int) -> list[str]:
    urls = [server.url(f"/ok/example-{n}") for n in range(count)]
    (folder / "urls.txt").write_text("\n".join(urls) + "\n")
    return urls


def test_the_kubernetes_indexed_job() -> None:
    job = yaml.safe_load((EXAMPLES / "k8s-indexed-job.yaml").read_text())
    assert job["kind"] == "Job" and job["spec"]["completionMode"] == "Indexed"
    [container] = job["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item["value"] for item in container["env"]}
    assert int(env["FETCHCLI_SHARDS"]) == job["spec"]["completions"]  # N is the number of indexes
    command = " ".join(container["args"])
    assert "--shard auto" in command and "${JOB_COMPLETION_INDEX}" in command and "--resume" in command
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert "/config" in mounts and "/results" in mounts


def test_the_slurm_array_script_as_two_tasks(server: LoopbackServer, tmp_path: Path) -> None:
    script = EXAMPLES / "slurm-array.sh"
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    urls = _urls(server, tmp_path, 40)
    for task in ("1", "2"):
        slurm = {"SLURM_ARRAY_TASK_ID": task, "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "2"}
        done = subprocess.run(
            ["bash", str(script)], cwd=tmp_path, env=_env(**slurm), capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
    records = [json.loads(line) for n in (1, 2) for line in (tmp_path / f"shard-{n}.jsonl").read_text().splitlines()]
    assert sorted((r["index"], r["url"]) for r in records) == list(enumerate(urls))


def test_the_gnu_parallel_recipe_with_4_shards(server: LoopbackServer, tmp_path: Path) -> None:
    if shutil.which("parallel") is None:
        if os.environ.get("CI"):
            pytest.fail("GNU parallel is needed: .ci/run installs it")
        pytest.skip("GNU parallel is not installed (apt-get install parallel)")
    urls = _urls(server, tmp_path, 300)
    done = subprocess.run(
        ["bash", str(EXAMPLES / "parallel.sh"), "urls.txt", "4"], cwd=tmp_path, env=_env(), capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "all.jsonl: 300 records from 4 shards" in done.stderr
    merged = [json.loads(line) for line in (tmp_path / "all.jsonl").read_text().splitlines()]
    assert [(r["index"], r["url"]) for r in merged] == list(enumerate(urls))  # once each, in input order
    assert all(len((tmp_path / f"shard-{k}.jsonl").read_text().splitlines()) < 300 for k in range(1, 5))
