"""Issue 17: files a run must not destroy (item 8), ``--resume`` files that must not crash a run
or eat its memory (item 12), and ``--fsync`` on what cannot be synced.

Each refusal is checked the way a cron job meets it: exit 2, one line on stderr naming both
options, the file byte for byte as it was, and not one request on the loopback server. No test
hands fetchcli a device node: FIFOs, pipes and symlinks in a temporary folder stand in."""

from __future__ import annotations

import errno
import json
import os
import resource
import stat
import subprocess
import sys
import threading
import tracemalloc
from pathlib import Path
from typing import IO, Any

import pytest

from fetchcli.cli import runner
from fetchcli.cli.app import main
from fetchcli.cli.status import ExitStatus
from fetchcli.input.readers import Inputs
from fetchcli.settings import Backend, SettingsError
from tests.server import LoopbackServer

ROOT = Path(__file__).resolve().parent.parent


def _fetchcli(
    *args: str,
    cwd: Path | None = None,
    stdin: IO[Any] | None = None,
    stdout: IO[Any] | int = subprocess.PIPE,
    limit_memory: int | None = None,
) -> subprocess.CompletedProcess[str]:
    """fetchcli as a process, its stdin and stdout redirected as a shell would."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FETCHCLI_") and "proxy" not in k.lower()}

    def limit() -> None:
        if limit_memory is not None:
            resource.setrlimit(resource.RLIMIT_AS, (limit_memory, limit_memory))

    return subprocess.run(
        [sys.executable, "-m", "fetchcli", *args],
        stdin=stdin if stdin is not None else subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**env, "PYTHONPATH": str(ROOT)},
        preexec_fn=limit,
    )


def _url_list(tmp_path: Path, server: LoopbackServer) -> Path:
    listing = tmp_path / "list.txt"
    listing.write_text("".join(server.url(f"/ok/{n}") + "\n" for n in range(3)))
    return listing


def _record(index: object, url: str) -> str:
    return json.dumps({"schema_version": 1, "index": index, "url": url, "ok": True}) + "\n"


def _refused(done: subprocess.CompletedProcess[str], *names: str) -> None:
    """Exit 2 and one line naming every one of ``names``."""
    assert done.returncode == ExitStatus.USAGE, done.stderr
    assert done.stderr.startswith("fetchcli: error: ") and done.stderr.count("\n") == 1, done.stderr
    for name in names:
        assert name in done.stderr, done.stderr


# Item 8: an output that is an input, or another output -----------------------------------------


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["-i", "{list}", "-o", "{list}"], ["--output", "--input"]),
        (["-f", "json", "-i", "{list}", "-o", "{list}"], ["--output", "--input"]),  # atomic: a rename
        (["--resume", "{list}", "-i", "{list}"], ["--resume", "--input"]),
        (["-i", "{list}", "--summary-json", "{list}"], ["--summary-json", "--input"]),
        (["-i", "{list}", "-o", "{link}"], ["--output", "--input"]),  # through a symlink
        (["-i", "{list}", "-o", "{hard}"], ["--output", "--input"]),  # a hard link: the same inode
        (["-i", "list.txt", "-o", "sub/../list.txt"], ["--output", "--input"]),  # another relative path
    ],
    ids=["o", "o-json", "resume", "summary-json", "symlink", "hard-link", "relative"],
)
def test_an_input_list_is_never_written(
    fresh_server: LoopbackServer, tmp_path: Path, args: list[str], names: list[str]
) -> None:
    listing = _url_list(tmp_path, fresh_server)
    before = listing.read_bytes()
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.txt").symlink_to(listing)
    os.link(listing, tmp_path / "hard.txt")
    paths = {"list": str(listing), "link": str(tmp_path / "link.txt"), "hard": str(tmp_path / "hard.txt")}
    done = _fetchcli(*(arg.format(**paths) for arg in args), cwd=tmp_path)
    _refused(done, *names)
    assert listing.read_bytes() == before  # byte for byte
    assert fresh_server.stats.requests == 0  # refused before anything was read or fetched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hard.txt", "link.txt", "list.txt", "sub"]


@pytest.mark.parametrize("args", [["-o", "{list}"], ["-i", "-", "-o", "{list}"]], ids=["implicit", "dash"])
def test_output_to_the_file_stdin_reads_is_refused(
    fresh_server: LoopbackServer, tmp_path: Path, args: list[str]
) -> None:
    """``fetchcli -o urls.txt < urls.txt``: stdin is that file (fstat of fd 0)."""
    listing = _url_list(tmp_path, fresh_server)
    before = listing.read_bytes()
    with listing.open("rb") as stdin:
        done = _fetchcli(*(arg.format(list=listing) for arg in args), stdin=stdin)
    _refused(done, "--output", "stdin")
    assert listing.read_bytes() == before
    assert fresh_server.stats.requests == 0


def test_stdout_appended_to_the_input_list_is_refused(fresh_server: LoopbackServer, tmp_path: Path) -> None:
    """``fetchcli -i urls.txt >> urls.txt`` would read its own records back as URLs (and with
    ``>`` the shell has emptied the list already: a usage error every time, not a quiet exit 0)."""
    listing = _url_list(tmp_path, fresh_server)
    before = listing.read_bytes()
    with listing.open("a") as stdout:
        done = _fetchcli("-i", str(listing), stdout=stdout)
    _refused(done, "stdout", "--input")
    assert listing.read_bytes() == before
    assert fresh_server.stats.requests == 0


@pytest.mark.parametrize(
    ("args", "names", "existing"),
    [
        (["-o", "{out}", "--summary-json", "{out}"], ["--summary-json", "--output"], True),
        (["-o", "{out}", "--summary-json", "{link}"], ["--summary-json", "--output"], True),  # through a symlink
        (["-o", "out.jsonl", "--summary-json", "sub/../out.jsonl"], ["--summary-json", "--output"], False),  # absent
        (["-o", "{link}", "--summary-json", "{out}"], ["--summary-json", "--output"], False),  # a dangling link
        (["--resume", "{out}", "--summary-json", "{out}"], ["--resume", "--summary-json"], True),
    ],
    ids=["same-path", "symlink", "relative-absent", "dangling-link", "resume"],
)
def test_two_outputs_are_never_one_file(
    fresh_server: LoopbackServer, tmp_path: Path, args: list[str], names: list[str], existing: bool
) -> None:
    out = tmp_path / "out.jsonl"
    record = b'{"schema_version": 1, "index": 0, "url": "http://x/", "ok": true}\n'
    if existing:
        out.write_bytes(record)
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.jsonl").symlink_to(out)
    done = _fetchcli(
        *(a.format(out=out, link=tmp_path / "link.jsonl") for a in args), fresh_server.url("/ok"), cwd=tmp_path
    )
    _refused(done, *names)
    assert out.read_bytes() == record if existing else not out.exists()
    assert fresh_server.stats.requests == 0


def test_stdout_and_summary_json_are_never_one_file(fresh_server: LoopbackServer, tmp_path: Path) -> None:
    """``fetchcli URL --summary-json s.json >> s.json``: the summary would be renamed over the records."""
    summary = tmp_path / "s.json"
    summary.write_text("earlier\n")
    with summary.open("a") as stdout:
        done = _fetchcli("--summary-json", str(summary), fresh_server.url("/ok"), stdout=stdout)
    _refused(done, "--summary-json", "stdout")
    assert summary.read_text() == "earlier\n"
    assert fresh_server.stats.requests == 0


def test_two_outputs_to_one_fifo_are_allowed(tmp_path: Path) -> None:
    """Only regular files are compared: a FIFO, a terminal or a device may take both."""
    from fetchcli.targets import check_files

    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    targets = check_files([("--output", str(fifo)), ("--summary-json", str(fifo))], [("--input", str(fifo))])
    assert set(targets) == {"--output", "--summary-json"}


# Item 8: a read-only file ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["-f", "jsonl", "-o", "{f}"], "--output"),
        (["-f", "json", "-o", "{f}"], "--output"),  # atomic: a rename would have replaced it
        (["--summary-json", "{f}"], "--summary-json"),
        (["--resume", "{f}"], "--resume"),
    ],
    ids=["o-jsonl", "o-json", "summary-json", "resume"],
)
def test_a_read_only_file_is_refused_and_unchanged(
    fresh_server: LoopbackServer, tmp_path: Path, args: list[str], option: str
) -> None:
    """``chmod 0444``: curl refuses it (status 23); fetchcli too, before anything is fetched. CI
    runs as root, who may write anything: the rule is the mode bits (no write bit for anyone)."""
    target = tmp_path / "precious.jsonl"
    content = b'{"schema_version": 1, "index": 0, "url": "http://x/", "ok": true}\n'
    target.write_bytes(content)
    target.chmod(0o444)
    done = _fetchcli(*(a.format(f=target) for a in args), fresh_server.url("/ok"))
    _refused(done, option, "read-only")
    assert target.read_bytes() == content
    assert stat.S_IMODE(target.stat().st_mode) == 0o444
    assert sorted(p.name for p in tmp_path.iterdir()) == ["precious.jsonl"]
    assert fresh_server.stats.requests == 0


def test_a_file_this_user_may_not_write_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Someone else's 0644 file in a folder the user may write: a rename would replace it. (Run as
    a user, ``access`` says so; as root, which CI is, it is simulated.)"""
    from fetchcli.targets import check_target

    theirs = tmp_path / "theirs.json"
    theirs.write_text("theirs\n")
    theirs.chmod(0o644)
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: not (mode & os.W_OK and Path(path) == theirs))
    with pytest.raises(SettingsError, match=r"--output will not replace .*theirs\.json.*: it is read-only"):
        check_target("--output", str(theirs))


