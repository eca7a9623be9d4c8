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


class PlacedReorderBuffer(Generic[T]):
    """``ReorderBuffer`` for a run whose URLs may have several results each, read out of input
    order (``--all-ips``: a URL's items, one per address, are read when its lookup ends, and a
    slow lookup lets later URLs' items pass). Each item read is told where it stands in input
    order (``place``: its URL's ordinal, its place among the URL's items, how many it has), and
    its result leaves in that order. The window counts items read and not emitted, as above."""

    __slots__ = ("_held", "_parts", "_places", "_turn", "next", "window")

    def __init__(self, window: int) -> None:
        self.window = window
        self.next = 0  # results emitted
        self._held: dict[tuple[int, int], T] = {}
        self._places: dict[int, tuple[int, int]] = {}  # sequence number -> (ordinal, place), until put
        self._parts: dict[int, int] = {}  # ordinal -> how many items, for URLs not all emitted
        self._turn = (0, 0)  # (ordinal, place) of the next result to emit

    def __len__(self) -> int:
        return len(self._held)

    def admits(self, read: int) -> bool:
        """As ``ReorderBuffer.admits``: fewer than ``window`` items read and not emitted."""
        return read - self.next < self.window

    def place(self, seq: int, ordinal: int, part: int, parts: int) -> None:
        """The item numbered ``seq`` is item ``part`` of ``parts`` of the URL ``ordinal``."""
        self._places[seq] = (ordinal, part)
        self._parts[ordinal] = parts

    def is_turn(self, ordinal: int, part: int) -> bool:
        """Whether that item's result is the next to emit (it may be read beyond the window:
        nothing can leave before it)."""
        return self._turn == (ordinal, part)

    def put(self, seq: int, result: T) -> None:
        self._held[self._places.pop(seq)] = result

    def ready(self) -> Generator[T, None, None]:
        held = self._held
        while self._turn in held:
            ordinal, part = turn = self._turn
            self.next += 1
            if part + 1 < self._parts[ordinal]:
                self._turn = (ordinal, part + 1)
            else:
                del self._parts[ordinal]
                self._turn = (ordinal + 1, 0)
            yield held.pop(turn)
