"""Glue between the CLI and the core: carry out the ``RunPlan`` (``plan.py``: every check made
before any I/O): open the inputs, run the engine, feed a sink, fold a summary, and decide the
exit status. Streams and "is a terminal" are injected (``Environment``) so tests can cover
terminal and pipe behaviour without a pty."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, BinaryIO

from fetchcli.cli.fdlimit import make_room
from fetchcli.cli.plan import Environment as Environment
from fetchcli.cli.plan import OutputOptions as OutputOptions
from fetchcli.cli.plan import RunPlan, plan_run
from fetchcli.cli.progressdisplay import AboveProgress, progress_line, showing_progress, use_color
from fetchcli.cli.runstate import RunState, say
from fetchcli.cli.signals import SIGNAL_EXIT, hold_signals, release_signals, signal_handlers
from fetchcli.cli.status import ExitStatus
from fetchcli.engine.eventloop import run_loop
from fetchcli.errortype import ErrorType
from fetchcli.input.readers import Inputs
from fetchcli.input.threadedsource import ThreadedSource
from fetchcli.models import FetchResult, UrlItem
from fetchcli.output.change import worth_writing
from fetchcli.output.render import Sink, make_sink
from fetchcli.output.writer import OpenError, Output, OutputError, StateWriteError
from fetchcli.settings import OutputFormat, Settings, SettingsError
from fetchcli.targets import Target
from fetchcli.text import for_terminal
from fetchcli.units import count

if TYPE_CHECKING:
    from fetchcli.output.statefile import StateStore


def execute(
    settings: Settings, urls: Sequence[str], paths: Sequence[str], options: OutputOptions, env: Environment
) -> int:
    """Run one invocation; returns the exit status. ``SettingsError`` is the caller's to report."""
    plan = plan_run(settings, urls, paths, options, env)  # every check, before any I/O
    settings = plan.settings
    short = make_room(settings.pool.max_connections)  # ulimit -n: raised when it can be
    if short is not None:
        say(env, f"fetchcli: warning: {short}")
    state = RunState(env=env, targets=plan.targets, only_changed=options.only_changed, fail_after=options.fail_after)
    state.conditional = options.conditional
    if settings.body.save_dir is not None:
        from fetchcli.engine.savedir import prepare_option

        prepare_option(settings.body.save_dir)  # made if missing; a SettingsError if it cannot be
    if options.state is not None:
        state.store = _open_state(state.targets["--state"], options, settings.deadline)
    if options.resume is not None:
        from fetchcli.input.resumerun import load_for_run

        target = state.targets["--resume"]
        state.resume = load_for_run(target, options.resume_failed, settings, urls, paths, env.stdin)
    if state.resume is not None or settings.shard is not None or settings.unique:
        from fetchcli.engine.selection import Selection

        done = state.resume.done if state.resume is not None else None
        state.selection = Selection(settings.shard, settings.unique, done)
    opened: list[BinaryIO] = []
    if state.resume is not None and state.resume.held is not None:
        opened.append(state.resume.held)  # the file and its lock, held to the end of the run
    try:
        inputs = Inputs(urls, paths, env.stdin, bool(env.stdin_isatty), opened, settings.input_format)
        try:
            return _execute(plan, inputs, options, env, state)
        finally:
            inputs.close()
    finally:
        for stream in opened:
            stream.close()
        if state.store is not None:
            state.store.abandon()  # committed at the end of a run; what a failure left is not
        release_signals(state.held)  # the status is decided: the handlers before (kept to the exit by main())


def _open_state(target: Target, options: OutputOptions, deadline: float | None) -> StateStore:
    """The state file (checked by ``plan_run``, and again, as it is opened, by ``statefile``);
    no wait for its lock outlasts the ``--deadline`` (counted from here, just before the run)."""
    import time

    from fetchcli.output.statefile import StateStore

    ends = None if deadline is None else time.monotonic() + deadline
    if options.watch:
        store = StateStore.open(target.resolved, target.path, options.watch, ends)
    else:
        store = StateStore.open(target.resolved, target.path, ends=ends)
    store.fail_after = options.fail_after
    return store


