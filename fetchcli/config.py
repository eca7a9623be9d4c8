"""Option values from a config file and from the environment, below the command line.

Precedence, highest first: a flag on the command line, its environment variable
(``FETCHCLI_<NAME>``: ``--max-connections`` is ``FETCHCLI_MAX_CONNECTIONS``), the config file,
the default. The config file is TOML: ``--config FILE`` (or ``FETCHCLI_CONFIG``), else
``fetchcli.toml`` in the working directory when there is one. Its keys are long option names
(``max-connections = 50``, ``header = ["Authorization: Bearer ..."]``, ``follow-redirects =
true``, ``urls = [...]`` for URLs); an unknown key or a value of the wrong kind is a usage error
naming the file and the key.

The command line reads ``FETCHCLI_<NAME>`` itself (Click's ``envvar``; ``FETCHCLI_CONFIG`` for
the file too), except for options given more than once (``-H``, ``-i``, ``--secret-header``), whose variables hold
one value per line and are read here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any, Literal

from fetchcli.settings import SettingsError

ENV_PREFIX = "FETCHCLI_"
DEFAULT_CONFIG = "fetchcli.toml"
# Options a config file cannot set: they act at once rather than configure a run.
NOT_CONFIGURABLE = frozenset({"config", "help", "version", "schema", "install_completion", "show_completion"})

Kind = Literal["flag", "list", "value"]


def env_name(long_option: str) -> str:
    """``--max-connections`` -> ``FETCHCLI_MAX_CONNECTIONS``."""
    return ENV_PREFIX + long_option.lstrip("-").replace("-", "_").upper()


# Options given more than once: their environment variables hold one value per line.
LIST_ENV = {name: env_name(name) for name in ("header", "input", "secret_header")}


def config_path(given: str | None, cwd: str | None = None) -> str | None:
    """The config file to read: the one given, else ``fetchcli.toml`` in ``cwd`` if present."""
    if given is not None:
        return given
    default = os.path.join(cwd or os.getcwd(), DEFAULT_CONFIG)
    return default if os.path.isfile(default) else None


def _read(path: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        with open(path, "rb") as f:
            data: dict[str, Any] = tomllib.load(f)
            return data
    except OSError as exc:
        raise SettingsError("--config", f"cannot read {path!r}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError("--config", f"{path}: not valid TOML: {exc}") from None


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    return value if isinstance(value, str) else repr(value) if isinstance(value, float) else str(value)


def _value(path: str, key: str, kind: Kind, value: Any) -> Any:
    """A config value as the command line would have given it (text, a list of text, a bool)."""
    where = f"{path}: {key}"
    if kind == "flag":
        if not isinstance(value, bool):
            raise SettingsError("--config", f"{where} must be true or false, not {value!r}")
        return value
    if kind == "list":
        items = value if isinstance(value, list) else [value]
        texts = [_scalar(item) for item in items]
        if any(text is None for text in texts):
            raise SettingsError("--config", f"{where} must be text or a list of text, not {value!r}")
        return texts
    text = _scalar(value)
    if text is None:
        raise SettingsError("--config", f"{where} must be text or a number, not {value!r}")
    return text


def defaults(path: str | None, kinds: Mapping[str, Kind], environ: Mapping[str, str]) -> dict[str, Any]:
    """Click's ``default_map`` for a run: the config file's values (if ``path``), with the
    list-valued environment variables (``FETCHCLI_HEADER``, ``FETCHCLI_INPUT``) over them.
    ``kinds`` names every option the command has (by parameter name) and its kind."""
    found: dict[str, Any] = {}
    if path is not None:
        for key, value in _read(path).items():
            name = key.replace("-", "_")
            if name not in kinds or name in NOT_CONFIGURABLE:
                raise SettingsError("--config", f"{path}: unknown option {key!r}")
            found[name] = _value(path, key, kinds[name], value)
    for name, variable in LIST_ENV.items():
        text = environ.get(variable)
        if text is not None and name in kinds:
            found[name] = [line.strip() for line in text.splitlines() if line.strip()]
    return found
