"""``--resume`` of a CLI run (``load_for_run``): the input counted (a recorded index must be one of
its URLs), the file read (``resume.ResumeFile``, a torn last line cut off), and the file checked
against the input, read once more for that, before anything is fetched. So the input is read
from its start twice more: a pipe cannot be (``PIPE_TWICE``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import BinaryIO

from fetchcli.engine.selection import Selection
from fetchcli.input.readers import Inputs
from fetchcli.input.resume import ResumeFile
from fetchcli.input.resumelines import record_line_limit
from fetchcli.settings import InputFormat, SettingProblem, Settings
from fetchcli.targets import Target

PIPE_TWICE = "needs the URLs as arguments or -i FILE: a pipe cannot be read twice"


def load_for_run(
    target: Target, redo_failed: bool, settings: Settings, urls: Sequence[str], paths: Sequence[str], stdin: BinaryIO
) -> ResumeFile:
    """``--resume`` of a CLI run: count the input's URLs (a recorded index must be one of them),
    read the file (cutting off a torn last line), and check it against the input, read once more
    for that, before anything is fetched."""
    with _reading_again(urls, paths, stdin, settings.input_format) as inputs:
        size = inputs.unread()  # nothing was read yet: every URL of the input
    if size < 0:
        raise SettingProblem("resume", "cannot read the input through, to check FILE against it")
    limit = record_line_limit(
        settings.body.snippet_length, settings.request.max_redirects, settings.body.max_body_bytes
    )
    resume = ResumeFile.load(
        target.path, redo_failed=redo_failed, urls=size, max_line=limit, target=target, save_dir=settings.body.save_dir
    )
    with _reading_again(urls, paths, stdin, settings.input_format) as inputs:
        shard = Selection(settings.shard)
        resume.check(item for item in inputs.items() if shard(item))
    return resume


@contextlib.contextmanager
def _reading_again(
    urls: Sequence[str], paths: Sequence[str], stdin: BinaryIO, fmt: InputFormat = InputFormat.auto
) -> Iterator[Inputs]:
    """The input from its start, for the checks; a FIFO given as ``-i`` cannot be read twice."""
    opened: list[BinaryIO] = []
    try:
        inputs = Inputs(urls, paths, stdin, True, opened, fmt)
        try:
            if inputs.blocking:
                raise SettingProblem("resume", PIPE_TWICE)
            yield inputs
        finally:
            inputs.close()
    finally:
        for stream in opened:
            stream.close()