# Item 8: a symlink swapped in between the check and the write -----------------------------------


@pytest.mark.parametrize("existing", [True, False], ids=["existing", "new"])
@pytest.mark.parametrize("kind", ["jsonl", "json", "resume"])
def test_a_symlink_swapped_in_after_the_check_does_not_redirect_the_write(
    server: LoopbackServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    kind: str,
    existing: bool,
    backend: Backend,
) -> None:
    """In a shared folder, someone replaces the output by a link to the user's file once fetchcli
    has checked it: the write must not land in that file. The swap happens, deterministically,
    where the runner opens the input (after every check, before the output is opened)."""
    shared = tmp_path / "shared"
    shared.mkdir()
    out = shared / f"out.{'json' if kind == 'json' else 'jsonl'}"
    if existing:
        out.write_text("" if kind == "resume" else "old\n")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    real_inputs = Inputs

    def swap_then_open(*args: Any, **kwargs: Any) -> Any:
        if out.exists():
            out.unlink()
        out.symlink_to(victim)
        return real_inputs(*args, **kwargs)

    monkeypatch.setattr(runner, "Inputs", swap_then_open)
    command = ["--resume", str(out)] if kind == "resume" else ["-f", kind, "-o", str(out)]
    status = main([*command, "--backend", backend.value, server.url("/ok")])
    err = capsys.readouterr().err
    assert victim.read_text() == "precious\n"  # not redirected
    if kind == "json":  # a rename into place replaces the link itself
        assert status == 0, err
        assert not out.is_symlink() and json.loads(out.read_text())[0]["url"] == server.url("/ok")
    else:  # opened in place: the link is not followed
        assert status == ExitStatus.USAGE, err
        assert err.count("\n") == 1 and "a symbolic link took its place after it was checked" in err


