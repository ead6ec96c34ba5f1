"""The Distributed Counter abstraction in three modes.

- `best_effort`: an in-store counter; fast, not idempotent (a retried add counts twice).
- `eventual`: every add is an event in a log, keyed by its idempotency token.  A rollup folds the
  events older than the accept window (immutable, since later writes that old are rejected) into
  a rollup row `(count, as_of)`.  `get` returns the rollup and queues the counter for a rollup.
- `accurate`: the rollup plus the live fold of the log since the rollup, at read time.

A rollup is a pure function of the previous rollup and the immutable part of the log, stored
with "newer `as_of` wins": any number of processes may roll up at once, without locks.  A clear is
a reset event in the log, so it is idempotent and ordered with the adds around it.  A rollup pass
isolates its counters: if the batch fails, each counter rolls up alone, and one that fails alone
is counted (`rollup_failed`), logged once, and retried alone each pass; the others go on.

Past 64 bits.  Folds are exact (the store returns the true sum, however large), and a count
outside the signed 64-bit range is never returned as a number: `get` and `add_and_get` raise
`CounterOverflow`; `get_many` maps that one name to a `CounterOverflow` instance.

- Adds: an add is checked against the exact count (rollup plus the whole log since) when
  |delta| >= `CHECKED_DELTA`, or when this process last saw the counter at `NEAR_LIMIT` or beyond
  (so a small add after a large one, rolled up or not, is checked); one that would leave the
  range is refused with `InvalidArgument`.  Other adds stay one write.  What no check here can
  know still overflows: racing large adds, small adds through a process that never saw the
  counter near the limit.  Such a counter reads as an error, never as a wrong number.
- Rollups: a rollup whose count leaves the range is not stored.  It is kept in this process
  (the newest of it and the stored rollup is the base of later folds), logged once, counted
  (`rollup_overflow`), and the counter leaves the queue; eventual reads of it raise until a
  rollup brings it back in range (after a clear, or adds of the other sign; an add or a clear
  queues it).  Another process learns of the overflow from its own rollup, which any read of
  the counter queues there; until then it reads the last rollup stored in range, as eventual
  reads of any counter lag.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import TypeVar

from backends.base import CounterEvent, CounterStore, CountOutOfRange, Fold, Rollup

from .background import wait_for_event
from .errors import (
    CounterOverflow,
    InvalidArgument,
    InvalidIdempotencyToken,
    TooLarge,
    store_errors,
)
from .metrics import CallCounter, EventCounter
from .namespaces import CounterNamespace, Namespaces
from .tokens import IdempotencyToken, now_micros

log = logging.getLogger(__name__)
V = TypeVar("V")

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_NAME = 256
_END_OF_TIME = INT64_MAX
# Adds at least this large (either sign) are checked against the exact count before they are
# logged; so are adds to a counter last seen at NEAR_LIMIT or beyond (see the module docstring).
CHECKED_DELTA = 2**32
NEAR_LIMIT = 2**62
# Bounds of what a process remembers per counter (near the limit, overflowed, failing): past it
# the oldest entry is forgotten, which costs a check skipped, a read queued, or a log repeated.
MAX_REMEMBERED = 100_000
# Counters rolled up alone at once, when a batch failed or they failed before.
ALONE_AT_ONCE = 32

Count = int | CounterOverflow
"""What `get_many` maps a name to: its count, or the error of a counter past 64 bits."""


class Counters:
    """Counter operations over a `CounterStore`, with the background rollup."""

    def __init__(
        self,
        store: CounterStore,
        namespaces: Namespaces,
        calls: CallCounter | None = None,
        events: EventCounter | None = None,
    ) -> None:
        self._store = store
        self._namespaces = namespaces
        self._calls = calls or CallCounter()
        self.events = events or EventCounter()
        # Counters waiting for a rollup, per namespace, with the newest add time seen here:
        # a counter stays queued until a rollup has caught up with its last add.
        self._pending: dict[str, dict[str, int]] = {}
        # Per (namespace, name): rollups past 64 bits, which no store holds; counters last seen
        # near the limit (their adds are checked); counters whose rollup failed (rolled up alone).
        self._overflowed: dict[tuple[str, str], Rollup] = {}
        self._near: dict[tuple[str, str], None] = {}
        self._failing: dict[tuple[str, str], None] = {}
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
        return _value((await self._counts(ns, [name]))[name])

    async def get(self, namespace: str, name: str) -> int:
        """The count (0 for a counter never added to); `CounterOverflow` past 64 bits."""
        self._calls.record("counter", "get")
        ns = self._namespace(namespace)
        _check_name(name)
        return _value((await self._counts(ns, [name]))[name])

    async def get_many(self, namespace: str, names: Sequence[str]) -> dict[str, Count]:
        """Counts of many counters in one batch (what dataloaders batch into).

        A counter whose count left the 64-bit range maps to a `CounterOverflow` instance instead
        of failing the batch: the caller hands it on as that name's error.
        """
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
        """Roll up now: the given counters, or every counter queued in the namespace.

        As the background pass does: a counter whose rollup fails is counted and logged, not
        raised, and stays queued; the others roll up.
        """
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
        if delta and (abs(delta) >= CHECKED_DELTA or (ns.name, name) in self._near):
            # A retry of a logged add is checked as a new one: near the limit it may be
            # refused although it would add nothing.
            after = (await self._exact(ns, [name]))[name] + delta
            if not _fits(after):
                raise InvalidArgument(f"counter {name!r} would leave the 64-bit range")
            self._seen(ns, name, after, complete=True)
        with store_errors():
            await self._store.counter_append(
                ns.name, [CounterEvent(name, token.generation_time, token.nonce, delta)]
            )
        self._queue(ns, name, token.generation_time)
        return None

    async def _counts(self, ns: CounterNamespace, names: list[str]) -> dict[str, Count]:
        if ns.mode == "best_effort":
            with store_errors():
                values = await self._store.counter_values(ns.name, names)
            return {n: values.get(n, 0) for n in names}
        if ns.mode == "accurate":
            exact = await self._exact(ns, names)
            for name, count in exact.items():
                self._seen(ns, name, count, complete=True)
            return {n: c if _fits(c) else CounterOverflow(ns.name, n) for n, c in exact.items()}
        with store_errors():
            rollups = await self._store.counter_rollups(ns.name, names)
        counts: dict[str, Count] = {}
        for name in names:
            rollup = self._newest(ns, name, rollups.get(name))
            if rollup is not None and not _fits(rollup.count):
                # Not queued: only an add or a clear can bring it back, and those queue it.
                counts[name] = CounterOverflow(ns.name, name)
                continue
            counts[name] = rollup.count if rollup is not None else 0
            self._seen(ns, name, counts[name], complete=False)
            self._queue(ns, name, None)
        return counts

    async def _exact(self, ns: CounterNamespace, names: list[str]) -> dict[str, int]:
        """True counts, rollup plus the whole log since, even past 64 bits (not best_effort)."""
        with store_errors():
            rollups = await self._store.counter_rollups(ns.name, names)
            bases = {n: self._newest(ns, n, rollups.get(n)) for n in names}
            windows = {n: (b.as_of if b else 0, _END_OF_TIME) for n, b in bases.items()}
            folds = await self._store.counter_fold(ns.name, windows)
        return {n: _folded(bases[n], folds.get(n)) for n in names}

    def _newest(self, ns: CounterNamespace, name: str, stored: Rollup | None) -> Rollup | None:
        """The newer of the stored rollup and this process's rollup past 64 bits, if any.

        A stored rollup as of a later time supersedes ours (stored ones are always in range).
        """
        key = (ns.name, name)
        overflowed = self._overflowed.get(key)
        if overflowed is None:
            return stored
        if stored is not None and stored.as_of > overflowed.as_of:
            del self._overflowed[key]
            return stored
        return overflowed

    def _seen(self, ns: CounterNamespace, name: str, count: int, *, complete: bool) -> None:
        """Remember a counter near the limit, where even small adds are checked.

        Only a `complete` count (the whole log) clears that: a rollup lags the log, which may
        hold a large add since.
        """
        key = (ns.name, name)
        if abs(count) >= NEAR_LIMIT:
            _remember(self._near, key, None)
        elif complete:
            self._near.pop(key, None)

    def _queue(self, ns: CounterNamespace, name: str, added_at: int | None) -> None:
        pending = self._pending.setdefault(ns.name, {})
        pending[name] = max(pending.get(name, 0), added_at or 0)
        self._wake.set()

    def _cutoff(self, ns: CounterNamespace) -> int:
        """Events at or before this time can no longer be written: the log is immutable there."""
        lag = ns.accept_window_seconds + self._namespaces.settings.max_clock_skew_seconds
        return now_micros() - int(lag * 1_000_000)

    async def _rollup(self, ns: CounterNamespace, names: list[str]) -> None:
        """Roll up `names` in one batch; if it fails, each alone, so that no counter's failure
        stops the others.  Counters that failed before roll up alone from the start."""
        if ns.mode == "best_effort" or not names:
            return
        cutoff = self._cutoff(ns)
        alone = [n for n in names if (ns.name, n) in self._failing]
        together = [n for n in names if (ns.name, n) not in self._failing]
        if len(together) == 1:
            alone += together
        elif together:
            try:
                await self._roll(ns, together, cutoff)
            except Exception:
                alone += together
            else:
                self._rolled(ns, together, cutoff)
        failed: list[tuple[str, Exception]] = []
        for i in range(0, len(alone), ALONE_AT_ONCE):
            chunk = alone[i:i + ALONE_AT_ONCE]
            results = await asyncio.gather(
                *(self._roll(ns, [name], cutoff) for name in chunk), return_exceptions=True
            )
            for name, result in zip(chunk, results, strict=True):
                if isinstance(result, Exception):
                    failed.append((name, result))
                elif isinstance(result, BaseException):
                    raise result
                else:
                    self._rolled(ns, [name], cutoff)
        if failed:
            self._failed(ns, failed)

    async def _roll(self, ns: CounterNamespace, names: list[str], cutoff: int) -> None:
        """One batch: fold each counter's log up to `cutoff` onto its newest rollup and store
        the result, or keep it here when it is past 64 bits.  Raises if any step fails."""
        with store_errors():
            rollups = await self._store.counter_rollups(ns.name, names)
            bases = {n: self._newest(ns, n, rollups.get(n)) for n in names}
            windows = {
                n: (b.as_of if b else 0, cutoff)
                for n, b in bases.items()
                if b is None or b.as_of < cutoff
            }
            folds = await self._store.counter_fold(ns.name, windows)
            for name in windows:
                rollup = Rollup(_folded(bases[name], folds.get(name)), cutoff)
                self._seen(ns, name, rollup.count, complete=False)
                if _fits(rollup.count):
                    await self._store.counter_put_rollup(ns.name, name, rollup)
                    self._overflowed.pop((ns.name, name), None)
                else:
                    self._overflow(ns, name, rollup)

    def _overflow(self, ns: CounterNamespace, name: str, rollup: Rollup) -> None:
        key = (ns.name, name)
        if key not in self._overflowed:
            log.warning(
                "counter %r of %s left the 64-bit range (rollup as of %d): it reads as "
                "COUNTER_OVERFLOW until a clear or adds bring it back", name, ns.name,
                rollup.as_of,
            )
            self.events.add(f"rollup_overflow:{ns.name}")
        _remember(self._overflowed, key, rollup)

    def _rolled(self, ns: CounterNamespace, names: list[str], cutoff: int) -> None:
        """Dequeue counters the rollup caught up with (an overflowed one too: no retry)."""
        pending = self._pending.get(ns.name, {})
        for name in names:
            self._failing.pop((ns.name, name), None)
            if pending.get(name, 0) <= cutoff:
                pending.pop(name, None)

    def _failed(self, ns: CounterNamespace, failed: list[tuple[str, Exception]]) -> None:
        """Count every failed rollup; log a counter once, when it starts failing."""
        self.events.add(f"rollup_failed:{ns.name}", len(failed))
        new = [(n, e) for n, e in failed if (ns.name, n) not in self._failing]
        for name, _ in failed:
            _remember(self._failing, (ns.name, name), None)
        if new:
            shown = ", ".join(repr(n) for n, _ in new[:10])
            more = f" and {len(new) - 10} more" if len(new) > 10 else ""
            log.warning(
                "rollup of counter(s) %s%s of %s failed; each stays queued and rolls up alone",
                shown, more, ns.name, exc_info=new[0][1],
            )

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


def _fits(count: int) -> bool:
    return INT64_MIN <= count <= INT64_MAX


def _value(count: Count) -> int:
    if isinstance(count, CounterOverflow):
        raise count
    return count


def _folded(base: Rollup | None, fold: Fold | None) -> int:
    """The count after `fold`: its total alone after a reset, else added to the base."""
    start = base.count if base is not None else 0
    if fold is None:
        return start
    return fold.total if fold.reset else start + fold.total


def _remember(memory: dict[tuple[str, str], V], key: tuple[str, str], value: V) -> None:
    """Store `key`, forgetting the oldest entry past `MAX_REMEMBERED`."""
    memory.pop(key, None)
    memory[key] = value
    if len(memory) > MAX_REMEMBERED:
        del memory[next(iter(memory))]


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME:
        raise InvalidArgument(f"counter names must be 1 to {MAX_NAME} characters")


def _check_delta(delta: int) -> None:
    if isinstance(delta, bool) or not isinstance(delta, int) or abs(delta) > INT64_MAX:
        raise InvalidArgument("delta must be a 64-bit integer")
