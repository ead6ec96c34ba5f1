"""The Distributed Counter abstraction in three modes.

- `best_effort`: an in-store counter; fast, not idempotent (a retried add counts twice).
- `eventual`: every add is an event in a log, keyed by its idempotency token.  A rollup folds the
  events older than the accept window (immutable, since later writes that old are rejected) into
  a rollup row `(count, as_of)`.  `get` returns the rollup and queues the counter for a rollup.
- `accurate`: the rollup plus the live fold of the log since the rollup, at read time.

A rollup is a pure function of the previous rollup and the immutable part of the log, stored
with "newer `as_of` wins": any number of processes may roll up at once, without locks.  A clear is
a reset event in the log, so it is idempotent and ordered with the adds around it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from backends.base import CounterEvent, CounterStore, CountOutOfRange, Rollup

from .background import wait_for_event
from .errors import InvalidArgument, InvalidIdempotencyToken, TooLarge, store_errors
from .metrics import CallCounter
from .namespaces import CounterNamespace, Namespaces
from .tokens import IdempotencyToken, now_micros

log = logging.getLogger(__name__)

INT64_MAX = 2**63 - 1
MAX_NAME = 256
_END_OF_TIME = INT64_MAX


class Counters:
    """Counter operations over a `CounterStore`, with the background rollup."""

    def __init__(
        self,
        store: CounterStore,
        namespaces: Namespaces,
        calls: CallCounter | None = None,
    ) -> None:
        self._store = store
        self._namespaces = namespaces
        self._calls = calls or CallCounter()
        # Counters waiting for a rollup, per namespace, with the newest add time seen here:
        # a counter stays queued until a rollup has caught up with its last add.
        self._pending: dict[str, dict[str, int]] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the background rollup."""
        if self._task is None:
            self._task = asyncio.create_task(self._rollup_loop())

    async def stop(self) -> None:
        """Stop the background rollup; the log keeps every add, so nothing is lost."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # --- API ------------------------------------------------------------------------------

    async def add(
        self, namespace: str, name: str, delta: int, token: IdempotencyToken | None = None
    ) -> None:
        """Add a signed delta; with the same token, a retry adds nothing (not in best_effort)."""
        self._calls.record("counter", "add")
        await self._add(self._namespace(namespace), name, delta, token)

    async def add_and_get(
        self, namespace: str, name: str, delta: int, token: IdempotencyToken | None = None
    ) -> int:
        """Add, then read the count as the namespace's mode reads it."""
        self._calls.record("counter", "add_and_get")
        ns = self._namespace(namespace)
        fast = await self._add(ns, name, delta, token)
        if fast is not None:
            return fast
        return (await self._counts(ns, [name]))[name]

    async def get(self, namespace: str, name: str) -> int:
        """The count (0 for a counter never added to)."""
        self._calls.record("counter", "get")
        ns = self._namespace(namespace)
        _check_name(name)
        return (await self._counts(ns, [name]))[name]

    async def get_many(self, namespace: str, names: Sequence[str]) -> dict[str, int]:
        """Counts of many counters in one batch (what dataloaders batch into)."""
        self._calls.record("counter", "get_many")
        ns = self._namespace(namespace)
        unique = list(dict.fromkeys(names))
        if len(unique) > ns.max_counters_per_request:
            raise TooLarge(f"at most {ns.max_counters_per_request} counters per request")
        for name in unique:
            _check_name(name)
        return await self._counts(ns, unique)

    async def clear(
        self, namespace: str, name: str, token: IdempotencyToken | None = None
    ) -> None:
        """Reset to zero: adds made before the clear's token time no longer count."""
        self._calls.record("counter", "clear")
        ns = self._namespace(namespace)
        _check_name(name)
        with store_errors():
            if ns.mode == "best_effort":
                await self._store.counter_zero(ns.name, name)
                return
            token = self._check_token(ns, token)
            await self._store.counter_append(
                ns.name, [CounterEvent(name, token.generation_time, token.nonce, reset=True)]
            )
        self._queue(ns, name, token.generation_time)

    def check_add(self, namespace: str, name: str, delta: int) -> None:
        """Refuse what an add would refuse of this input, adding nothing: a caller with several
        writes checks every one before the first (the token is checked at the add)."""
        self._namespace(namespace)
        _check_name(name)
        _check_delta(delta)

    def check_clear(self, namespace: str, name: str) -> None:
        """Refuse what `clear` would refuse of this input, clearing nothing."""
        self._namespace(namespace)
        _check_name(name)

    async def rollup(self, namespace: str, names: Sequence[str] | None = None) -> None:
        """Roll up now: the given counters, or every counter queued in the namespace."""
        ns = self._namespace(namespace)
        chosen = list(names) if names is not None else list(self._pending.get(ns.name, {}))
        await self._rollup(ns, chosen)

    # --- internals ------------------------------------------------------------------------

    def _namespace(self, name: str) -> CounterNamespace:
        return self._namespaces.get(name, CounterNamespace)

    def _check_token(
        self, ns: CounterNamespace, token: IdempotencyToken | None
    ) -> IdempotencyToken:
        if token is None:
            raise InvalidArgument(f"{ns.mode} counters need an idempotency token")
        token.check(self._namespaces.settings.max_future_micros)
        oldest = now_micros() - int(ns.accept_window_seconds * 1_000_000)
        if token.generation_time < oldest:
            raise InvalidIdempotencyToken(
                f"idempotency token is older than the accept window of {ns.name!r} "
                f"({ns.accept_window_seconds:g}s)"
            )
        return token

    async def _add(
        self, ns: CounterNamespace, name: str, delta: int, token: IdempotencyToken | None
    ) -> int | None:
        """The add itself; returns the new value for best_effort counters, None otherwise."""
        _check_name(name)
        _check_delta(delta)
        if ns.mode == "best_effort":
            try:
                with store_errors():
                    return await self._store.counter_incr(ns.name, name, delta)
            except CountOutOfRange as exc:
                raise InvalidArgument(str(exc)) from exc
        token = self._check_token(ns, token)
        if delta and ns.mode == "accurate":
            # Accurate reads fold the whole live log, so an add past 64 bits would make every
            # later read fail: refuse it.  (Concurrent adds near the limit can still race.
            # Eventual counters keep their last good rollup; the rollup logs the overflow.)
            current = (await self._counts(ns, [name]))[name]
            if not -INT64_MAX - 1 <= current + delta <= INT64_MAX:
                raise InvalidArgument(f"counter {name!r} would leave the 64-bit range")
        with store_errors():
            await self._store.counter_append(
                ns.name, [CounterEvent(name, token.generation_time, token.nonce, delta)]
            )
        self._queue(ns, name, token.generation_time)
        return None

    async def _counts(self, ns: CounterNamespace, names: list[str]) -> dict[str, int]:
        with store_errors():
            if ns.mode == "best_effort":
                values = await self._store.counter_values(ns.name, names)
                return {n: values.get(n, 0) for n in names}
            rollups = await self._store.counter_rollups(ns.name, names)
            if ns.mode == "eventual":
                for name in names:
                    self._queue(ns, name, None)
                return {n: rollups[n].count if n in rollups else 0 for n in names}
            windows = {n: (rollups[n].as_of if n in rollups else 0, _END_OF_TIME) for n in names}
            folds = await self._store.counter_fold(ns.name, windows)
        counts: dict[str, int] = {}
        for name in names:
            base = rollups[name].count if name in rollups else 0
            fold = folds.get(name)
            if fold is None:
                counts[name] = base
            else:
                counts[name] = fold.total if fold.reset else base + fold.total
        return counts

    def _queue(self, ns: CounterNamespace, name: str, added_at: int | None) -> None:
        pending = self._pending.setdefault(ns.name, {})
        pending[name] = max(pending.get(name, 0), added_at or 0)
        self._wake.set()

    def _cutoff(self, ns: CounterNamespace) -> int:
        """Events at or before this time can no longer be written: the log is immutable there."""
        lag = ns.accept_window_seconds + self._namespaces.settings.max_clock_skew_seconds
        return now_micros() - int(lag * 1_000_000)

    async def _rollup(self, ns: CounterNamespace, names: list[str]) -> None:
        if ns.mode == "best_effort" or not names:
            return
        cutoff = self._cutoff(ns)
        with store_errors():
            rollups = await self._store.counter_rollups(ns.name, names)
            windows = {
                n: (rollups[n].as_of if n in rollups else 0, cutoff)
                for n in names
                if n not in rollups or rollups[n].as_of < cutoff
            }
            folds = await self._store.counter_fold(ns.name, windows)
            for name in windows:
                base = rollups[name].count if name in rollups else 0
                fold = folds.get(name)
                count = base if fold is None else (fold.total if fold.reset else base + fold.total)
                await self._store.counter_put_rollup(ns.name, name, Rollup(count, cutoff))
        pending = self._pending.get(ns.name, {})
        for name in names:
            if pending.get(name, 0) <= cutoff:
                pending.pop(name, None)

    async def _rollup_loop(self) -> None:
        """Roll up queued counters once per interval; a counter rolls up once per window."""
        while True:
            interval = min(
                (n.rollup_interval_seconds for n in self._namespaces
                 if isinstance(n, CounterNamespace) and n.mode != "best_effort"),
                default=1.0,
            )
            await wait_for_event(self._wake, interval)
            self._wake.clear()
            await asyncio.sleep(interval)
            for ns_name, pending in list(self._pending.items()):
                if not pending:
                    continue
                try:
                    await self._rollup(self._namespace(ns_name), list(pending))
                except Exception:
                    log.exception("rollup of %s failed; will retry", ns_name)


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME:
        raise InvalidArgument(f"counter names must be 1 to {MAX_NAME} characters")


def _check_delta(delta: int) -> None:
    if isinstance(delta, bool) or not isinstance(delta, int) or abs(delta) > INT64_MAX:
        raise InvalidArgument("delta must be a 64-bit integer")
