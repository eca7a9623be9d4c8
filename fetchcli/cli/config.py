"""Option values from a config file and from the environment, below the command line.

Precedence, highest first: a flag on the command line, its environment variable
(``FETCHCLI_<NAME>``: ``--max-connections`` is ``FETCHCLI_MAX_CONNECTIONS``), the config file,
the default.

The config file: one at most, and never one found in the working directory (a directory is not
the user's choice: a clone, a download or a shared folder would otherwise take over the run).

- ``--config FILE``, else ``FETCHCLI_CONFIG=FILE``: that file, named by the user, is read;
- an empty value (``--config ""``, ``FETCHCLI_CONFIG=``) reads no config file at all;
- else the user's own ``$XDG_CONFIG_HOME/fetchcli/config.toml`` (``~/.config`` when
  ``XDG_CONFIG_HOME`` is unset, empty or relative) when it exists; it is ignored, with a
  one-line warning, unless it is a regular file and it and its directory are owned by the user
  (or root) and writable by no one else, as ssh treats ``~/.ssh``.
- a ``fetchcli.toml`` in the working directory, which fetchcli read before, is never read; when
  no config file was named, a run from such a directory says so once on stderr (a note, shown
  with ``-q`` too: what a run is configured by is not progress chatter).

It is TOML; its keys are long option names (``max-connections = 50``, ``header =
["Authorization: Bearer ..."]``, ``follow-redirects = true``, ``urls = [...]`` for URLs); an
unknown key, a value of the wrong kind or a file that is not TOML is a usage error naming the
file and the key.

The environment: Click reads ``FETCHCLI_<NAME>`` for the options that take a value (text, which
``settings.parse_*`` parses). fetchcli reads these itself, into Click's ``default_map`` above the
config file's values: a switch's (``FETCHCLI_INSECURE``: ``1/true/yes/on`` or
``0/false/no/off``, any case, nothing else, whatever a typer or Click version would make of it),
those of the options given more than once (``-H``, ``-i``, ``--secret-header``: one value per line), and
``FETCHCLI_CONFIG`` (Click takes an empty variable for an unset one). ``Loaded.origins`` says
where each of those values came from, so that a bad one is reported with its source.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from fetchcli.cli.options import BY_NAME, OPTIONS, Kind
from fetchcli.cli.options import ENV_PREFIX as ENV_PREFIX
from fetchcli.cli.options import env_name as env_name
from fetchcli.settings import SettingsError

CONFIG_ENV = "FETCHCLI_CONFIG"
USER_CONFIG = os.path.join("fetchcli", "config.toml")  # under $XDG_CONFIG_HOME
# Read from the working directory by fetchcli before issue 17, when no config file was named;
# now never read, and a run that would have read it says so (``local_config_note``).
LOCAL_CONFIG = "fetchcli.toml"
LOCAL_CONFIG_NOTE = (
    f"./{LOCAL_CONFIG} is not read (config files come from --config FILE, {CONFIG_ENV} or"
    f" ~/.config/fetchcli/config.toml); use --config {LOCAL_CONFIG} to read it"
)
# Options a config file cannot set: they act at once rather than configure a run (the table's,
# and Typer's shell completion options).
NOT_CONFIGURABLE = frozenset(
    {option.name for option in OPTIONS if not option.configurable} | {"install_completion", "show_completion"}
)
SWITCH_ON = ("1", "true", "yes", "on")
SWITCH_OFF = ("0", "false", "no", "off")

# Options given more than once: their environment variables hold one value per line.
LIST_ENV = {o.name: o.variable for o in OPTIONS if o.kind == "list" and o.variable is not None}
# The options a config file may set, by parameter name, and their kinds.
KINDS: dict[str, Kind] = {option.name: option.kind for option in OPTIONS if option.configurable}
# Every FETCHCLI_* variable fetchcli reads: the options', and those of the engine (README).
VARIABLES = frozenset(
    {o.variable for o in OPTIONS if o.variable is not None}
    | {CONFIG_ENV, "FETCHCLI_SHARDS", "FETCHCLI_GC", "FETCHCLI_LOOP"}
)


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """One warning line for each ``FETCHCLI_*`` variable fetchcli does not read (a misspelt
    ``FETCHCLI_CONCURENCY`` would otherwise change nothing, unsaid; a config file's unknown
    key is an error, but the environment is shared with other runs and versions)."""
    import difflib

    unknown = sorted(name for name in environ if name.startswith(ENV_PREFIX) and name not in VARIABLES)
    tails = [known.removeprefix(ENV_PREFIX) for known in VARIABLES]  # the prefix would match any
    warnings = []
    for name in unknown[:MAX_UNKNOWN_EXAMINED]:
        shown = name if len(name) <= 60 else name[:60] + "..."  # the environment's text, bounded
        close = difflib.get_close_matches(name.removeprefix(ENV_PREFIX)[:60], tails, n=1, cutoff=0.75)
        hint = f" (did you mean {ENV_PREFIX}{close[0]}?)" if close else ""
        warnings.append((not close, f"{shown} is not a variable fetchcli reads: ignored{hint}"))
    # A misspelling (one with a "did you mean") is shown before a variable of another version or
    # tool, so the cap never hides the line that says what to fix.
    lines = [line for _, line in sorted(warnings, key=lambda warning: warning[0])[:MAX_UNKNOWN_SHOWN]]
    if len(unknown) > MAX_UNKNOWN_SHOWN:
        lines.append(f"and {len(unknown) - MAX_UNKNOWN_SHOWN} more FETCHCLI_* variables fetchcli does not read")
    return lines


MAX_UNKNOWN_SHOWN = 5  # warnings about unknown variables, at most, then how many more
MAX_UNKNOWN_EXAMINED = 100  # unknown variables looked at for a close name (the rest are counted)


def own_variable(name: str) -> str | None:
    """The environment variable fetchcli reads itself (not Click) for the option ``name``:
    ``FETCHCLI_CONFIG``, and those of switches and of options given more than once."""
    option = BY_NAME.get(name)
    if option is None or option.variable is None or option.variable_read_by_click:
        return None
    return option.variable


def parse_switch(variable: str, text: str) -> bool:
    """A switch's value from the environment: ``1/true/yes/on`` or ``0/false/no/off``."""
    word = text.strip().lower()
    if word in SWITCH_ON:
        return True
    if word in SWITCH_OFF:
        return False
    raise SettingsError(variable, f"must be one of {'/'.join(SWITCH_ON)} or {'/'.join(SWITCH_OFF)}, not {text!r}")


