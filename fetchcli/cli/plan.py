"""One step before any I/O: ``plan_run`` makes every check a run makes before it reads or
writes anything, and decides what is decided once, up front:

- ``--resume`` with options it cannot take (``-o``, ``--format``, ``--fields``, an input read twice);
- no output is an input or another output (``targets.check_files``), each output can be written;
  ``--save DIR`` overlaps no folder of CA certificates read;
- ``--max-failures`` is not negative;
- the output format (``-o out.txt`` names none; ``--fields`` does not shape a table);
- a backend that can serve the settings (``--backend aiohttp`` with a SOCKS proxy cannot);
- the TLS files (``--cacert``, ``--cert``, ``--key``) can be used;
- a ``--state`` file is fetchcli's, of a schema it reads (``statefile.check``: read only).

Each failure is a ``SettingsError`` (a one-line usage error, exit 2), found in this order.
What passes is a ``RunPlan``: the run (``runner.execute``) carries it out, and ``--dry-run``
(``dryrun.describe_run``) describes it, so the two cannot disagree.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO, TextIO

from fetchcli.input.readers import reads_stdin
from fetchcli.output.metrics import DEFAULT_MAX_URLS as DEFAULT_METRICS_MAX_URLS
from fetchcli.settings import Backend, ColorMode, OutputFormat, Settings, SettingsError
from fetchcli.targets import Target, check_files


@dataclass
class Environment:
    """The outside world of one run; defaults are the real process streams."""

    stdin: BinaryIO = field(default_factory=lambda: sys.stdin.buffer)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    stdin_isatty: bool | None = None
    stdout_isatty: bool | None = None
    stderr_isatty: bool | None = None
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)

    def __post_init__(self) -> None:
        if self.stdin_isatty is None:
            self.stdin_isatty = _isatty(self.stdin)
        if self.stdout_isatty is None:
            self.stdout_isatty = _isatty(self.stdout)
        if self.stderr_isatty is None:
            self.stderr_isatty = _isatty(self.stderr)


def _isatty(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError, OSError):
        return False


@dataclass(frozen=True)
class OutputOptions:
    format: OutputFormat | None = None  # None: table on a terminal, jsonl otherwise
    path: str | None = None
    quiet: bool = False
    fsync: bool = False
    max_failures: int = 0  # exit 0 while at most this many URLs failed
    summary: bool = False  # the summary line on stderr even when it is not a terminal
    summary_json: str | None = None  # write the summary as JSON to this path
    metrics: str | None = None  # --metrics FILE.prom: Prometheus metrics, written at the end of the run
    metrics_max_urls: int = DEFAULT_METRICS_MAX_URLS  # --metrics-max-urls: per-URL series for at most N URLs
    fields: tuple[str, ...] | None = None  # --fields: which fields, in which order
    header_row: bool = True  # --header-row/--no-header: CSV and TSV begin with the field names
    progress: bool | None = None  # --progress/--no-progress; None: when stderr is a terminal (and not -q)
    color: ColorMode = ColorMode.auto
    resume: str | None = None  # --resume FILE.jsonl: skip what it records, append to it
    resume_failed: bool = False  # --resume-failed: and fetch its failed URLs again
    config_file: str | None = None  # the config file the options came from: an input no output may be
    body_files: tuple[tuple[str, str], ...] = ()  # (option, FILE) of -d/--data-binary/--json @FILE: inputs too
    state: str | None = None  # --state FILE: the SQLite file one run leaves for the next
    conditional: bool = False  # --conditional: If-None-Match / If-Modified-Since from the state
    watch: tuple[str, ...] | None = None  # --watch: the fields compared (None: all of them)
    only_changed: bool = False  # --only-changed: write only records that are new or changed
    fail_after: int = 1  # --fail-after N: a URL fails the run once it failed N runs in a row

    @property
    def to_stdout(self) -> bool:
        return self.path is None or self.path == "-"

    def targets(self) -> list[tuple[str, str]]:
        """Every file this run writes, by the option naming it: the one list the checks before
        the run go through (``targets.check_files``); a new output option is added here."""
        named = [("--output", None if self.to_stdout else self.path), ("--summary-json", self.summary_json)]
        named.append(("--metrics", self.metrics))
        named += [("--resume", self.resume), ("--state", self.state)]
        return [(option, path) for option, path in named if path is not None]


_BY_EXTENSION = {".json": OutputFormat.json, ".jsonl": OutputFormat.jsonl, ".ndjson": OutputFormat.jsonl}
_BY_EXTENSION |= {".csv": OutputFormat.csv, ".tsv": OutputFormat.tsv}


def _extension(path: str) -> str:
    """``-o``'s extension (``os.path.splitext``), and also a dot file's whole name when that is
    a format's extension: ``-o .csv`` is a CSV file, as whoever writes it means (a dot file has
    no extension for ``splitext``, and it got JSON Lines); another dot file (``.results``) has
    none, as before."""
    extension = os.path.splitext(path)[1]
    if not extension:
        name = "." + os.path.basename(path).lstrip(".")  # splitext skips a name's leading dots
        if name.lower() in _BY_EXTENSION:
            return name
    return extension


def choose_format(options: OutputOptions, to_terminal: bool) -> tuple[OutputFormat, str]:
    """The format and why (for ``--dry-run``): JSON Lines for ``--resume``; ``-f``; else what
    ``-o``'s extension names (a usage error when it names no format: ``-o out.txt`` or
    ``out.xlsx`` silently got JSON Lines); else, for ``-o`` without an extension, JSON Lines;
    else a table on a terminal and JSON Lines anywhere else."""
    if options.resume is not None:
        return OutputFormat.jsonl, "--resume appends JSON Lines"
    if options.format is not None:
        return options.format, "--format"
    if not options.to_stdout and options.path is not None:
        extension = _extension(options.path)
        by_extension = _BY_EXTENSION.get(extension.lower())
        if by_extension is not None:
            return by_extension, f"-o's extension {extension}"
        if extension:
            known = ", ".join(_BY_EXTENSION)
            raise SettingsError(
                "--output",
                f"{options.path!r} ends in {extension!r}, which names no output format ({known} do):"
                " give one with -f, e.g. -f jsonl",
            )
        return OutputFormat.jsonl, "-o has no extension"
    if to_terminal:
        return OutputFormat.table, "stdout is a terminal"
    return OutputFormat.jsonl, "stdout is not a terminal"


def records_to_terminal(options: OutputOptions, env: Environment) -> bool:
    return options.to_stdout and options.resume is None and bool(env.stdout_isatty)


def output_format(options: OutputOptions, env: Environment) -> tuple[OutputFormat, str]:
    """The run's format and why (``choose_format``); ``--fields`` with a table is a usage error."""
    fmt, why = choose_format(options, records_to_terminal(options, env))
    if options.fields is not None and fmt is OutputFormat.table:
        raise SettingsError("--fields", "applies to json, jsonl, csv and tsv; the table has its own columns")
    return fmt, why


