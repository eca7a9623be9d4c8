"""Round two of the files a run must not destroy or lose: a ``--resume`` FILE that is not
fetchcli's, descriptor aliases (``-o /proc/self/fd/3``, ``/dev/stdout`` on a closed stdout), CA
files as inputs, a FIFO with no writer, the shell's ``>`` on the input list, outputs replaced
atomically (and a folder that refuses the temporary file), and a cron job with no URLs at all.

No test hands fetchcli a device node as an output: a descriptor alias names a descriptor the test
opened itself on a file in a temporary folder, or one that is not open; ``-o /dev/stdout`` is
used only with stdout closed (the documented write error), where nothing is written anywhere."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import pytest

from fetchcli.cli.app import main
from fetchcli.cli.status import ExitStatus
from fetchcli.input.resume import ResumeFile
from fetchcli.models import FetchResult
from fetchcli.settings import Backend, SettingsError
from tests.server import LoopbackServer

ROOT = Path(__file__).resolve().parent.parent


def _fetchcli(
    *args: str,
    cwd: Path | None = None,
    stdin: IO[Any] | int | None = subprocess.DEVNULL,
    stdout: IO[Any] | int = subprocess.PIPE,
    env: dict[str, str] | None = None,
    pass_fds: Sequence[int] = (),
    preexec_fn: Callable[[], None] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """fetchcli as a process, its streams redirected as a shell would; none of the caller's
    FETCHCLI_*, proxy or SSL_CERT_* variables, plus ``env``."""
    kept = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("FETCHCLI_") and "proxy" not in k.lower() and k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")
    }
    return subprocess.run(
        [sys.executable, "-m", "fetchcli", *args],
        stdin=stdin,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**kept, "PYTHONPATH": str(ROOT), **(env or {})},
        pass_fds=pass_fds,
        preexec_fn=preexec_fn,
    )


def _refused(done: subprocess.CompletedProcess[str], *parts: str) -> None:
    """Exit 2 and one line holding every one of ``parts``."""
    assert done.returncode == ExitStatus.USAGE, done.stderr
    assert done.stderr.startswith("fetchcli: error: ") and done.stderr.count("\n") == 1, done.stderr
    for part in parts:
        assert part in done.stderr, done.stderr


def _records(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def _url_list(tmp_path: Path, server: LoopbackServer, n: int = 2) -> Path:
    listing = tmp_path / "list.txt"
    listing.write_text("".join(server.url(f"/ok/{i}") + "\n" for i in range(n)))
    return listing


# 1. --resume FILE whose last line has no newline --------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        '{"name":"app","version":"1"}',  # a package.json given by mistake
        '{"index": 0, "url": "http://127.0.0.1:9/", "ok": true}',  # JSON, but not as fetchcli writes it
        '{"schema_version": 1, "index": x',  # the head, then no index
        "{}",
        "{ ",
    ],
    ids=["package-json", "other-order", "not-an-index", "empty-object", "brace-space"],
)
def test_a_last_line_that_is_not_a_torn_record_is_not_cut(
    fresh_server: LoopbackServer, tmp_path: Path, content: str
) -> None:
    """``printf '{"name":"app"}' > package.json; fetchcli --resume package.json URL`` emptied
    package.json: any last line without a newline that began with ``{`` was cut as torn."""
    target = tmp_path / "package.json"
    target.write_text(content)
    done = _fetchcli("--resume", str(target), fresh_server.url("/ok"))
    _refused(done, f"--resume line 1 of {target}", "not a fetchcli record", "left as it is")
    assert target.read_text() == content  # nothing cut, nothing appended
    assert fresh_server.stats.requests == 0


def _a_real_record() -> bytes:
    """A record as the JSON Lines sink writes it (the serialisation, not a copy of its text)."""
    result = FetchResult(7, "http://127.0.0.1:9/x", False, error=None, status=503)
    return (json.dumps(result.to_dict()) + "\n").encode()


@pytest.mark.parametrize("cut", [1, 5, 18, 31, 32, 33, 60, -2, -1])
def test_a_torn_record_of_any_length_is_cut_off(tmp_path: Path, cut: int) -> None:
    """Only the beginning of a real record is torn: any prefix of one (a kill can stop a write
    anywhere), up to all but its newline."""
    whole = json.dumps(FetchResult(0, "http://127.0.0.1:9/a", True).to_dict()).encode() + b"\n"
    torn = _a_real_record()[:cut]
    resume = tmp_path / "results.jsonl"
    resume.write_bytes(whole + torn)
    loaded = ResumeFile.load(str(resume), urls=8)
    assert loaded.torn and loaded.records == 1
    assert resume.read_bytes() == whole  # cut back to the last whole record


def test_a_torn_last_line_is_cut_and_its_url_fetched_again(
    fresh_server: LoopbackServer, tmp_path: Path, backend: Backend
) -> None:
    urls = [fresh_server.url(f"/ok/{n}") for n in range(3)]
    first = _fetchcli("--resume", str(tmp_path / "r.jsonl"), "--backend", backend.value, *urls[:1])
    assert first.returncode == 0, first.stderr
    resume = tmp_path / "r.jsonl"
    with resume.open("ab") as f:
        f.write(b'{"schema_version": 1, "index": 1, "url": "' + urls[1].encode())
    done = _fetchcli("--resume", str(resume), "--backend", backend.value, *urls)
    assert done.returncode == 0, done.stderr
    assert [r["index"] for r in _records(resume.read_text())] == [0, 1, 2]


# 2 and 3. Descriptor aliases: the descriptor checked is the one written -------------------------


@contextlib.contextmanager
def _opened(path: Path, flags: int) -> Iterator[int]:
    """A descriptor on ``path``, to hand the child with ``pass_fds`` (as ``N>`` or ``N>>`` in a
    shell); its number is whatever the kernel gives."""
    fd = os.open(path, flags, 0o644)
    try:
        yield fd
    finally:
        os.close(fd)


@pytest.mark.parametrize(
    ("option", "alias"),
    [
        ("-o", "/proc/self/fd/3"),
        ("-o", "/dev/fd/3"),
        ("-o", "/proc/thread-self/fd/3"),
        ("--summary-json", "/proc/self/fd/3"),
        ("-o", "{link}"),  # a symlink to an alias
    ],
    ids=["proc-self", "dev-fd", "thread-self", "summary-json", "symlink"],
)
def test_an_alias_of_a_descriptor_not_open_is_refused(
    fresh_server: LoopbackServer, tmp_path: Path, option: str, alias: str
) -> None:
    """``fetchcli -i list.txt -o /proc/self/fd/3`` with no fd 3: the input list was opened as fd 3
    and the records were appended to it (exit 0)."""
    listing = _url_list(tmp_path, fresh_server)
    before = listing.read_bytes()
    (tmp_path / "out.jsonl").symlink_to("/proc/self/fd/3")
    given = alias.format(link=tmp_path / "out.jsonl")
    done = _fetchcli("-i", str(listing), option, given, "-f", "jsonl")  # close_fds: no fd 3 in the child
    _refused(done, f"{given!r} names file descriptor 3, which is not open")
    assert listing.read_bytes() == before
    assert fresh_server.stats.requests == 0


def test_an_alias_of_the_input_is_refused(fresh_server: LoopbackServer, tmp_path: Path) -> None:
    """``-o /dev/fd/3 3>> list.txt -i list.txt``: what the descriptor is, is checked like a path."""
    listing = _url_list(tmp_path, fresh_server)
    before = listing.read_bytes()
    with _opened(listing, os.O_WRONLY | os.O_APPEND) as fd:
        done = _fetchcli("-i", str(listing), "-o", f"/proc/self/fd/{fd}", pass_fds=(fd,))
    _refused(done, f"--output '/proc/self/fd/{fd}' is the same file as --input")
    assert listing.read_bytes() == before
    assert fresh_server.stats.requests == 0


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
def test_an_alias_writes_the_descriptor_where_the_shell_left_it(
    server: LoopbackServer, tmp_path: Path, fmt: str, backend: Backend
) -> None:
    """``-o /dev/fd/4 4>> log``: the records go through the descriptor given, after what the log
    held; nothing is created beside it."""
    log = tmp_path / "log.txt"
    log.write_text("earlier\n")
    with _opened(log, os.O_WRONLY | os.O_APPEND) as fd:
        done = _fetchcli(
            "-f", fmt, "-o", f"/dev/fd/{fd}", "--backend", backend.value, server.url("/ok/alias"), pass_fds=(fd,)
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    text = log.read_text()
    assert text.startswith("earlier\n") and "/ok/alias" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.txt"]


@pytest.mark.parametrize(
    "args",
    [["-o", "/dev/stdout"], ["-o", "/dev/fd/1", "-f", "json"], ["-o", "/proc/self/fd/1", "-f", "csv"]],
    ids=["dev-stdout", "dev-fd-1-json", "proc-fd-1-csv"],
)
def test_an_alias_of_a_closed_stdout_is_the_write_error(
    server: LoopbackServer, backend: Backend, args: list[str]
) -> None:
    """``fetchcli -o /dev/stdout URL >&-`` exited 0: the name, opened again, gave a writable
    /dev/null where fetchcli had put a read-only one. The README promises exit 74."""
    done = _fetchcli(
        *args, "--backend", backend.value, server.url("/ok/closed"), stdout=subprocess.DEVNULL,
        preexec_fn=lambda: os.close(1),
    )  # fmt: skip
    assert done.returncode == ExitStatus.IO_ERROR, done.stderr
    assert done.stderr == f"fetchcli: error: cannot write {args[1]!r}: Bad file descriptor\n"


def test_resume_needs_a_path_not_a_descriptor(tmp_path: Path) -> None:
    with _opened(tmp_path / "r.jsonl", os.O_WRONLY | os.O_CREAT) as fd:
        done = _fetchcli("--resume", f"/dev/fd/{fd}", "http://127.0.0.1:9/", pass_fds=(fd,))
    _refused(done, "--resume needs a file's own path")


# 4. CA files are inputs --------------------------------------------------------------------------


def _ca(path: Path) -> bytes:
    import certifi

    shutil.copyfile(certifi.where(), path)
    return path.read_bytes()


@pytest.mark.parametrize("option", ["-o", "--summary-json"])
def test_ssl_cert_file_is_never_written(fresh_server: LoopbackServer, tmp_path: Path, option: str) -> None:
    """``SSL_CERT_FILE=$PWD/ca.pem fetchcli -o ca.pem URL`` emptied the CA bundle."""
    ca = tmp_path / "ca.pem"
    before = _ca(ca)
    done = _fetchcli(
        option, "ca.pem", "-f", "jsonl", fresh_server.url("/ok"), cwd=tmp_path, env={"SSL_CERT_FILE": str(ca)}
    )
    _refused(done, "is the same file as SSL_CERT_FILE")
    assert ca.read_bytes() == before
    assert fresh_server.stats.requests == 0


@pytest.mark.parametrize(
    ("args", "env", "name", "label"),
    [
        (["--capath", "certs"], {}, "certs/5ed36f99.0", "--capath 'certs'"),  # an existing certificate
        (["--capath", "certs"], {}, "certs/new.0", "--capath 'certs'"),  # a new one: OpenSSL would read it
        ([], {"SSL_CERT_DIR": "/nonexistent:{certs}"}, "certs/5ed36f99.0", "SSL_CERT_DIR"),
        (["--capath", "link"], {}, "certs/5ed36f99.0", "--capath 'link'"),  # through a symlink
    ],
    ids=["capath", "capath-new", "ssl-cert-dir", "capath-symlink"],
)
def test_no_output_inside_a_ca_folder(
    fresh_server: LoopbackServer, tmp_path: Path, args: list[str], env: dict[str, str], name: str, label: str
) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    (tmp_path / "link").symlink_to(certs)
    before = _ca(certs / "5ed36f99.0")
    environ = {k: v.format(certs=certs) for k, v in env.items()}
    done = _fetchcli(*args, "-f", "jsonl", "-o", name, fresh_server.url("/ok"), cwd=tmp_path, env=environ)
    _refused(done, f"--output {name!r} is inside {label}")
    assert (certs / "5ed36f99.0").read_bytes() == before
    assert sorted(p.name for p in certs.iterdir()) == ["5ed36f99.0"]
    assert fresh_server.stats.requests == 0


# 5. A FIFO with no writer ------------------------------------------------------------------------


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry-run"])
def test_a_fifo_without_a_writer_ends_at_the_deadline(tmp_path: Path, dry_run: bool) -> None:
    """``mkfifo f; fetchcli -i f --deadline 2`` was still waiting in open(2) long after."""
    fifo = tmp_path / "f"
    os.mkfifo(fifo)
    try:
        done = _fetchcli("-i", str(fifo), "--deadline", "2", *(["--dry-run"] if dry_run else []), timeout=40)
    except subprocess.TimeoutExpired:
        pytest.fail("the run did not end at its 2 s deadline (40 s)")
    assert done.returncode == ExitStatus.OK, done.stderr
    if dry_run:
        assert (
            done.stdout.splitlines()[-1] == "0 URLs: 0 valid, 0 invalid; the input was not read to its end (--deadline)"
        )
    else:
        assert done.stderr == "fetchcli: warning: no URLs to fetch: --deadline passed before the input gave one\n"


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry-run"])
def test_ctrl_c_ends_the_wait_for_a_fifo_writer(tmp_path: Path, dry_run: bool) -> None:
    fifo = tmp_path / "f"
    os.mkfifo(fifo)
    proc = subprocess.Popen(
        [sys.executable, "-m", "fetchcli", "-i", str(fifo), *(["--dry-run"] if dry_run else [])],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as from a terminal
    )  # fmt: skip
    try:
        time.sleep(2)  # started, and waiting for the FIFO
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == ExitStatus.INTERRUPTED, err
    assert "Traceback" not in err


def test_a_fifo_writer_that_comes_later_is_read(server: LoopbackServer, tmp_path: Path, backend: Backend) -> None:
    fifo = tmp_path / "f"
    os.mkfifo(fifo)
    urls = [server.url(f"/ok/fifo-{n}") for n in range(3)]

    def writer() -> None:
        time.sleep(0.5)
        with open(fifo, "w") as f:  # blocks until fetchcli has it open for reading
            f.write("".join(u + "\n" for u in urls))

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    done = _fetchcli("-i", str(fifo), "--backend", backend.value, "--deadline", "50")
    thread.join(10)
    assert done.returncode == 0, done.stderr
    assert [r["url"] for r in _records(done.stdout)] == urls


def test_an_input_that_is_a_directory_is_still_one_line(tmp_path: Path) -> None:
    """Opened without waiting, a directory opens; reading it is refused, in one line."""
    done = _fetchcli("-i", str(tmp_path))
    _refused(done, f"--input cannot read {str(tmp_path)!r}: Is a directory")


# 6. The shell's `>` on the input list ------------------------------------------------------------


def test_the_shell_emptying_the_input_list_is_said(fresh_server: LoopbackServer, tmp_path: Path) -> None:
    """``fetchcli -i list.txt > list.txt``: the list is empty before fetchcli starts; the error
    says so, rather than speaking of a destruction still to come."""
    listing = _url_list(tmp_path, fresh_server)
    with listing.open("w") as stdout:  # the shell's `>`: truncated
        done = _fetchcli("-i", str(listing), stdout=stdout)
    _refused(
        done,
        "stdout is the same file as --input",
        "the shell's '>' emptied it before fetchcli started, so its URLs are gone",
        "-o PATH",
    )
    assert fresh_server.stats.requests == 0


def test_appending_to_the_input_list_is_not_said_to_have_emptied_it(
    fresh_server: LoopbackServer, tmp_path: Path
) -> None:
    listing = _url_list(tmp_path, fresh_server)
    with listing.open("a") as stdout:  # `>>`: nothing lost yet
        done = _fetchcli("-i", str(listing), stdout=stdout)
    _refused(done, "writing would destroy what is read")
    assert "emptied" not in done.stderr


# 7. Which formats are replaced atomically, and a folder that refuses the temporary file -----------


@pytest.mark.parametrize(("fmt", "atomic"), [("json", True), ("csv", True), ("tsv", True), ("jsonl", False)])
def test_formats_are_replaced_as_the_readme_says(
    server: LoopbackServer, tmp_path: Path, fmt: str, atomic: bool
) -> None:
    out = tmp_path / f"out.{fmt}"
    out.write_text("old\n")
    inode = out.stat().st_ino
    done = _fetchcli("-o", str(out), server.url("/ok/atomic"))
    assert done.returncode == 0, done.stderr
    assert (out.stat().st_ino != inode) is atomic  # a rename puts a new file in place
    security = (ROOT / "docs" / "security.md").read_text()
    assert (
        "every format but `jsonl` (`json`, `table`, `csv`, `tsv`, and the\n  `--summary-json` and `--metrics` files)"
        in security
    )


def _folder_refuses_temporary_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a folder the user may not write (0555) does to a temporary file in it; root, who
    runs CI, may write any folder, so the refusal is simulated where output.py makes the file."""

    def refused(*args: Any, **kwargs: Any) -> tuple[int, str]:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refused)  # what output.py's temporary file calls


