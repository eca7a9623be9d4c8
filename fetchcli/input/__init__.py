"""Stage 4a, input: where the URLs come from. ``readers`` reads positional arguments, files and
stdin lazily on a thread (one ``UrlItem`` at a time); ``resume`` finds which URLs an earlier run
(``--resume``) already recorded.

May import the engine, the transports and the kernel; never the output stage or the CLI
(enforced by import-linter, see pyproject.toml). Nothing is imported here.
"""
