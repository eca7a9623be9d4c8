"""How numbers are written for people: one format for the table, the summary line and the
progress line, so that the same time or count reads the same wherever it is shown.

- counts with thousands separators: ``1,234``;
- milliseconds to three significant digits, whole from 100 up: ``1.23 ms``, ``52.1 ms``,
  ``5,097 ms`` (the summary keeps its times to three significant digits, so its ``max`` may read
  ``5,100 ms`` where the table said ``5,097 ms``: the same format, a coarser value);
- seconds: ``0.45 s``, ``3.68 s``, ``12.3 s``, then ``2 min 05 s`` and ``1 h 02 min``;
- a rate: ``81.4 URLs/s``.
"""

from __future__ import annotations


def count(n: int) -> str:
    return f"{n:,}"


def ms(value: float) -> str:
    """A time in milliseconds: ``0.42 ms``, ``52.1 ms``, ``5,097 ms``."""
    if value >= 99.95:
        return f"{value:,.0f} ms"
    if value >= 9.995:
        return f"{value:.1f} ms"
    return f"{value:.2f} ms"


def seconds(value: float) -> str:
    """A duration: ``3.68 s`` under ten seconds, ``12.3 s`` under a minute, then ``2 min 05 s``,
    and from an hour ``1 h 02 min``."""
    if value < 9.995:
        return f"{max(value, 0.0):.2f} s"
    if value < 59.95:
        return f"{value:.1f} s"
    whole = round(value)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    minutes = whole // 60
    return f"{minutes // 60:,} h {minutes % 60:02d} min"


def rate(per_second: float, unit: str = "URL") -> str:
    return f"{per_second:,.1f} {unit}s/s"
