"""Stage 3, the engine: turns URLs into records. ``run`` (one concurrency point, ``--deadline``,
``Stop``), ``source`` (the input as the engine reads it), ``allips`` (``--all-ips``: a URL per address), ``reorder`` (the input-order window),
``admission`` (which URL starts next), ``politeness`` (per-host pacing), ``selection`` and
``urlkey`` (``--shard``, ``--unique``), ``request`` (one URL -> its outcome, asked as ``asking`` builds it: redirects by ``redirect``, retries by
the pure policy in ``retry``), ``records`` (an outcome -> its ``FetchResult``), ``ticket``,
``snippet`` (bounded body reading), ``savefile`` (``--save``; its names by ``savename``, DIR by ``savedir``), ``servertext``, ``workers`` (worker processes: the parent's pool) with
``workerprocess`` (a worker's own loop), ``workerframes`` (what the two say to each other) and
``routing`` (which worker takes a URL), ``jqcheck`` and ``jqchild`` (``--expect-jq``, judged in child
processes), and ``eventloop``.

May import the transports and the kernel; never input, output or the CLI (enforced by
import-linter, see pyproject.toml). Nothing is imported here.
"""
