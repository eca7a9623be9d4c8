"""Stage 5, the command line: parse flags (and the config file, the environment), wire the stages
together for one run, show progress and decide the exit status.

``options`` (the option table: every option declared once), ``app`` (the Typer command and
``main``, built from the table), ``config`` (``FETCHCLI_*`` and the config file), ``help``,
``dryrun``, ``requestbody`` (-d, --data-binary, --json: the body, read once), ``plan`` (every check before any I/O -> a ``RunPlan``), ``runner`` (carries the plan
out: inputs -> engine -> output), ``runstate`` (what a run carries while it goes on), ``signals``
(SIGINT, SIGTERM, SIGHUP), ``exitsignals`` (a signal after ``main`` returns: the decided exit status), ``progressdisplay`` (the live progress line), ``status`` (exit statuses),
``stdstreams`` (closed standard streams filled first), ``fdlimit`` (room for the connections in
``ulimit -n``).

May import every other stage and the kernel. The only stage that imports typer or click
(enforced by import-linter, see pyproject.toml). Nothing is imported here, so that
``fetchcli --version`` loads only what it needs.
"""