def test_a_file_planted_after_the_check_is_not_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Absent when checked, someone else's file when opened (in a shared folder): not ours to fill."""
    out = tmp_path / "out.jsonl"
    real_inputs = Inputs

    def plant_then_open(*args: Any, **kwargs: Any) -> Any:
        out.write_text("theirs\n")
        return real_inputs(*args, **kwargs)

    monkeypatch.setattr(runner, "Inputs", plant_then_open)
    assert main(["-o", str(out), "http://127.0.0.1:9/"]) == ExitStatus.USAGE
    assert "a file took its place after it was checked" in capsys.readouterr().err
    assert out.read_text() == "theirs\n"


def test_a_symlink_swapped_in_before_the_resume_file_is_read_is_not_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Reading --resume FILE may cut a torn last line off: through a link swapped in after the
    check, that would cut the user's own file (here one whose last line looks torn)."""
    import fetchcli.input.resumerun

    out = tmp_path / "shared" / "resume.jsonl"
    out.parent.mkdir()
    out.write_text(_record(0, "http://127.0.0.1:9/"))
    victim = tmp_path / "victim.json"
    victim.write_text('{"precious": true')
    real_inputs = Inputs

    def swap_then_open(*args: Any, **kwargs: Any) -> Any:
        if not out.is_symlink():
            out.unlink()
            out.symlink_to(victim)
        return real_inputs(*args, **kwargs)

    monkeypatch.setattr(fetchcli.input.resumerun, "Inputs", swap_then_open)  # the input is counted before FILE is read
    assert main(["--resume", str(out), "http://127.0.0.1:9/"]) == ExitStatus.USAGE
    assert "a symbolic link took its place after it was checked" in capsys.readouterr().err
    assert victim.read_text() == '{"precious": true'


