"""Stage 3, the engine: turns URLs into records. ``run`` (one concurrency point, the reorder
buffer, ``Stop``), ``admission`` (which URL starts next), ``politeness`` (per-host pacing),
``selection`` and ``urlkey`` (``--shard``, ``--unique``), ``request`` (one URL -> one record:
redirects, retries by the pure policy in ``retry``), ``ticket``, ``snippet`` (bounded body
reading), ``servertext``, ``workers`` (worker processes) and ``eventloop``.

May import the transports and the kernel; never input, output or the CLI (enforced by
import-linter, see pyproject.toml). Nothing is imported here.
"""
