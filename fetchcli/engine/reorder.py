"""The input-order reorder window: results come back in any order and leave in input order.

Every URL read from the input gets the next sequence number (0, 1, 2, ...), in the order read.
A result whose turn has not come is held here until every result before it has left; then it
leaves, with every held one after it that is next in turn.

The window bounds memory: a URL is read only while fewer than ``window`` URLs have been read and
not yet emitted (``admits``). What counts toward it is every URL read and not emitted, wherever
it is: waiting for a slot, in flight, or held here. So the results held, plus the URLs in flight,
never exceed ``window``, however long the input and however slow its first URL.

When a run stops, every URL read gets a record (finished, ``Cancelled`` or ``NotStarted``), each
``put`` under its own number: then ``ready`` gives them all, in order, and nothing stays held.

Synchronous and free of I/O: the engine (``run.py``) puts results and takes what is ready.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Generic, TypeVar

T = TypeVar("T")


class ReorderBuffer(Generic[T]):
    """Results keyed by sequence number, given back in sequence order; ``len`` is the count held."""

    __slots__ = ("_held", "next", "window")

    def __init__(self, window: int) -> None:
        self.window = window
        self.next = 0  # sequence number of the next result to emit
        self._held: dict[int, T] = {}

    def __len__(self) -> int:
        return len(self._held)

    def admits(self, read: int) -> bool:
        """Whether a URL may be read when ``read`` URLs have been read (sequence numbers
        ``0 .. read - 1`` given out): fewer than ``window`` are then read and not emitted."""
        return read - self.next < self.window

    def put(self, seq: int, result: T) -> None:
        """Hold the result of the URL numbered ``seq`` until its turn (``ready``)."""
        self._held[seq] = result

    def ready(self) -> Generator[T, None, None]:
        """The held results whose turn has come, in order, each removed as it is given."""
        held = self._held
        while self.next in held:
            seq = self.next
            self.next = seq + 1
            yield held.pop(seq)
