"""Which input URLs a run fetches: one shard's (``--shard K/N``), each URL once (``--unique``;
for a JSON Lines line with its own method, headers or body, each request once: ``request_key``),
and not those an earlier run already recorded (``--resume``, see ``resume.py``).

Every URL keeps its ``index``, its position in the whole input, so the outputs of the shards of
one list merge back into one ordered list (``sort -m``), and a resumed file lines up with its
input. Memory is a fixed number of bytes per URL kept track of (``Hash64Set``), never the URLs.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from fetchcli.engine.urlkey import item_key, request_key, url_hash
from fetchcli.models import UrlItem
from fetchcli.settings import SettingProblem, check_shard

__all__ = ["Hash64Set", "Selection", "Shard", "item_key", "parse_shard", "url_hash"]

_EMPTY = 0  # a free slot; a hash that is 0 is stored as 1 (one more collision in 2**64)


class Hash64Set:
    """A set of 64-bit hashes in one flat array (open addressing, linear probing, at most half
    full): 8 to 16 bytes per member, where a Python ``set`` of ints takes about 60."""

    def __init__(self, capacity: int = 1024) -> None:
        size = 1
        while size < capacity * 2:
            size *= 2
        self._slots = array("Q", bytes(8 * size))
        self._mask = size - 1
        self.count = 0

    def _find(self, value: int) -> int:
        slots, mask = self._slots, self._mask
        at = (value ^ (value >> 29)) & mask
        while True:
            current = slots[at]
            if current in (value, _EMPTY):
                return at
            at = (at + 1) & mask

    def add(self, value: int) -> bool:
        """Add ``value``; False when it was there already."""
        value = value or 1
        at = self._find(value)
        if self._slots[at] == value:
            return False
        self._slots[at] = value
        self.count += 1
        if self.count * 2 > len(self._slots):
            self._grow()
        return True

    def __contains__(self, value: int) -> bool:
        value = value or 1
        return self._slots[self._find(value)] == value

    def _grow(self) -> None:
        old = self._slots
        self._slots = array("Q", bytes(16 * len(old)))
        self._mask = len(self._slots) - 1
        for value in old:
            if value != _EMPTY:
                self._slots[self._find(value)] = value

    @property
    def nbytes(self) -> int:
        return len(self._slots) * 8


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard ``k`` (1-based) of ``n``: the URLs whose key's hash (``urlkey.key_hash``: BLAKE2b of
    the normalised URL) modulo ``n`` is ``k - 1``."""

    k: int
    n: int

    def owns(self, item: UrlItem) -> bool:
        return url_hash(item_key(item)) % self.n == self.k - 1

    def __str__(self) -> str:
        return f"{self.k}/{self.n}"


def _count(text: str, what: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise SettingProblem("shard", f"{what} must be a whole number, not {text!r}") from None


def parse_shard(text: str, environ: Mapping[str, str]) -> Shard:
    """``K/N``; or ``auto`` (``auto/N``): K (and N) from the batch system running this task:
    Kubernetes Indexed Jobs (``JOB_COMPLETION_INDEX``), Slurm job arrays (``SLURM_ARRAY_TASK_ID``,
    ``SLURM_ARRAY_TASK_MIN``, ``SLURM_ARRAY_TASK_COUNT``), AWS Batch array jobs
    (``AWS_BATCH_JOB_ARRAY_INDEX``). N, where the batch system does not tell it, from ``auto/N``
    or ``FETCHCLI_SHARDS``."""
    head, _, tail = text.strip().partition("/")
    if head.lower() != "auto":
        if not tail:
            raise SettingProblem("shard", f"must be K/N (e.g. 2/8) or auto, not {text!r}")
        return _checked(_count(head, "K"), _count(tail, "N"))
    n_text = tail or environ.get("FETCHCLI_SHARDS")
    if "SLURM_ARRAY_TASK_ID" in environ:
        task = _count(environ["SLURM_ARRAY_TASK_ID"], "SLURM_ARRAY_TASK_ID")
        first = _count(environ.get("SLURM_ARRAY_TASK_MIN", "0"), "SLURM_ARRAY_TASK_MIN")
        if n_text is None and "SLURM_ARRAY_TASK_COUNT" in environ:
            n_text = environ["SLURM_ARRAY_TASK_COUNT"]
        index = task - first
    elif "JOB_COMPLETION_INDEX" in environ:
        index = _count(environ["JOB_COMPLETION_INDEX"], "JOB_COMPLETION_INDEX")
    elif "AWS_BATCH_JOB_ARRAY_INDEX" in environ:
        index = _count(environ["AWS_BATCH_JOB_ARRAY_INDEX"], "AWS_BATCH_JOB_ARRAY_INDEX")
    else:
        raise SettingProblem(
            "shard",
            "auto needs a batch system's task index: JOB_COMPLETION_INDEX (Kubernetes), "
            "SLURM_ARRAY_TASK_ID (Slurm) or AWS_BATCH_JOB_ARRAY_INDEX (AWS Batch); none is set",
        )
    if n_text is None:
        raise SettingProblem("shard", "auto needs the number of shards: --shard auto/N or FETCHCLI_SHARDS=N")
    return _checked(index + 1, _count(n_text, "N"))


def _checked(k: int, n: int) -> Shard:
    check_shard(k, n)
    return Shard(k, n)


class Selection:
    """The predicate the engine applies to each input URL, and what it left out."""

    def __init__(
        self,
        shard: tuple[int, int] | Shard | None = None,
        unique: bool = False,
        already_done: Callable[[UrlItem], bool] | None = None,
    ) -> None:
        self.shard = _checked(*shard) if isinstance(shard, tuple) else shard
        self.seen: Hash64Set | None = Hash64Set() if unique else None
        self.already_done = already_done
        # told of each URL another shard fetches (--shard) or a run before did (--resume)
        self.on_left_out: Callable[[UrlItem], object] | None = None
        self.duplicates = 0
        self.resumed = 0

    @property
    def active(self) -> bool:
        return self.shard is not None or self.seen is not None or self.already_done is not None

    def __call__(self, item: UrlItem) -> bool:
        if self.shard is not None or self.seen is not None:
            key = url_hash(item_key(item))  # once for both
            if self.shard is not None and key % self.shard.n != self.shard.k - 1:
                if self.on_left_out is not None:
                    self.on_left_out(item)
                return False
            if self.seen is not None:
                # A JSON Lines line's own request: --unique compares it too.
                asked = key if item.request is None else url_hash(request_key(item))
                if not self.seen.add(asked):
                    self.duplicates += 1
                    return False
        if self.already_done is not None and self.already_done(item):
            self.resumed += 1
            if self.on_left_out is not None:
                self.on_left_out(item)
            return False
        return True