def user_config_path(environ: Mapping[str, str]) -> str | None:
    """``$XDG_CONFIG_HOME/fetchcli/config.toml``; the XDG base directory rules: a relative or
    empty ``XDG_CONFIG_HOME`` is ignored for ``~/.config``. None without an absolute home."""
    base = environ.get("XDG_CONFIG_HOME", "")
    if not os.path.isabs(base):
        home = environ.get("HOME") or os.path.expanduser("~")
        if not os.path.isabs(home):
            return None
        base = os.path.join(home, ".config")
    return os.path.join(base, USER_CONFIG)


@dataclass(frozen=True)
class Loaded:
    """What the environment and the config file add to Click's ``default_map``."""

    values: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)  # name -> "FETCHCLI_X" or "FILE: key"
    path: str | None = None  # the config file read
    source: str = ""  # how it was chosen, or why there is none
    warning: str | None = None  # the user's config file was ignored: why
    note: str | None = None  # a ./fetchcli.toml that earlier versions read is not read
    unknown: list[str] = field(default_factory=list)  # warnings: FETCHCLI_* variables not read

    def describe(self) -> str:
        """For ``--dry-run``: the config file read and how it was chosen, or why none."""
        return f"{self.path} ({self.source})" if self.path is not None else f"none ({self.source})"


def _not_private(info: os.stat_result, what: str, path: str) -> str | None:
    """Why a file (or directory) that someone else could have written must not configure the run."""
    if not hasattr(os, "geteuid"):  # pragma: no cover - Windows: no owners and modes to check
        return None
    if info.st_uid not in (os.geteuid(), 0):
        return f"{what} is owned by someone else (uid {info.st_uid}), not by you"
    writable = info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    if writable:
        who = {stat.S_IWGRP: "its group", stat.S_IWOTH: "others"}.get(writable, "its group and others")
        return f"{what} is writable by {who} (chmod go-w {path})"
    return None