def _open_output(options: OutputOptions, fmt: OutputFormat, env: Environment, targets: dict[str, Target]) -> Output:
    if options.resume is not None:
        try:
            return Output.open(targets["--resume"], atomic=False, append=True)
        except OpenError as exc:
            raise SettingsError("--resume", str(exc)) from None
    if options.to_stdout or options.path is None:
        return Output(env.stdout, "stdout")
    try:
        return Output.open(targets["--output"], atomic=fmt is not OutputFormat.jsonl)
    except OpenError as exc:
        raise SettingsError("--output", str(exc)) from None


def _execute(plan: RunPlan, inputs: Inputs, options: OutputOptions, env: Environment, state: RunState) -> int:
    settings, fmt, to_terminal = plan.settings, plan.format, plan.to_terminal
    summary_json = _open_at_end("--summary-json", state.targets)
    try:
        metrics = _open_at_end("--metrics", state.targets)
    except SettingsError:
        if summary_json is not None:
            summary_json.discard()
        raise
    extra = [out for out in (summary_json, metrics) if out is not None]  # written at the end of the run
    try:
        output = _open_output(options, fmt, env, state.targets)
        if state.resume is not None and state.resume.held is None:  # a new file: locked once made
            from fetchcli.input.resume import lock_for_run

            try:
                lock_for_run(output.stream.fileno(), state.resume.path)
            except SettingsError:
                output.discard()
                raise
    except SettingsError:
        for out in extra:
            out.discard()
        raise
    # So that SIGTERM or --deadline ends a run nobody reads: the deadline's timer runs on the loop,
    # which a write to a full pipe blocks, so the write itself looks at the clock.
    ends = None if settings.deadline is None else time.monotonic() + settings.deadline
    output.watch_reader(lambda: state.signal is not None or (ends is not None and time.monotonic() >= ends))
    if metrics is not None:
        from fetchcli.output.metrics import MetricsCollector

        state.metrics = MetricsCollector(options.metrics_max_urls, by_address=settings.request.all_ips)
    state.outputs = [output, *extra]
    state.progress = progress_line(options, env)
    summary = state.summary
    started = time.perf_counter()
    writing = output  # what a write error is about
    state.held = hold_signals(state)  # to the end of ``execute``: a signal noted, the writing goes on
    try:
        try:  # CSV and TSV write their header row here: to a pipe already closed, say, or a full disk
            sink: Sink = make_sink(
                fmt,
                output.stream,
                color=fmt is OutputFormat.table and use_color(options.color, env, to_terminal),
                fsync=options.fsync,
                fields=options.fields,
                header=options.header_row,
                addresses=settings.request.all_ips,
            )
        except OSError as exc:
            raise OutputError(exc) from None
        if state.progress is not None and to_terminal and env.stderr_isatty:
            sink = AboveProgress(sink, state.progress)
        try:
            run_loop(_consume(settings, inputs, sink, state), settings.resolver_threads)
        except KeyboardInterrupt:  # before the loop could install its handler
            state.signal = signal.SIGINT
        finally:
            if state.progress is not None:
                state.progress.clear()  # gone when the run ends
        if state.store is not None:
            state.store.flush()  # the last batch, also after a stop
        summary.elapsed_s = time.perf_counter() - started
        if state.selection is not None:
            summary.duplicates, summary.resumed = state.selection.duplicates, state.selection.resumed
        if state.resume is not None:
            summary.merge(state.resume.earlier)  # every URL of the file counts, as in one run
        try:
            sink.close(summary)
        except OSError as exc:
            raise OutputError(exc) from None
        output.commit()
        if state.resume is not None and state.signal is None and state.resume.needs_compacting:
            try:
                state.resume.compact()  # one final record per URL
            except OSError as exc:
                raise OutputError(exc) from None
        state.outcome_decided = True  # a later signal changes neither stopped_by nor the exit status
        interrupted = state.signal is not None
        if state.signal is not None:
            summary.stopped_by = signal.Signals(state.signal).name
        elif state.deadline_hit:
            summary.stopped_by = "deadline"
        cut = 0  # bytes of a pipe's line begun but not finished at the stop: not reported
        if not inputs.done:  # stopped by a signal or --deadline before the input's end
            inputs.stop_reading()
            summary.unread = inputs.unread()
            cut = inputs.cut()
        if summary_json is not None:
            writing = summary_json
            try:
                summary_json.stream.write(json.dumps(summary.to_dict(), indent=2) + "\n")
            except OSError as exc:
                raise OutputError(exc) from None
            summary_json.commit()
        if metrics is not None and state.metrics is not None:
            writing = metrics
            try:
                metrics.stream.write(state.metrics.render(summary, now=time.time()))
            except OSError as exc:
                raise OutputError(exc) from None
            metrics.commit()
    except OutputError as exc:
        status = write_failed(env, writing, exc)  # the run ends here, without a summary
        return SIGNAL_EXIT[signal.Signals(state.signal)] if exc.stalled and state.signal else status  # given up
    except StateWriteError as exc:
        say(env, f"fetchcli: error: cannot write --state {plan_state(state)!r}: {exc}")
        return ExitStatus.IO_ERROR
    finally:
        output.discard()  # after a commit, nothing to do; after anything unforeseen, no stray file
        for out in extra:
            out.discard()
    if summary.total == 0 and not interrupted and not (summary.resumed or summary.duplicates):
        line = (
            "fetchcli: warning: no URLs to fetch"
            + (f" in shard {settings.shard[0]}/{settings.shard[1]}" if settings.shard else "")
            + (": --deadline passed before the input gave one" if state.deadline_hit and not inputs.done else "")
        )
        # --summary's log line of the run (README's crontab: 2>> a log), dated as the summary line is
        say(env, f"{_timestamp()} {line}" if options.summary and not env.stderr_isatty else line)
    elif options.summary or (not options.quiet and (env.stderr_isatty or interrupted)):
        if interrupted:
            line = f"interrupted by {summary.stopped_by}: "
        elif state.deadline_hit:
            line = f"stopped by --deadline {settings.deadline:g} s: "
        else:
            line = ""
        # for_terminal: a --resume file's records are counted in it (validated when read, and still).
        line += for_terminal(summary.describe("probe" if settings.request.all_ips else "URL"))
        say(env, line if env.stderr_isatty else f"{_timestamp()} {line}")  # a log line says when
    elif summary.unread is not None:  # no summary line to say it: the URLs never read have no record
        n = summary.unread
        left = (
            "before the end of its input"
            if n < 0
            else f"with {count(n)} URL{'s' if n != 1 else ''} of its input unread"
        )
        stopper = "--deadline" if summary.stopped_by in (None, "deadline") else summary.stopped_by
        say(env, f"fetchcli: warning: {stopper} stopped the run {left}, which no record reports")
    if cut:
        say(
            env,
            f"fetchcli: warning: the run stopped in the middle of an input line; its first {cut:,} bytes were"
            " read, the rest did not come in time: that line is not reported",
        )
    if state.internal_errors:
        urls = "a URL" if state.internal_errors == 1 else f"{state.internal_errors:,} URLs"
        say(env, f"fetchcli: internal error: {state.internal_type} while fetching {urls}; please report it")
    if state.signal is not None:
        return SIGNAL_EXIT.get(signal.Signals(state.signal), ExitStatus.INTERRUPTED)
    if state.internal_errors:
        return ExitStatus.FAILURES  # a fault in fetchcli is never within --max-failures
    # URLs cancelled or not started by --deadline were not found ok: they count as failed here.
    # --fail-after: a URL that has not failed that many runs in a row yet does not count.
    return ExitStatus.OK if summary.not_ok - summary.below_fail_after <= options.max_failures else ExitStatus.FAILURES


