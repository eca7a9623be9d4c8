"""``--resume``'s compaction: after a run that redid URLs (``--resume-failed``, URLs a stop left
unfetched, records of an index written twice), the file is rewritten atomically with the last
record of each index, in input order. A run stopped before that leaves duplicates, which the next
``--resume`` reads last-one-wins (as ``jq -s 'group_by(.index) | map(last)'`` would)."""

from __future__ import annotations

import json
import os
import tempfile
from array import array


def compact(where: str, max_index: int) -> None:
    """Rewrite the file ``where`` (``max_index``: the highest index it records), atomically, with
    only the last record of each index, in input (index) order: the URLs a ``--resume-failed``
    run redid, appended at the end, go back to their places. The file appended to: a link is
    written through, and one swapped in since is not followed. Memory: 8 bytes per index (where
    each index's last record starts)."""
    starts = array("q", [-1]) * (max_index + 1) if max_index >= 0 else array("q")
    in_order, previous, at = True, -1, 0
    with os.fdopen(os.open(where, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC), "rb") as f:
        for line in f:
            index = json.loads(line)["index"]
            if index >= len(starts):
                starts.extend([-1] * (index + 1 - len(starts)))
            starts[index] = at
            in_order = in_order and index > previous  # and so no index twice
            previous, at = index, at + len(line)
        if in_order:
            return  # nothing to drop or move
        fd, temp = tempfile.mkstemp(prefix=".fetchcli-resume-", dir=os.path.dirname(where))
        try:
            with os.fdopen(fd, "wb") as out:
                os.fchmod(out.fileno(), os.fstat(f.fileno()).st_mode & 0o7777)
                for start in starts:
                    if start >= 0:
                        f.seek(start)
                        out.write(f.readline())
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, where)
        except BaseException:
            os.unlink(temp)
            raise
