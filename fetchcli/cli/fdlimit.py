"""Room for a run's connections among the files a process may open (``ulimit -n``).

Each connection is an open file. A shell's soft limit is often 1,024 (or 256 on macOS) while
the hard limit allows far more, so ``--max-connections 2000`` would fail hundreds of URLs with
``TooManyOpenFiles``. The run raises its soft limit as far as it needs, up to the hard limit, as
Go's runtime and nginx's ``worker_rlimit_nofile`` do; when the hard limit is too low, one
warning says so before anything is sent. The limit is inherited by ``--workers``' processes.
"""

from __future__ import annotations

SPARE = 64  # files besides the connections: inputs, outputs, the state file, jq's pipes, the loop's own


def make_room(connections: int) -> str | None:
    """Raise the soft ``RLIMIT_NOFILE`` to fit ``connections`` and ``SPARE`` (never lower it);
    a warning's text when the hard limit does not allow it, else None."""
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = connections + SPARE
    if soft == resource.RLIM_INFINITY or soft >= need:
        return None
    wanted = need if hard == resource.RLIM_INFINITY else min(need, hard)
    if wanted > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            pass
    if soft >= need:
        return None
    return (
        f"--max-connections {connections} needs about {need} open files and this process may open {soft}"
        f" (ulimit -n): connections beyond them fail as TooManyOpenFiles"
    )
