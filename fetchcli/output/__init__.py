"""Stage 4b, output: where records go and how they look. ``writer`` writes stdout or ``-o PATH``
(atomically where that is safe; ``stalledreader``: after a signal, a pipe nobody reads is given
up), ``render`` formats records (table, JSON, JSON Lines, CSV, TSV,
the progress line: the only part of the core besides the CLI that imports rich), ``schema``
describes the record (``--schema``), ``metrics`` gathers and writes ``--metrics`` (Prometheus
textfile metrics), ``statefile`` keeps what a run leaves for the next (``--state``) and
``change`` compares a record with it.

May import the engine, the transports and the kernel; never the input stage or the CLI
(enforced by import-linter, see pyproject.toml). Nothing is imported here.
"""
