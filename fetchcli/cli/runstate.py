"""What one run carries while it goes on, shared by its parts (``runner.py``, ``signals.py``,
``progressdisplay.py``): the summary so far, the signal that stopped it, the progress line, the
files being written; and ``say``, its one way to write a line on stderr."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from signal import Signals
from typing import TYPE_CHECKING, Any

from fetchcli.summary import Summary
from fetchcli.targets import Target
from fetchcli.text import for_terminal

if TYPE_CHECKING:
    from fetchcli.cli.plan import Environment
    from fetchcli.engine.selection import Selection
    from fetchcli.input.resume import ResumeFile
    from fetchcli.output.metrics import MetricsCollector
    from fetchcli.output.render.progress import ProgressLine
    from fetchcli.output.statefile import StateStore
    from fetchcli.output.writer import Output


@dataclass
class RunState:
    summary: Summary = field(default_factory=Summary)
    finished: Summary = field(default_factory=Summary)  # the URLs done, as they finish: the progress line
    signal: int | None = None  # the first SIGINT/SIGTERM/SIGHUP before the outcome was decided
    interrupts: int = 0  # SIGINTs: a second one ends the run at once
    outcome_decided: bool = False  # stopped_by and the exit status are settled: a signal changes neither
    held: dict[Signals, Any] = field(default_factory=dict)  # the handlers hold_signals replaced
    on_stop: Callable[[str], object] | None = None  # while the loop runs: ask it to stop (signals.py)
    deadline_hit: bool = False  # --deadline stopped the run
    progress: ProgressLine | None = None
    selection: Selection | None = None
    resume: ResumeFile | None = None
    env: Environment | None = None
    targets: dict[str, Target] = field(default_factory=dict)  # the outputs as checked, by option
    outputs: list[Output] = field(default_factory=list)  # the files being written, for a second Ctrl-C
    internal_errors: int = 0  # URLs whose fetch raised (a fault in fetchcli): exit 1 whatever the policy
    internal_type: str | None = None  # the first one's exception type
    metrics: MetricsCollector | None = None  # --metrics: what the file will say, gathered as records are written
    store: StateStore | None = None  # --state
    conditional: bool = False  # --conditional
    only_changed: bool = False  # --only-changed
    fail_after: int = 1  # --fail-after

    def notice(self, line: str) -> None:
        """One line on stderr while the run goes on (above the progress line, if any)."""
        if self.env is None:
            return
        if self.progress is not None:
            self.progress.clear()
        say(self.env, line)
        if self.progress is not None:
            self.progress.redraw()


def say(env: Environment, line: str) -> None:
    """One line on stderr, made safe for a terminal (it may quote the input or a server)."""
    with contextlib.suppress(OSError, ValueError):
        env.stderr.write(for_terminal(line) + "\n")
        env.stderr.flush()