@dataclass(frozen=True)
class RunPlan:
    """What a run does, decided before it reads or writes anything (``plan_run``)."""

    settings: Settings  # the run's settings, ``backend`` resolved: aiohttp or httpx, never auto
    targets: dict[str, Target]  # every output as checked, by option (--output, --summary-json, --resume)
    format: OutputFormat
    format_reason: str  # why that format: "--format", "-o's extension .csv", "stdout is a terminal"...
    to_terminal: bool  # the records go to a terminal

    @property
    def backend(self) -> Backend:
        return self.settings.backend


def plan_run(
    settings: Settings, urls: Sequence[str], paths: Sequence[str], options: OutputOptions, env: Environment
) -> RunPlan:
    """Every check a run makes before it reads or writes anything (see the module's docstring),
    in order; ``--dry-run`` makes the same. Returns what the run then does."""
    from fetchcli.transport.backendchoice import uses_aiohttp
    from fetchcli.transport.sslcontext import prepare_ssl_context

    _check_resume_options(urls, paths, options)
    if options.resume is not None and settings.request.all_ips:
        raise SettingsError(
            "--all-ips",
            "cannot be used with --resume, which keeps one record per URL and --all-ips writes one per address",
        )
    if options.state is not None and settings.request.all_ips:
        raise SettingsError(
            "--all-ips",
            "cannot be used with --state, which keeps one row per URL and --all-ips writes one record per address"
            " (each would be compared with the other: a change, and failures in a row, every run)",
        )
    targets, files = _check_files(settings, urls, paths, options, env)
    if settings.body.save_dir is not None:  # --save never replaces the run's own input or output
        from fetchcli.engine.savefile import run_files

        keep = run_files(files)
        settings = dataclasses.replace(settings, body=dataclasses.replace(settings.body, save_keep=keep))
    if options.max_failures < 0:
        raise SettingsError("--max-failures", "must be 0 or more")
    fmt, why = output_format(options, env)  # -o out.txt, --fields with a table
    if options.state is not None:
        _check_state(targets["--state"], settings.deadline)
    # A backend that cannot serve these settings is a usage error, up front; the run then uses
    # the one chosen here (the same choice ``build_client`` would make for ``auto``).
    backend = Backend.aiohttp if uses_aiohttp(settings) else Backend.httpx
    prepare_ssl_context(settings.request)  # so is a CA or client certificate file that cannot be used
    if settings.body.save_dir is not None:
        from fetchcli.engine.savedir import check_option

        check_option(settings.body.save_dir)  # a --save DIR that is a file, found without making it
    if settings.backend is not backend:
        settings = dataclasses.replace(settings, backend=backend)
    return RunPlan(settings, targets, fmt, why, records_to_terminal(options, env))


