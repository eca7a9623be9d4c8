"""Stage 5, the command line: parse flags (and the config file, the environment), wire the stages
together for one run, show progress and decide the exit status.

``app`` (the Typer command and ``main``), ``config``, ``help``, ``dryrun``, ``plan`` (every check
before any I/O -> a ``RunPlan``), ``runner`` (carries the plan out: inputs -> engine -> output,
signals), ``status`` (exit statuses), ``stdstreams``.

May import every other stage and the kernel. The only stage that imports typer or click
(enforced by import-linter, see pyproject.toml). Nothing is imported here, so that
``fetchcli --version`` loads only what it needs.
"""