@pytest.mark.parametrize("fmt", ["csv", "json", "tsv"])
def test_a_writable_file_in_a_folder_refusing_temporary_files_is_written_in_place(
    server: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    """``/var/log/app/`` 0555 holding the user's ``app.csv`` 0644: curl writes it in place;
    fetchcli said ``cannot write: Permission denied``."""
    out = tmp_path / f"app.{fmt}"
    out.write_text("old report\n" * 100)
    inode = out.stat().st_ino
    _folder_refuses_temporary_files(monkeypatch)
    status = main(["-o", str(out), "-q", server.url("/ok/in-place")])
    assert status == ExitStatus.OK
    text = out.read_text()
    assert "old report" not in text and "/ok/in-place" in text  # replaced whole, not appended to
    assert out.stat().st_ino == inode  # in place


def test_a_new_file_in_a_folder_refusing_temporary_files_names_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _folder_refuses_temporary_files(monkeypatch)
    out = tmp_path / "rod" / "y.csv"
    out.parent.mkdir()
    assert main(["-o", str(out), "http://127.0.0.1:9/"]) == ExitStatus.USAGE
    err = capsys.readouterr().err
    assert f"its folder {str(out.parent)!r} does not let this user create a file there" in err
    assert not out.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes any folder: simulated above")
def test_a_read_only_folder_for_real(server: LoopbackServer, tmp_path: Path) -> None:
    folder = tmp_path / "rod"
    folder.mkdir()
    out = folder / "y.csv"
    out.write_text("old\n")
    folder.chmod(0o555)
    try:
        done = _fetchcli("-o", str(out), server.url("/ok/real"))
    finally:
        folder.chmod(0o755)
    assert done.returncode == 0, done.stderr
    assert "/ok/real" in out.read_text()


# 8. No URLs at all, as under cron ---------------------------------------------------------------


@pytest.mark.parametrize("stdin", ["devnull", "closed"])
def test_no_urls_with_stdin_on_dev_null_or_closed_is_a_usage_error(stdin: str) -> None:
    """``env -i PATH=... fetchcli <&-`` and ``fetchcli < /dev/null`` exited 0 with a warning: a cron
    line that lost its URLs passed. curl exits 2 without a URL."""
    done = _fetchcli(env={"PATH": "/usr/bin:/bin"}, preexec_fn=(lambda: os.close(0)) if stdin == "closed" else None)
    _refused(done, "no URLs given: pass URLs, -i FILE, or pipe them in")


@pytest.mark.parametrize("kind", ["pipe", "file"])
def test_an_empty_pipe_or_file_on_stdin_is_still_a_warning(tmp_path: Path, kind: str) -> None:
    if kind == "file":
        empty = tmp_path / "empty.txt"
        empty.write_text("")
        with empty.open("rb") as f:
            done = _fetchcli(stdin=f)
    else:
        read_end, write_end = os.pipe()
        os.close(write_end)
        try:
            done = _fetchcli(stdin=read_end)
        finally:
            os.close(read_end)
    assert done.returncode == ExitStatus.OK, done.stderr
    assert done.stderr == "fetchcli: warning: no URLs to fetch\n"


def test_dash_input_from_dev_null_is_an_empty_input() -> None:
    """``-i -`` names stdin: whatever it is, it was asked for."""
    done = _fetchcli("-i", "-")
    assert done.returncode == ExitStatus.OK, done.stderr
    assert done.stderr == "fetchcli: warning: no URLs to fetch\n"


def test_the_usage_error_comes_from_the_inputs() -> None:
    from fetchcli.input.readers import Inputs

    with open(os.devnull, "rb") as devnull, pytest.raises(SettingsError, match="no URLs given"):
        Inputs([], [], devnull, False, [])
    with tempfile.TemporaryFile() as empty:
        assert Inputs([], [], empty, False, []).blocking is False  # a file: read, empty