def _fd(stream: object) -> int | None:
    try:
        return int(stream.fileno())  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return None  # an in-memory stream (tests)


def _check_files(
    settings: Settings, urls: Sequence[str], paths: Sequence[str], options: OutputOptions, env: Environment
) -> tuple[dict[str, Target], list[str | int]]:
    """No output may be an input or another output (``targets.check_files``): refused before
    anything is read or written. Also every file the run reads or writes (paths, descriptors)."""
    read: list[tuple[str, str | int]] = [("--input", path) for path in paths if path != "-"]
    stdin = _fd(env.stdin) if "-" in paths or reads_stdin(urls, paths, bool(env.stdin_isatty)) else None
    if stdin is not None:
        read.append(("stdin", stdin))
    if options.config_file is not None:
        read.append(("--config", options.config_file))
    read += options.body_files
    request = settings.request
    read += [(option, path) for option, path in (("--cacert", request.cacert), ("--cert", request.client_cert),
                                                  ("--key", request.client_key)) if path is not None]  # fmt: skip
    # The CA files OpenSSL reads from the environment are inputs too, whenever they are set.
    read += [("SSL_CERT_FILE", path) for path in [env.environ.get("SSL_CERT_FILE")] if path]
    folders = [("--capath", request.capath)] if request.capath is not None else []
    folders += [("SSL_CERT_DIR", d) for d in env.environ.get("SSL_CERT_DIR", "").split(os.pathsep) if d]
    stdout = _fd(env.stdout) if options.to_stdout and options.resume is None else None
    targets = check_files(options.targets(), read, stdout, folders)
    if settings.body.save_dir is not None:
        _check_save_dir(settings.body.save_dir, folders)
    files = [source for _, source in read] + ([stdout] if stdout is not None else [])
    files += [t.descriptor if t.descriptor is not None else t.resolved for t in targets.values()]
    if "--state" in targets:  # SQLite's files beside it: a body saved there would break the state
        files += [targets["--state"].resolved + suffix for suffix in ("-wal", "-shm", "-journal")]
    return targets, files


def _check_save_dir(save_dir: str, folders: Sequence[tuple[str, str]]) -> None:
    """``--save DIR`` may not be, hold or lie in a folder of CA certificates read (``--capath``,
    ``SSL_CERT_DIR``): a body saved there would be trusted as a CA next time (as for -o)."""
    real = os.path.join(os.path.realpath(save_dir), "")
    for option, folder in folders:
        read = os.path.join(os.path.realpath(folder), "")
        if real.startswith(read) or read.startswith(real):
            raise SettingsError(
                "--save",
                f"{save_dir!r} and {option} {folder!r}, whose files are read as CA certificates, overlap: a body saved"
                " there could be trusted as a CA; choose another DIR",
            )


def _check_state(target: Target, deadline: float | None) -> None:
    """``--state``: a regular file (or none yet) that is fetchcli's state, of a schema this
    fetchcli reads (read, never written, here; a lock not waited for past the ``--deadline``)."""
    import stat
    import time

    from fetchcli.output.statefile import check

    existing = target.existing
    if target.alias or (existing is not None and not stat.S_ISREG(existing.st_mode)):
        raise SettingsError("--state", f"{target.path!r} is not a regular file: a state file is an SQLite database")
    check(target.resolved, target.path, None if deadline is None else time.monotonic() + deadline)


def _check_resume_options(urls: Sequence[str], paths: Sequence[str], options: OutputOptions) -> None:
    if options.resume is None:
        return
    from fetchcli.input.resumerun import PIPE_TWICE

    # What was given, by name: "drop --format and --fields" when only --fields was given misled.
    given = ["-o"] if not options.to_stdout else []
    shaping = ["--format"] if options.format not in (None, OutputFormat.jsonl) else []
    shaping += ["--fields"] if options.fields is not None else []
    if shaping:
        given += shaping
        drop = given[0] if len(given) == 1 else f"{', '.join(given[:-1])} and {given[-1]}"
        raise SettingsError("--resume", f"writes whole JSON Lines records to its own FILE: drop {drop}")
    if given:
        raise SettingsError("--resume", "appends to its own FILE: drop -o")
    if "-" in paths or (not urls and not paths):
        raise SettingsError("--resume", PIPE_TWICE)