def _open_user_config(path: str) -> tuple[IO[bytes] | None, str | None]:
    """The user's config file, opened, if it may be used; else why not (None, None: no file).
    The checks are made on the file opened (``fstat``), so a file swapped in after them is not
    the one read."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except (FileNotFoundError, NotADirectoryError):
        return None, None
    except OSError as exc:
        return None, f"cannot read it: {exc.strerror or exc}"
    try:
        info = os.fstat(fd)
        why = "it is not a regular file" if not stat.S_ISREG(info.st_mode) else _not_private(info, "it", path)
        if why is None:
            directory = os.path.dirname(path)
            why = _not_private(os.stat(directory), f"its directory {directory}", directory)
    except OSError as exc:
        why = f"cannot read it: {exc.strerror or exc}"
    if why is not None:
        os.close(fd)
        return None, why
    return os.fdopen(fd, "rb"), None


def local_config_note(chosen: bool, read: IO[bytes] | None) -> str | None:
    """``LOCAL_CONFIG_NOTE`` when ``./fetchcli.toml`` is a file, fetchcli used to read it (no
    config file was named: not ``chosen``) and it is not the file ``read``. One ``stat``; the
    file is never opened. Named config (``--config``, ``FETCHCLI_CONFIG``, empty included) is a
    choice the user made, so no note: that is also how to silence it without moving the file."""
    if chosen:
        return None
    try:
        found = os.stat(LOCAL_CONFIG)
    except (OSError, ValueError):
        return None
    if not stat.S_ISREG(found.st_mode):
        return None
    if read is not None:
        mine = os.fstat(read.fileno())
        if (mine.st_dev, mine.st_ino) == (found.st_dev, found.st_ino):
            return None
    return LOCAL_CONFIG_NOTE


def _parse(stream: IO[bytes], label: str, path: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        with stream:
            data: dict[str, Any] = tomllib.load(stream)
            return data
    except OSError as exc:
        raise SettingsError(label, f"cannot read {path!r}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(label, f"{path}: not valid TOML: {exc}") from None


def _kind_of_value(value: Any) -> str:
    """What a TOML value is, for an error: not the value itself, which may hold a secret (a
    proxy's password, a token in a header)."""
    names = {bool: "true or false", str: "text", int: "a number", float: "a number", list: "an array", dict: "a table"}
    return next((name for kind, name in names.items() if isinstance(value, kind)), "a date or time")


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    return value if isinstance(value, str) else repr(value) if isinstance(value, float) else str(value)


def _value(label: str, where: str, kind: Kind, value: Any) -> Any:
    """A config value as the command line would have given it (text, a list of text, a bool)."""
    if kind == "flag":
        if not isinstance(value, bool):
            raise SettingsError(label, f"{where} must be true or false, not {_kind_of_value(value)}")
        return value
    if kind == "list":
        items = value if isinstance(value, list) else [value]
        texts = [_scalar(item) for item in items]
        if any(text is None for text in texts):
            raise SettingsError(label, f"{where} must be text or a list of text, not {_kind_of_value(value)}")
        return texts
    text = _scalar(value)
    if text is None:
        raise SettingsError(label, f"{where} must be text or a number, not {_kind_of_value(value)}")
    return text


def _config_file(given: str | None, environ: Mapping[str, str]) -> tuple[IO[bytes] | None, str, str, str | None]:
    """The config file to read, opened: (stream or None, its path or "", how it was chosen or
    why there is none, a warning)."""
    label = "--config" if given is not None else CONFIG_ENV if CONFIG_ENV in environ else ""
    if label:
        path = given if given is not None else environ[CONFIG_ENV]
        if not path.strip():
            return None, "", f"{label} is empty: no config file", None
        try:
            return open(path, "rb"), path, label, None  # closed by _parse
        except OSError as exc:
            raise SettingsError(label, f"cannot read {path!r}: {exc.strerror or exc}") from None
    path = user_config_path(environ) or ""
    if not path:
        return None, "", "no home directory", None
    stream, why = _open_user_config(path)
    if why is not None:
        return None, path, f"{path} ignored: {why}", f"ignoring the config file {path}: {why}"
    return stream, path, "your config file" if stream is not None else f"{path} does not exist", None


def load(given: str | None, environ: Mapping[str, str], kinds: Mapping[str, Kind] = KINDS) -> Loaded:
    """Click's ``default_map`` for a run: the config file's values, with the variables fetchcli
    reads itself (switches, lists) over them. ``given`` is ``--config``'s value (None when not
    given); ``kinds``: the options a config file may set (by parameter name), and their kinds."""
    stream, path, source, warning = _config_file(given, environ)
    chosen = given is not None or CONFIG_ENV in environ
    note = local_config_note(chosen, stream)
    label = source if source in ("--config", CONFIG_ENV) else "config file"
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    if stream is not None:
        for key, value in _parse(stream, label, path).items():
            name = key.replace("-", "_")
            if name not in kinds or name in NOT_CONFIGURABLE:
                raise SettingsError(label, f"{path}: unknown option {key!r}")
            values[name] = _value(label, f"{path}: {key}", kinds[name], value)
            origins[name] = f"{path}: {key}"
    for name, kind in kinds.items():
        variable = own_variable(name)
        text = environ.get(variable) if variable is not None else None
        if variable is None or text is None:
            continue
        if kind == "flag":
            values[name] = parse_switch(variable, text)
        else:
            values[name] = [line.strip() for line in text.splitlines() if line.strip()]
        origins[name] = variable
    return Loaded(
        values, origins, path if stream is not None else None, source, warning, note, unknown_variables(environ)
    )