def plan_state(state: RunState) -> str:
    target = state.targets.get("--state")
    return target.path if target is not None else "?"


def _timestamp() -> str:
    """Now, as the summary line in a log starts: ISO 8601 in UTC, to the second
    (``2025-03-14T06:05:00Z``), the same whatever the machine's time zone."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _open_at_end(option: str, targets: dict[str, Target]) -> Output | None:
    """``--summary-json``, ``--metrics``: opened before the run (a file that cannot be written
    is a usage error), written at its end, atomically."""
    target = targets.get(option)
    if target is None:
        return None
    try:
        return Output.open(target, atomic=True)
    except OpenError as exc:
        raise SettingsError(option, str(exc)) from None


def write_failed(env: Environment, output: Output, exc: OutputError) -> int:
    """Writing ``output`` failed: one line (none for a closed pipe, as `head` users expect) and
    the exit status for it."""
    output.abandon()
    if exc.broken_pipe:
        return ExitStatus.BROKEN_PIPE
    say(env, f"fetchcli: error: cannot write {output.where}: {exc}")
    return ExitStatus.IO_ERROR


async def _consume(settings: Settings, inputs: Inputs, sink: Sink, state: RunState) -> None:
    from fetchcli.engine.run import Stop, fetch

    stop = Stop()
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=settings.resolver_threads, thread_name_prefix="fetchcli")
    )
    lines = inputs.items()
    source = ThreadedSource(lines, stop_reading=inputs.stop_reading) if inputs.blocking else None
    items: Iterable[UrlItem] | AsyncIterable[UrlItem] = source if source is not None else lines
    # The progress line counts URLs as they finish, not as their records are written: in input
    # order one slow URL would otherwise hold the count, the rate and the ETA for the rest.
    finished = state.finished.add if state.progress is not None else None
    with signal_handlers(stop, state), showing_progress(state, inputs, not settings.request.all_ips):
        async with contextlib.AsyncExitStack() as stack:
            remote = None
            if settings.workers > 1:
                from fetchcli.engine.workers import WorkerPool

                remote = (await stack.enter_async_context(WorkerPool(settings, state.notice))).fetch
            prepare = state.store.prepare if state.store is not None and state.conditional else None
            results = await stack.enter_async_context(
                aclosing(
                    fetch(
                        items,
                        settings,
                        stop=stop,
                        selection=state.selection,
                        remote=remote,
                        on_finished=finished,
                        prepare=prepare,
                    )
                )
            )
            if not getattr(sink, "settled", True):  # a table: its first rows size its columns
                await _first_screenful(results, sink, state)
            async for result in results:
                _write(sink, result, state)
            # Only a signal (which sets state.signal) and the deadline stop a run.
            state.deadline_hit = stop.reason is not None and state.signal is None


def _write(sink: Sink, result: FetchResult, state: RunState) -> None:
    store = state.store
    if store is not None:
        result = store.note(result)
        if not result.ok and result.consecutive_failures is not None and result.consecutive_failures < state.fail_after:
            state.summary.below_fail_after += 1
    if not state.only_changed or worth_writing(result, state.fail_after):
        try:
            sink.write(result)
        except OSError as exc:
            raise OutputError(exc) from None
    state.summary.add(result)
    if state.metrics is not None:
        state.metrics.add(result)
    if result.error is not None and result.error.type == ErrorType.Unexpected:
        _count_internal_error(state, result)


async def _next(results: AsyncIterator[FetchResult]) -> FetchResult:
    return await anext(results)


async def _first_screenful(results: AsyncIterator[FetchResult], sink: Any, state: RunState) -> None:
    """Feed the table until it has chosen its column widths: it holds its first rows to measure
    them, and writes them when it has a screenful, or here once the first of them has waited
    ``SETTLE_SECONDS`` for the others (so a slow URL does not hide the rows before it)."""
    from fetchcli.output.render.table import SETTLE_SECONDS

    loop = asyncio.get_running_loop()
    due: float | None = None
    while not sink.settled:
        step = asyncio.ensure_future(_next(results))
        try:
            if due is not None and sink.holding:
                done, _ = await asyncio.wait({step}, timeout=max(0.0, due - loop.time()))
                if not done:
                    try:
                        sink.settle()
                    except OSError as exc:
                        raise OutputError(exc) from None
            result = await step
        except StopAsyncIteration:
            return
        finally:
            if not step.done():  # the run is being torn down: leave the generator free to close
                step.cancel()
                with contextlib.suppress(BaseException):
                    await step
        _write(sink, result, state)
        if due is None and sink.holding:
            due = loop.time() + SETTLE_SECONDS


def _count_internal_error(state: RunState, result: FetchResult) -> None:
    from fetchcli.errors import internal_error_type

    kind = internal_error_type(result.error)
    if kind is not None:
        state.internal_errors += 1
        state.internal_type = state.internal_type or kind
