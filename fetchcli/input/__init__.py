"""Stage 4a, input: where the URLs come from. ``readers`` reads positional arguments, files and
stdin lazily (one ``UrlItem`` at a time), a pipe straight from its descriptor (``pipereader``) on a
thread (``threadedsource``); ``jsonl`` reads a JSON Lines input's lines (a
request a line, with its own method, headers, body and ``meta``); ``resume`` finds which URLs an earlier run
(``--resume``) already recorded, its lines checked by ``resumelines``, the records it leaves
counted by ``resumesummary``, the file compacted by ``resumecompact``; ``resumerun`` does it all for a CLI run, the input read
twice.

May import the engine, the transports and the kernel; never the output stage or the CLI
(enforced by import-linter, see pyproject.toml). Nothing is imported here.
"""
