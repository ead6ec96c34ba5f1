"""What the abstractions count and time, for `/metrics` and traces, without knowing either.

`CallCounter` and `EventCounter` keep their own tallies (tests and benchmarks read them) and
tell subscribers of each change; `StoreCalls` wraps every store call an abstraction makes, so
the GraphQL layer can time and trace them (`subgraph.telemetry` plugs in the observer).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Protocol

from .errors import store_errors

CallListener = Callable[[tuple[str, ...], int], None]
EventListener = Callable[[str, int], None]


class CallCounter:
    """A thread-safe tally of labelled events, read by `/metrics` and tests: `(abstraction,
    operation)` calls, and `(namespace, operation, result)` access decisions."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, ...]] = Counter()
        self._listeners: tuple[CallListener, ...] = ()

    def record(self, *labels: str) -> None:
        with self._lock:
            self._counts[labels] += 1
        for listener in self._listeners:
            listener(labels, 1)

    def subscribe(self, listener: CallListener) -> Callable[[], None]:
        """Tell `listener` of every count so far, then of every new one; returns the
        unsubscribe function."""
        with self._lock:
            counts = dict(self._counts)
            self._listeners = (*self._listeners, listener)
        for labels, n in counts.items():
            listener(labels, n)
        return lambda: self._remove(listener)

    def _remove(self, listener: CallListener) -> None:
        with self._lock:
            self._listeners = tuple(x for x in self._listeners if x is not listener)

    def snapshot(self) -> dict[tuple[str, ...], int]:
        with self._lock:
            return dict(self._counts)

    def total(self, abstraction: str | None = None) -> int:
        with self._lock:
            return sum(n for key, n in self._counts.items() if abstraction in (None, key[0]))


class EventCounter:
    """Named counts of things that happened (drops, flushes, retries); never silent.

    Names are `event:namespace` (`timeseries_dropped_events:viewing_history`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._listeners: tuple[EventListener, ...] = ()

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n
        for listener in self._listeners:
            listener(name, n)

    def subscribe(self, listener: EventListener) -> Callable[[], None]:
        """As `CallCounter.subscribe`."""
        with self._lock:
            counts = dict(self._counts)
            self._listeners = (*self._listeners, listener)
        for name, n in counts.items():
            listener(name, n)
        return lambda: self._remove(listener)

    def _remove(self, listener: EventListener) -> None:
        with self._lock:
            self._listeners = tuple(x for x in self._listeners if x is not listener)

    def get(self, name: str) -> int:
        with self._lock:
            return self._counts[name]

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


class StoreCallObserver(Protocol):
    """Told of each store call: a context manager entered before the call and left after it,
    with the backend's own error if it failed (before that becomes `Unavailable`)."""

    def __call__(
        self, abstraction: str, operation: str, backend: str
    ) -> AbstractContextManager[object]: ...


def backend_name(store: object) -> str:
    """The `backend` label of a store or index: its `backend` attribute, else its class."""
    return getattr(store, "backend", None) or type(store).__name__.lower()


class StoreCalls:
    """Where a gateway's abstractions make their store calls; nothing observes them until
    `observe` is called (the GraphQL layer does, when it serves the gateway)."""

    __slots__ = ("observer",)

    def __init__(self) -> None:
        self.observer: StoreCallObserver | None = None

    def observe(self, observer: StoreCallObserver | None) -> None:
        self.observer = observer

    def bind(self, abstraction: str, store: object) -> StoreCall:
        """The calls of one abstraction to one store (or search index)."""
        return StoreCall(self, abstraction, backend_name(store))


class StoreCall:
    """`with call("get_items"):` around a store call translates the backend's errors
    (`store_errors`) and tells the observer, if there is one."""

    __slots__ = ("_abstraction", "_backend", "_calls")

    def __init__(self, calls: StoreCalls, abstraction: str, backend: str) -> None:
        self._calls = calls
        self._abstraction = abstraction
        self._backend = backend

    def __call__(self, operation: str) -> AbstractContextManager[None]:
        observer = self._calls.observer
        if observer is None:
            return store_errors()
        return _Observed(observer(self._abstraction, operation, self._backend))


class _Observed:
    __slots__ = ("_inner",)

    def __init__(self, inner: AbstractContextManager[object]) -> None:
        self._inner = inner

    def __enter__(self) -> None:
        self._inner.__enter__()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        self._inner.__exit__(kind, exc, tb)  # the observer sees the backend's own error
        return store_errors().__exit__(kind, exc, tb)
