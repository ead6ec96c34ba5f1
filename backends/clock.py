"""The one wall clock of the process, in microseconds since the epoch.

Every time the abstractions and backends reason about (accept windows, rollups, retention,
TTLs, idempotency retention) comes from `now_micros`, so that tests of what time changes (late
retries, retention) can move it with `advance_clock` instead of sleeping.  Production never
moves it.
"""

from __future__ import annotations

import time

_offset_micros = 0


def now_micros() -> int:
    """Wall-clock time in microseconds since the epoch (plus any test offset)."""
    return time.time_ns() // 1000 + _offset_micros


def advance_clock(seconds: float) -> None:
    """Move this process's clock by `seconds` (tests only)."""
    global _offset_micros
    _offset_micros += int(seconds * 1_000_000)


def reset_clock() -> None:
    """Put this process's clock back on the wall clock."""
    global _offset_micros
    _offset_micros = 0
