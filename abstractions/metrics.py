"""Counts of calls into the abstractions' APIs, so batching is visible from outside."""

from __future__ import annotations

import threading
from collections import Counter


class CallCounter:
    """A thread-safe tally of labelled events, read by `/metrics` and tests: `(abstraction,
    operation)` calls, and `(namespace, operation, result)` access decisions."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, ...]] = Counter()

    def record(self, *labels: str) -> None:
        with self._lock:
            self._counts[labels] += 1

    def snapshot(self) -> dict[tuple[str, ...], int]:
        with self._lock:
            return dict(self._counts)

    def total(self, abstraction: str | None = None) -> int:
        with self._lock:
            return sum(n for key, n in self._counts.items() if abstraction in (None, key[0]))


class EventCounter:
    """Named counts of things that happened (drops, flushes, retries); never silent."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def get(self, name: str) -> int:
        with self._lock:
            return self._counts[name]

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)