def test_compacting_a_resume_file_keeps_the_users_symlink(
    server: LoopbackServer, tmp_path: Path, backend: Backend
) -> None:
    """--resume writes through the user's own link, like -o: the compaction at the end of
    --resume-failed rewrites the link's target, and the link stays a link."""
    real = tmp_path / "real" / "results.jsonl"
    real.parent.mkdir()
    link = tmp_path / "results.jsonl"
    link.symlink_to(real)
    urls = [server.url("/ok/a"), server.url("/status/500")]
    first = _fetchcli("--resume", str(link), "--backend", backend.value, *urls)
    assert first.returncode == 1, first.stderr
    redo = _fetchcli("--resume", str(link), "--resume-failed", "--backend", backend.value, *urls)
    assert redo.returncode == 1, redo.stderr
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert sorted(json.loads(line)["index"] for line in real.read_text().splitlines()) == [0, 1]
    assert sorted(p.name for p in real.parent.iterdir()) == ["results.jsonl"]


def test_output_open_compares_what_it_opens_with_what_was_checked(tmp_path: Path) -> None:
    from fetchcli.output.writer import OpenError, Output
    from fetchcli.targets import check_target

    out, other = tmp_path / "out.jsonl", tmp_path / "other.jsonl"
    out.write_text("mine\n")
    other.write_text("other\n")
    target = check_target("--output", str(out))
    os.replace(other, out)  # another file (another inode) under the checked name
    with pytest.raises(OpenError, match="another file took its place"):
        Output.open(target, atomic=False)
    assert out.read_text() == "other\n"  # not truncated


# Item 12: a crafted or mistaken --resume file ------------------------------------------------


@pytest.mark.parametrize(
    ("content", "line"),
    [
        ("{neg}", 1),
        ("{first}{huge}", 2),
        ("{first}" + _record(5, "http://x/"), 2),  # beyond the input's 3 URLs
        (_record(True, "http://x/"), 1),  # JSON's true is not an index
        (_record("0", "http://x/"), 1),
        ("[1, 2]\n", 1),
        ("[" * 100_000 + "\n", 1),  # nesting that would overflow the parser's stack
        ("{first}http://example.com/\n", 2),  # a URL list given by mistake: a whole line
        ("http://example.com/", 1),  # ... its last line without a newline is not a torn record
    ],
    ids=["negative", "huge", "beyond", "bool", "string", "array", "nested", "url-line", "url-unterminated"],
)
def test_a_crafted_resume_file_is_one_line_naming_the_line(
    fresh_server: LoopbackServer, tmp_path: Path, content: str, line: int
) -> None:
    urls = [fresh_server.url(f"/ok/{n}") for n in range(3)]
    resume = tmp_path / "resume.jsonl"
    resume.write_text(
        content.replace("{neg}", _record(-1, urls[0]))
        .replace("{first}", _record(0, urls[0]))
        .replace("{huge}", _record(10_000_000_000, urls[1]))
    )
    before = resume.read_bytes()
    done = _fetchcli("--resume", str(resume), *urls)
    _refused(done, f"--resume line {line} of {resume}")
    assert "Traceback" not in done.stderr
    assert resume.read_bytes() == before  # nothing cut off
    assert fresh_server.stats.requests == 0


