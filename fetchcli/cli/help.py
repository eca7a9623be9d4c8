"""``fetchcli --help``: plain text in the manner of curl's and lychee's, generated from the
command's own parameters (so it cannot drift from them): one section per group in a sensible
order, each option with its value's name, what it does, its default and its environment
variable; then precedence, examples and every exit status. No colours, no boxes: it reads the
same in a terminal, a pager and a cron mail."""

from __future__ import annotations

import shutil
import textwrap
from typing import Any

from fetchcli.cli.config import LIST_ENV, own_variable
from fetchcli.cli.options import SECTIONS

NOTES = {
    "Timeouts": "seconds; 0 or inf means no limit",
    "Proxy": "curl's rules: NO_PROXY applies to --proxy too",
}

EPILOG = """\
Every option can also be set by an environment variable (shown as env; a switch takes
1/true/yes/on or 0/false/no/off, and --no-NAME turns it off) and in a config file: --config
FILE, else your own $XDG_CONFIG_HOME/fetchcli/config.toml (~/.config/fetchcli/config.toml),
used only when no one else can write it; --config '' reads none, and none is ever read from
the working directory. TOML, keys are long option names, e.g. max-connections = 50,
header = ["Accept: text/html"]. Precedence: flag > environment > config file > default.

Examples
  A table on a terminal, JSON Lines in a pipe:
    fetchcli -i urls.txt
  Only what failed:
    fetchcli -i urls.txt | jq -c 'select(.ok | not)'
  CSV, chosen by the extension:
    fetchcli -i urls.txt -o results.csv
  TSV for awk, cut and read (a record per line, LF line ends, no header row): what answered 200:
    fetchcli -i urls.txt -f tsv --no-header --fields ok,status,url | awk -F'\\t' '$1 == "true" && $2 == 200'
  A health check for cron, which mails what a job prints: nothing unless a URL failed:
    fetchcli -q --expect-regex '"status"\\s*:\\s*"up"' -o last.jsonl URL... || jq -c 'select(.ok | not)' last.jsonl
  Certificates expiring within 14 days (exit status 1 when there is one):
    fetchcli -k --cert-expiry-days 14 -i sites.txt

Exit status
  0    every URL ok (or at most --max-failures failed; --fail-after N: a URL counts from its Nth failed run in a row)
  1    more URLs failed (or an internal error: a bug, whatever --max-failures says)
  2    usage error
  74   the output could not be written
  129  hung up (SIGHUP: the terminal closed; not under nohup)
  130  interrupted (SIGINT)
  141  the output's reader went away (SIGPIPE)
  143  terminated (SIGTERM)
"""


def _flags(param: Any) -> str:
    if getattr(param, "param_type_name", "") == "argument":
        return str(param.metavar or param.name.upper())
    opts = sorted(param.opts, key=lambda o: (o.startswith("--"), o))  # -t before --timeout
    text = ", ".join(opts + list(getattr(param, "secondary_opts", ())))
    if not getattr(param, "is_flag", False) and param.metavar:
        text += f" {param.metavar}"
    return text


def _details(param: Any) -> str:
    parts = [str(param.help or "").strip()]
    default = getattr(param, "show_default", None)
    if isinstance(default, str) and default:
        parts.append(f"[default: {default}]")
    if getattr(param, "param_type_name", "") != "argument":
        envvar = param.envvar or own_variable(param.name)
        if param.name in LIST_ENV:
            envvar = f"{envvar}, one per line"
        if envvar is not None:
            parts.append(f"[env: {envvar}]")
    return " ".join(part for part in parts if part)


def render_help(command: Any, width: int | None = None) -> str:
    width = max(60, min(width or shutil.get_terminal_size((100, 24)).columns, 120))
    sections: dict[str, list[tuple[str, str]]] = {name: [] for name in SECTIONS}
    for param in command.params:
        if getattr(param, "hidden", False):
            continue
        panel = getattr(param, "rich_help_panel", None) or "Other"
        sections.setdefault(panel, []).append((_flags(param), _details(param)))
    left = min(34, max(len(flags) for rows in sections.values() for flags, _ in rows) + 2)
    out = [
        "Usage: fetchcli [OPTIONS] [URL]...",
        "",
        "Fetch many URLs concurrently; report status, timing and the first characters of each body.",
        "URLs come from the arguments, from -i FILE, or from stdin when it is a pipe or a file.",
    ]
    for name, rows in sections.items():
        if not rows:
            continue
        note = NOTES.get(name)
        out += ["", f"{name}{f' ({note})' if note else ''}"]
        for flags, details in rows:
            lines = textwrap.wrap(details, width - left - 2) or [""]
            if len(flags) + 2 > left:
                out.append(f"  {flags}")
                out += [" " * (left + 2) + line for line in lines]
            else:
                out.append(f"  {flags.ljust(left)}{lines[0]}")
                out += [" " * (left + 2) + line for line in lines[1:]]
    return "\n".join(out) + "\n\n" + EPILOG


__all__ = ["EPILOG", "SECTIONS", "render_help"]
