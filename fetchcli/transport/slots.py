"""``Slots``: the ``asyncio.Semaphore`` the engine and the aiohttp wire count slots with, asked
``locked()`` several times per URL.

On Python 3.11 and later, ``Semaphore.locked()`` is ``self._value == 0 or any(not w.cancelled()
for w in (self._waiters or ()))``: when a slot is free it builds a generator to look through a
queue that is nearly always empty, about 2,000 instructions a call (callgrind), five calls a URL
(``acquire`` asks it too). This one looks only when someone waits; the answer is the same.
"""

from __future__ import annotations

import asyncio
import sys


class Slots(asyncio.Semaphore):
    if sys.version_info >= (3, 11):  # 3.10's locked() is self._value == 0 (and acquire does not ask it)

        def locked(self) -> bool:
            waiters = self._waiters
            return self._value == 0 or (bool(waiters) and any(not w.cancelled() for w in waiters))  # type: ignore[union-attr]