def test_a_huge_index_allocates_nothing(tmp_path: Path) -> None:
    """A 68-byte line with index 10,000,000,000 once grew a bitmap past 1 GB: under a 500 MB
    address-space limit the run would die of MemoryError; it is a usage error instead."""
    resume = tmp_path / "resume.jsonl"
    resume.write_text('{"schema_version": 1, "index": 10000000000, "url": "http://127.0.0.1:9/", "ok": true}\n')
    done = _fetchcli("--resume", str(resume), "http://127.0.0.1:9/", limit_memory=500 << 20)
    _refused(done, f"--resume line 1 of {resume}", "index 10,000,000,000")


def test_a_150_mb_line_is_refused_without_being_read_whole(tmp_path: Path) -> None:
    from fetchcli.input.resume import ResumeFile

    resume = tmp_path / "resume.jsonl"
    with resume.open("w") as f:
        f.write(_record(0, "http://a/"))
        f.write('{"schema_version": 1, "index": 1, "url": "http://b/", "ok": true, "snippet": "')
        chunk = "x" * (1 << 20)
        for _ in range(150):
            f.write(chunk)
        f.write('"}\n')
    tracemalloc.start()
    try:
        with pytest.raises(SettingsError, match=r"--resume line 2 of .* is longer than [\d,]+ bytes"):
            ResumeFile.load(str(resume))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 << 20  # the line was 150 MB; at most the limit (a few MB) of it was read


def test_the_line_limit_fits_the_largest_record() -> None:
    """The cap is generous: a record with every URL at its longest, each character the worst to
    escape in JSON, fits under it."""
    from fetchcli.input.resumelines import record_line_limit
    from fetchcli.models import FetchResult, Redirect
    from fetchcli.settings import DEFAULT_MAX_REDIRECTS, DEFAULT_SNIPPET_LENGTH
    from fetchcli.urls import MAX_URL_LENGTH

    url = "http://h/" + "\U0001f600" * (MAX_URL_LENGTH - 9)
    record = FetchResult(
        index=0,
        url=url,
        ok=True,
        final_url=url,
        redirects=tuple(Redirect(url, 301) for _ in range(DEFAULT_MAX_REDIRECTS)),
        snippet="\U0001f600" * DEFAULT_SNIPPET_LENGTH,
    )
    assert len(json.dumps(record.to_dict()).encode()) < record_line_limit()


# --fsync on a pipe or a FIFO ---------------------------------------------------------------------


def test_fsync_into_a_pipe_is_skipped(server: LoopbackServer, backend: Backend) -> None:
    """``fetchcli --fsync URL | cat``: a pipe cannot be synced (EINVAL); that is no write error."""
    done = _fetchcli("--fsync", "--backend", backend.value, server.url("/ok/1"), server.url("/ok/2"))
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["index"] for line in done.stdout.splitlines()] == [0, 1]


def test_fsync_into_a_fifo_is_skipped(server: LoopbackServer, tmp_path: Path, backend: Backend) -> None:
    fifo = tmp_path / "results.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    done = _fetchcli("--fsync", "-f", "jsonl", "-o", str(fifo), "--backend", backend.value, server.url("/ok/1"))
    reader.join(timeout=30)
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["index"] for line in received[0].decode().splitlines()] == [0]


def test_a_real_fsync_failure_is_still_a_write_error(
    server: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def failing(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "fsync", failing)
    out = tmp_path / "out.jsonl"
    assert main(["--fsync", "-o", str(out), server.url("/ok")]) == ExitStatus.IO_ERROR
    err = capsys.readouterr().err
    assert err == f"fetchcli: error: cannot write {str(out)!r}: {os.strerror(errno.EIO)}\n"
