"""The Distributed Counter abstraction in three modes.

- `best_effort`: an in-store counter; fast, not idempotent (a retried add counts twice).  With
  `cache_ttl_seconds` and a cache engine (memcached), it lives in the cache instead, as
  Netflix's EVCache counters do: memcached `incr`/`decr` with that TTL, no store call.  Such a
  counter may lose counts: evicted, expired, or its node lost (a restarted node is empty), it
  starts again from 0; while its node is down, adds and reads fail (`Unavailable`).
- `eventual` with `cache_ttl_seconds`: the rollup `(count, last_rollup_ts)` is also kept in
  the cache; `get` serves it from there, reading the store only on a miss, and every rollup
  refreshes it.  Newer `as_of` wins in the cache too (memcached `gets`/`cas`), so a slow
  rollup or a reader's fill never replaces a newer count with an older one; a repair, which
  may move a rollup back, deletes it.  A cache that fails is skipped (counted), never an error.
- `eventual`: every add is an event in a log, keyed by its idempotency token.  A rollup folds the
  events older than the accept window (immutable, since later writes that old are rejected) into
  a rollup row `(count, as_of)`.  `get` returns the rollup and queues the counter for a rollup.
- `accurate`: the rollup plus the live fold of the log since the rollup, at read time.

A rollup is a pure function of the previous rollup and the immutable part of the log, stored
with "newer `as_of` wins": any number of processes may roll up at once, without locks.  A clear is
a reset event in the log, so it is idempotent and ordered with the adds around it.  A rollup pass
isolates its counters: if the batch fails, each counter rolls up alone, and one that fails alone
is counted (`rollup_failed`), logged once, and retried alone each pass; the others go on.

Correct under faults
--------------------
Never from a failed read.  A rollup is stored only when every read it needs succeeded (the
stores raise rather than answer a read they could not make as empty), and only when the fold
found events, or a base supersedes the stored rollup: a fold that finds nothing never moves a
rollup, so a read that wrongly came back empty cannot be saved.  A fold whose result is stored
must also finish within `FOLD_DEADLINE_SECONDS` (see retention).

Late retries (replays).  A retry of an attempt the system recorded (the GraphQL layer hands
back the attempt's original token) passes `replay=True`.  A replay whose token is still inside
the accept window is an ordinary add.  An older one is accepted while the token is younger than
the namespace's `log_retention_seconds` (7 days, as long as idempotency keys are kept; older:
`InvalidIdempotencyToken`) and is written with its original `(time, nonce)`, so the log's key
makes it idempotent: a replay of an add that did land writes the same row.  Such an event may
land behind a rollup's `as_of`, where the accept window told rollups nothing can land, so the
replay first records its arrival time in the counter's checkpoint (`late`, newest wins), then
writes the event.  The accept window keeps its purpose: a rollup trusts the log behind its
cutoff unless `late` says an event arrived after its `as_of`:

    start = the rollup, when it exists, is as of no earlier than the base, and late <= as_of
          = else the base (a heal: recomputed from the checkpoint, not incrementally)

Why that is safe without locks, with several replicas rolling up at once: every stored rollup
`(R, r)` counts every event at or before `r` that arrived at or before `r` (events land within
the clock skew of their start, which the cutoff's lag already assumes).  An event it may miss
arrived after `r`, and was a replay (ordinary adds are never that late), whose mark `late > r`
makes the next rollup heal.  A rollup reads `late` after fixing its cutoff, so a replay that
arrived before the cutoff is seen; one arriving later makes `late` exceed whatever that rollup
stores, so a stale incremental rollup that wins over a concurrent heal is healed again.  A
counter stays queued until a rollup at or after its `late` ran.  Accurate reads apply the same
rule, so they count a replay as soon as it returns.  Heals cost a fold of the log since the base
(at most the retention); only counters with replays older than the accept window pay it.  A
replay that fails between its mark and its event leaves a mark without an event: the counter
heals (to the same count) until its next add.

Retention and checkpoints.  The log keeps `log_retention_seconds`; `apply_retention` (also run
by the background loop, `RETENTION_COUNTERS_PER_PASS` counters per namespace per pass) folds each
counter's events behind the horizon `now - retention - 2 * skew` (aligned down to
`CHECKPOINT_STEP_SECONDS`, so Cassandra deletes whole log buckets) into the checkpoint's base,
then in a later pass deletes the log up to a base at least `TRUNCATE_GRACE_SECONDS` old.  No
replay can land behind a base (their tokens are younger than the retention).  A fold that began
before a base was written and would read the log after its events were deleted takes longer
than the grace; folds that take longer than `FOLD_DEADLINE_SECONDS` are not stored.

Repair.  `repair` (`python -m subgraph repair-counters NAMESPACE [NAME...]`) recomputes rollups
from base + log, compares what each stored rollup says with what the log says as of the same
time, and replaces the rollup whatever its `as_of`.

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
  reads of any counter lag.  A base past 64 bits is not stored either: that counter's log is
  kept (`retention_overflow`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from backends.base import (
    CacheEngine,
    CacheError,
    CacheKey,
    Checkpoint,
    CounterEvent,
    CounterStore,
    CountOutOfRange,
    Fold,
    Rollup,
    StoreTimeout,
)

from .background import wait_for_event
from .errors import (
    CounterOverflow,
    InvalidArgument,
    InvalidIdempotencyToken,
    TooLarge,
    Unavailable,
)
from .metrics import CallCounter, EventCounter, StoreCalls
from .namespaces import CounterNamespace, Namespaces
from .tokens import IdempotencyToken, now_micros

log = logging.getLogger(__name__)
V = TypeVar("V")
T = TypeVar("T")

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_NAME = 256
_END_OF_TIME = INT64_MAX
_SECOND = 1_000_000
# Adds at least this large (either sign) are checked against the exact count before they are
# logged; so are adds to a counter last seen at NEAR_LIMIT or beyond (see the module docstring).
CHECKED_DELTA = 2**32
NEAR_LIMIT = 2**62
# Bounds of what a process remembers per counter (near the limit, overflowed, failing): past it
# the oldest entry is forgotten, which costs a check skipped, a read queued, or a log repeated.
MAX_REMEMBERED = 100_000
# Counters rolled up alone at once, when a batch failed or they failed before.
ALONE_AT_ONCE = 32
# Retention (see the module docstring): bases are aligned to the step; a fold whose result is
# stored must end within the deadline; the log behind a base is deleted after the grace.
CHECKPOINT_STEP_SECONDS = 600
FOLD_DEADLINE_SECONDS = 60.0
TRUNCATE_GRACE_SECONDS = 2 * FOLD_DEADLINE_SECONDS
RETENTION_INTERVAL_SECONDS = 60.0
RETENTION_COUNTERS_PER_PASS = 1000
# Counters read per store call by repairs.
REPAIR_BATCH = 100

Count = int | CounterOverflow
"""What `get_many` maps a name to: its count, or the error of a counter past 64 bits."""


@dataclass(frozen=True, slots=True)
class Repaired:
    """One counter `repair` recomputed.

    `stored` is the rollup it found; `expected` what the log says the count was as of
    `stored.as_of` (None when that cannot be known: no rollup, or one older than the base);
    `rollup` what it stored now, and `count` the count it found (None: nothing stored, for a
    count past 64 bits or a counter with nothing at all).
    """

    name: str
    stored: Rollup | None
    expected: int | None
    rollup: Rollup | None
    count: int

    @property
    def wrong(self) -> bool:
        """The stored rollup disagreed with the log."""
        return self.stored is not None and self.expected is not None and (
            self.expected != self.stored.count
        )


class Counters:
    """Counter operations over a `CounterStore`, with the background rollup and retention."""

    def __init__(
        self,
        store: CounterStore,
        namespaces: Namespaces,
        calls: CallCounter | None = None,
        events: EventCounter | None = None,
        store_calls: StoreCalls | None = None,
        cache: CacheEngine | None = None,
        cache_stats: CallCounter | None = None,
    ) -> None:
        self._store = store
        self._cache = cache
        self._cache_stats = cache_stats or CallCounter()
        self._namespaces = namespaces
        self._calls = calls or CallCounter()
        self._call = (store_calls or StoreCalls()).bind("counter", store)
        self.events = events or EventCounter()
        # Counters waiting for a rollup, per namespace, with the newest add (or late arrival)
        # time seen here: a counter stays queued until a rollup has caught up with it.
        self._pending: dict[str, dict[str, int]] = {}
        # When each queued counter joined the queue (microseconds): what `rollup_lag` reports.
        self._queued_since: dict[str, dict[str, int]] = {}
        # Per (namespace, name): rollups past 64 bits, which no store holds; counters last seen
        # near the limit (their adds are checked); counters whose rollup failed (rolled up alone).
        self._overflowed: dict[tuple[str, str], Rollup] = {}
        self._near: dict[tuple[str, str], None] = {}
        self._failing: dict[tuple[str, str], None] = {}
        # Where the background retention resumes in each namespace.
        self._retained_after: dict[str, str | None] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self, retention_interval: float = RETENTION_INTERVAL_SECONDS) -> None:
        """Start the background rollup and retention."""
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._rollup_loop()),
                asyncio.create_task(self._retention_loop(retention_interval)),
            ]

    async def stop(self) -> None:
        """Stop the background work; the log keeps every add, so nothing is lost."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # --- API ------------------------------------------------------------------------------

    async def add(
        self,
        namespace: str,
        name: str,
        delta: int,
        token: IdempotencyToken | None = None,
        *,
        replay: bool = False,
    ) -> None:
        """Add a signed delta; with the same token, a retry adds nothing (not in best_effort).

        `replay`: the token is the original token of an attempt the system recorded (never a
        client's), so it is applied even past the accept window, within the log's retention.
        """
        self._calls.record("counter", "add")
        await self._add(self._namespace(namespace), name, delta, token, replay)

    async def add_and_get(
        self,
        namespace: str,
        name: str,
        delta: int,
        token: IdempotencyToken | None = None,
        *,
        replay: bool = False,
    ) -> int:
        """Add, then read the count as the namespace's mode reads it (`replay` as in `add`)."""
        self._calls.record("counter", "add_and_get")
        ns = self._namespace(namespace)
        fast = await self._add(ns, name, delta, token, replay)
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
        self,
        namespace: str,
        name: str,
        token: IdempotencyToken | None = None,
        *,
        replay: bool = False,
    ) -> None:
        """Reset to zero: adds made before the clear's token time no longer count (`replay` as
        in `add`)."""
        self._calls.record("counter", "clear")
        ns = self._namespace(namespace)
        _check_name(name)
        if ns.mode == "best_effort":
            if self._cached(ns):
                await self._in_cache(ns, lambda c: c.delete(_cache_key(ns, name)))
                return
            with self._call("clear"):
                await self._store.counter_zero(ns.name, name)
            return
        await self._log(ns, CounterEvent(name, 0, "", reset=True), token, replay)

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

    async def apply_retention(
        self, namespace: str | None = None, *, limit: int | None = None
    ) -> dict[str, int]:
        """Fold each counter's events older than the log retention into its checkpoint, and
        delete those of earlier passes (see the module docstring); returns, per namespace, how
        many bases were written.

        With `limit`, at most that many counters per namespace, resuming where the last call
        with a limit stopped (the background pass); without, every counter.
        """
        if namespace is not None:
            self._namespace(namespace)  # an unknown name is an error, not an empty sweep
        written: dict[str, int] = {}
        for ns in self._namespaces.all():  # internal namespaces age out too
            if (
                isinstance(ns, CounterNamespace) and ns.mode != "best_effort"
                and namespace in (None, ns.name)
            ):
                written[ns.name] = await self._retain_namespace(ns, limit)
        return written

    async def repair(self, namespace: str, names: Sequence[str] | None = None) -> list[Repaired]:
        """Recompute the rollups of `names` (default: every counter of the namespace) from the
        checkpoint's base and the log, and store them whatever is stored (see `Repaired`)."""
        ns = self._namespace(namespace)
        if ns.mode == "best_effort":
            raise InvalidArgument(f"{ns.name!r} is a best_effort namespace: it has no event log")
        for name in names or ():
            _check_name(name)
        repaired: list[Repaired] = []
        if names is not None:
            for i in range(0, len(names), REPAIR_BATCH):
                repaired += await self._repair(ns, list(names[i:i + REPAIR_BATCH]))
            return repaired
        after: str | None = None
        while True:
            with self._call("repair"):
                page = await self._store.counter_names(ns.name, after, REPAIR_BATCH)
            repaired += await self._repair(ns, page)
            if len(page) < REPAIR_BATCH:
                return repaired
            after = page[-1]

    def rollup_lag(self) -> dict[str, float]:
        """Per eventual or accurate namespace, seconds the longest-queued counter has waited for
        a rollup in this process (0 when none waits).

        A healthy namespace stays near its accept window plus skew plus one rollup interval (an
        add waits out the window before a rollup may count it); more means rollups fall behind
        or fail.
        """
        now = now_micros()
        lags: dict[str, float] = {}
        for ns in self._namespaces:
            if isinstance(ns, CounterNamespace) and ns.mode != "best_effort":
                since = self._queued_since.get(ns.name)
                lags[ns.name] = (now - min(since.values())) / _SECOND if since else 0.0
        return lags

    # --- internals ------------------------------------------------------------------------

    def _cached(self, ns: CounterNamespace) -> bool:
        return self._cache is not None and ns.cache_ttl_seconds > 0

    async def _in_cache(
        self, ns: CounterNamespace, op: Callable[[CacheEngine], Awaitable[T]]
    ) -> T:
        """A call to the cache that holds best-effort counters; its failure is `Unavailable`
        (the count lives nowhere else), and counted."""
        assert self._cache is not None
        try:
            return await op(self._cache)
        except CacheError as exc:
            self._cache_stats.record(ns.name, "error")
            raise Unavailable("the cache holding this counter is not reachable") from exc

    async def _cached_rollups(self, ns: CounterNamespace, names: list[str]) -> dict[str, Rollup]:
        """Rollups from the cache; the misses from the store, then cached (newer wins)."""
        assert self._cache is not None
        keys = {n: _cache_key(ns, n, "rup") for n in names}
        try:
            found, failed = await self._cache.get_many(list(keys.values()))
        except CacheError:
            found, failed = {}, {k.route for k in keys.values()}
        rollups: dict[str, Rollup] = {}
        missed: list[str] = []
        for name, key in keys.items():
            raw = found.get(key)
            if raw is not None:
                self._cache_stats.record(ns.name, "hit")
                rollups[name] = _decode_rollup(raw)
                continue
            if key.route in failed:
                self._cache_stats.record(ns.name, "error")
                self._cache_stats.record(ns.name, "fall_through")
            else:
                self._cache_stats.record(ns.name, "miss")
            missed.append(name)
        if missed:
            with self._call("get"):
                stored = await self._store.counter_rollups(ns.name, missed)
            rollups.update(stored)
            await asyncio.gather(*(self._cache_rollup(ns, n, r) for n, r in stored.items()
                                   if keys[n].route not in failed))
        return rollups

    async def _cache_rollup(self, ns: CounterNamespace, name: str, rollup: Rollup) -> None:
        """Put `rollup` in the cache unless it holds one as of a later time (gets/cas)."""
        assert self._cache is not None
        key, value = _cache_key(ns, name, "rup"), _encode_rollup(rollup)
        try:
            for _ in range(4):  # lost a race to another writer: look again
                held = await self._cache.gets(key)
                if held is None:
                    if await self._cache.add(key, value, ns.cache_ttl_seconds):
                        return
                    continue
                if _decode_rollup(held[0]).as_of >= rollup.as_of:
                    return
                if await self._cache.cas(key, value, held[1], ns.cache_ttl_seconds):
                    return
        except (CacheError, ValueError):
            self._cache_stats.record(ns.name, "error")

    async def _uncache_rollup(self, ns: CounterNamespace, name: str) -> None:
        assert self._cache is not None
        try:
            await self._cache.delete(_cache_key(ns, name, "rup"))
        except CacheError:
            self._cache_stats.record(ns.name, "error")

    def _namespace(self, name: str) -> CounterNamespace:
        return self._namespaces.get(name, CounterNamespace)

    def _check_token(
        self, ns: CounterNamespace, token: IdempotencyToken | None, replay: bool
    ) -> tuple[IdempotencyToken, bool]:
        """The token, and whether it is late: a replay's, older than the accept window."""
        if token is None:
            raise InvalidArgument(f"{ns.mode} counters need an idempotency token")
        token.check(self._namespaces.settings.max_future_micros)
        now = now_micros()
        if token.generation_time >= now - int(ns.accept_window_seconds * _SECOND):
            return token, False
        if not replay:
            raise InvalidIdempotencyToken(
                f"idempotency token is older than the accept window of {ns.name!r} "
                f"({ns.accept_window_seconds:g}s)"
            )
        # Strictly younger than the retention: no base is ever as of its time or later.
        if token.generation_time <= now - int(ns.log_retention_seconds * _SECOND):
            raise InvalidIdempotencyToken(
                f"idempotency token is older than the log retention of {ns.name!r} "
                f"({ns.log_retention_seconds:g}s): the retry can no longer be applied"
            )
        return token, True

    async def _add(
        self,
        ns: CounterNamespace,
        name: str,
        delta: int,
        token: IdempotencyToken | None,
        replay: bool,
    ) -> int | None:
        """The add itself; returns the new value for best_effort counters, None otherwise."""
        _check_name(name)
        _check_delta(delta)
        if ns.mode == "best_effort":
            if self._cached(ns):
                key = _cache_key(ns, name)
                value = await self._in_cache(
                    ns, lambda c: c.incr(key, delta, _BIAS, ns.cache_ttl_seconds))
                return value - _BIAS
            try:
                with self._call("add"):
                    return await self._store.counter_incr(ns.name, name, delta)
            except CountOutOfRange as exc:
                raise InvalidArgument(str(exc)) from exc
        await self._log(ns, CounterEvent(name, 0, "", delta), token, replay)
        return None

    async def _log(
        self,
        ns: CounterNamespace,
        event: CounterEvent,
        token: IdempotencyToken | None,
        replay: bool,
    ) -> None:
        """Write an add or a reset under `token` (a late one after its mark), and queue it."""
        token, late = self._check_token(ns, token, replay)
        name, delta = event.name, event.delta
        if delta and (abs(delta) >= CHECKED_DELTA or (ns.name, name) in self._near):
            # A retry of a logged add is checked as a new one: near the limit it may be
            # refused although it would add nothing.
            after = (await self._exact(ns, [name]))[name] + delta
            if not _fits(after):
                raise InvalidArgument(f"counter {name!r} would leave the 64-bit range")
            self._seen(ns, name, after, complete=True)
        queued_at = token.generation_time
        with self._call("clear" if event.reset else "add"):
            if late:  # the mark first: a rollup that may miss the event then sees the mark
                queued_at = now_micros()
                await self._store.counter_mark_late(ns.name, name, queued_at)
            await self._store.counter_append(ns.name, [CounterEvent(
                name, token.generation_time, token.nonce, delta, event.reset
            )])
            window = int(ns.accept_window_seconds * 1_000_000)
            if not late and now_micros() - token.generation_time >= window:
                # Checked in time but landed late (a slow claim or write, e.g. while a node is
                # down): a rollup may have passed its time without it.  The mark after the
                # event is newer than any such rollup's as_of, so the next rollup heals.
                queued_at = now_micros()
                await self._store.counter_mark_late(ns.name, name, queued_at)
        self._queue(ns, name, queued_at)

    async def _read_state(
        self, ns: CounterNamespace, names: list[str]
    ) -> tuple[dict[str, Rollup | None], dict[str, Rollup | None], dict[str, Checkpoint]]:
        """For each counter: its newest rollup, where a fold must start (see `_start`), and
        its checkpoint.  Two reads at once; raises if either fails."""
        rollups, checkpoints = await asyncio.gather(
            self._store.counter_rollups(ns.name, names),
            self._store.counter_checkpoints(ns.name, names),
        )
        newest = {n: self._newest(ns, n, rollups.get(n)) for n in names}
        starts = {n: _start(newest[n], checkpoints.get(n)) for n in names}
        return newest, starts, checkpoints

    async def _counts(self, ns: CounterNamespace, names: list[str]) -> dict[str, Count]:
        if ns.mode == "best_effort":
            if self._cached(ns):
                keys = {n: _cache_key(ns, n) for n in names}
                found, failed = await self._in_cache(ns, lambda c: c.get_many(list(keys.values())))
                if failed:
                    self._cache_stats.record(ns.name, "error")
                    raise Unavailable("the cache holding these counters is not reachable")
                return {n: int(found[k]) - _BIAS if k in found else 0 for n, k in keys.items()}
            with self._call("get"):
                values = await self._store.counter_values(ns.name, names)
            return {n: values.get(n, 0) for n in names}
        if ns.mode == "accurate":
            exact = await self._exact(ns, names)
            for name, count in exact.items():
                self._seen(ns, name, count, complete=True)
            return {n: c if _fits(c) else CounterOverflow(ns.name, n) for n, c in exact.items()}
        if self._cached(ns):
            rollups = await self._cached_rollups(ns, names)
        else:
            with self._call("get"):
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
        """True counts, from the rollup (or the base, as a heal would) plus the whole log
        since, even past 64 bits (not best_effort)."""
        with self._call("get"):
            _, starts, _ = await self._read_state(ns, names)
            windows = {n: (s.as_of if s else 0, _END_OF_TIME) for n, s in starts.items()}
            folds = await self._store.counter_fold(ns.name, windows)
        return {n: _folded(starts[n], folds.get(n)) for n in names}

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
        self._queued_since.setdefault(ns.name, {}).setdefault(name, now_micros())
        self._wake.set()

    def _cutoff(self, ns: CounterNamespace) -> int:
        """Events at or before this time can no longer be written: the log is immutable there
        (but for replays, which mark their counter late)."""
        lag = ns.accept_window_seconds + self._namespaces.settings.max_clock_skew_seconds
        return now_micros() - int(lag * _SECOND)

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
        """One batch: fold each counter's log up to `cutoff` onto its newest rollup (or, to
        heal, onto its base) and store the result, or keep it here when it is past 64 bits.
        Raises if any step fails; stores nothing computed from a read that failed."""
        began = time.monotonic()
        with self._call("rollup"):
            newest, starts, checkpoints = await self._read_state(ns, names)
            for name, checkpoint in checkpoints.items():
                if checkpoint.late > (newest[name].as_of if newest[name] else 0):
                    self._queue(ns, name, checkpoint.late)  # until a rollup after it ran
            windows = {
                n: (s.as_of if s else 0, cutoff)
                for n, s in starts.items()
                if s is None or s.as_of < cutoff
            }
            folds = await self._store.counter_fold(ns.name, windows)
            _within_deadline(began, "rollup")
            for name in windows:
                start, fold = starts[name], folds.get(name)
                healed = start is not newest[name]
                found = _found(fold)
                stored = newest[name]
                moved = healed and start is not None and (
                    stored is None or stored.as_of < start.as_of
                )
                if not found and not moved:
                    continue  # nothing new: an empty fold never moves a rollup
                if healed:
                    self.events.add(f"rollup_healed:{ns.name}")
                rollup = Rollup(_folded(start, fold), cutoff)
                self._seen(ns, name, rollup.count, complete=False)
                if _fits(rollup.count):
                    await self._store.counter_put_rollup(ns.name, name, rollup)
                    self._overflowed.pop((ns.name, name), None)
                    if self._cached(ns):
                        await self._cache_rollup(ns, name, rollup)
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
        since = self._queued_since.get(ns.name, {})
        for name in names:
            self._failing.pop((ns.name, name), None)
            if pending.get(name, 0) <= cutoff:
                pending.pop(name, None)
                since.pop(name, None)
            elif name in since:  # what still waits was added after the cutoff
                since[name] = max(since[name], cutoff)

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

    async def _retain_namespace(self, ns: CounterNamespace, limit: int | None) -> int:
        """One retention pass over a namespace: one page from where the last stopped, or all."""
        after = self._retained_after.get(ns.name) if limit is not None else None
        page = limit or RETENTION_COUNTERS_PER_PASS
        written = 0
        while True:
            with self._call("apply_retention"):
                names = await self._store.counter_names(ns.name, after, page, logged=True)
            written += await self._retain(ns, names)
            after = names[-1] if len(names) == page else None
            if limit is not None:
                self._retained_after[ns.name] = after
                return written
            if after is None:
                return written

    async def _retain(self, ns: CounterNamespace, names: list[str]) -> int:
        """Fold the events behind the horizon into each counter's base; delete the log up to
        bases old enough (written at least the grace ago: see the module docstring)."""
        if not names:
            return 0
        now = now_micros()
        skew = self._namespaces.settings.max_clock_skew_seconds
        step = CHECKPOINT_STEP_SECONDS * _SECOND
        horizon = now - int((ns.log_retention_seconds + 2 * skew) * _SECOND)
        base_at = horizon - horizon % step - 1
        # A base as of `base_at` is written by passes whose clock reads before
        # base_at + 1 + retention + 2 skew + step: one skew more for theirs, then the grace.
        old_enough = now - int(
            (ns.log_retention_seconds + 4 * skew + CHECKPOINT_STEP_SECONDS
             + TRUNCATE_GRACE_SECONDS) * _SECOND
        )
        began = time.monotonic()
        written = 0
        with self._call("apply_retention"):
            checkpoints = await self._store.counter_checkpoints(ns.name, names)
            bases = {n: _base(checkpoints.get(n)) for n in names}
            windows = {
                n: (b.as_of if b else 0, base_at)
                for n, b in bases.items()
                if b is None or b.as_of < base_at
            }
            folds = await self._store.counter_fold(ns.name, windows)
            _within_deadline(began, "retention")
            for name in windows:
                fold = folds.get(name)
                if not _found(fold):
                    continue  # nothing behind the horizon but what the base holds
                base = Rollup(_folded(bases[name], fold), base_at)
                if not _fits(base.count):
                    self.events.add(f"retention_overflow:{ns.name}")
                    continue
                await self._store.counter_put_base(ns.name, name, base)
                written += 1
            await self._store.counter_truncate(ns.name, {
                n: b.as_of for n, b in bases.items() if b is not None and b.as_of <= old_enough
            })
        if written:
            self.events.add(f"counter_checkpoints:{ns.name}", written)
        return written

    async def _repair(self, ns: CounterNamespace, names: list[str]) -> list[Repaired]:
        """Recompute `names` from base + log: first as of each stored rollup's time (to tell a
        wrong rollup), then on to the cutoff; store each with `replace`."""
        if not names:
            return []
        cutoff = self._cutoff(ns)
        began = time.monotonic()
        repaired: list[Repaired] = []
        with self._call("repair"):
            rollups, checkpoints = await asyncio.gather(
                self._store.counter_rollups(ns.name, names),
                self._store.counter_checkpoints(ns.name, names),
            )
            bases = {n: _base(checkpoints.get(n)) for n in names}
            # A stored rollup can be checked when the log since the base reaches back to it.
            checkable = {
                n: r for n, r in rollups.items()
                if (bases[n] is None or bases[n].as_of <= r.as_of) and r.as_of <= cutoff
            }
            first = await self._store.counter_fold(ns.name, {
                n: (bases[n].as_of if bases[n] else 0, r.as_of) for n, r in checkable.items()
            })
            expected = {n: _folded(bases[n], first.get(n)) for n in checkable}
            starts = {
                n: Rollup(expected[n], checkable[n].as_of) if n in checkable else bases[n]
                for n in names
            }
            then = await self._store.counter_fold(ns.name, {
                n: (s.as_of if s else 0, cutoff) for n, s in starts.items()
            })
            _within_deadline(began, "repair")
            for name in names:
                count = _folded(starts[name], then.get(name))
                rollup = Rollup(count, cutoff) if _fits(count) else None
                if starts[name] is None and name not in rollups and not _found(then.get(name)):
                    rollup = None  # nothing at all to count: no row made for it
                if rollup is not None:
                    await self._store.counter_put_rollup(ns.name, name, rollup, replace=True)
                    self._overflowed.pop((ns.name, name), None)
                    if self._cached(ns):  # it may move back: newer-wins would keep the old
                        await self._uncache_rollup(ns, name)
                self._failing.pop((ns.name, name), None)
                repaired.append(
                    Repaired(name, rollups.get(name), expected.get(name), rollup, count)
                )
        return repaired

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

    async def _retention_loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.apply_retention(limit=RETENTION_COUNTERS_PER_PASS)
            except Exception:
                log.exception("counter retention pass failed; will retry")


# memcached counters are unsigned 64-bit and `decr` stops at 0: a count is kept biased by
# 2**63, so the signed range maps onto theirs.
_BIAS = 1 << 63


def _cache_key(ns: CounterNamespace, name: str, kind: str = "ctr") -> CacheKey:
    """`ctr`: a best-effort count; `rup`: an eventual counter's rollup."""
    digest = hashlib.blake2b(name.encode(), digest_size=16, person=b"counter").hexdigest()
    return CacheKey(f"{ns.name}/{name}", f"{kind}:{ns.name}:{digest}")


def _encode_rollup(rollup: Rollup) -> bytes:
    return f"{rollup.count}:{rollup.as_of}".encode()


def _decode_rollup(raw: bytes) -> Rollup:
    count, _, as_of = raw.partition(b":")
    return Rollup(int(count), int(as_of))


def _start(rollup: Rollup | None, checkpoint: Checkpoint | None) -> Rollup | None:
    """Where a fold starts: the rollup, unless it may miss events (none stored, older than
    the base, or as of before a late event arrived); then the base, as a heal."""
    base = _base(checkpoint)
    late = checkpoint.late if checkpoint is not None else 0
    if rollup is not None and late <= rollup.as_of and (
        base is None or rollup.as_of >= base.as_of
    ):
        return rollup
    return base


def _base(checkpoint: Checkpoint | None) -> Rollup | None:
    return checkpoint.base if checkpoint is not None else None


def _within_deadline(began: float, what: str) -> None:
    """Refuse to store a fold that took so long that retention may have deleted under it."""
    took = time.monotonic() - began
    if took > FOLD_DEADLINE_SECONDS:
        raise StoreTimeout(
            f"counter {what} read for {took:.0f}s (over {FOLD_DEADLINE_SECONDS:g}s): not stored"
        )


def _fits(count: int) -> bool:
    return INT64_MIN <= count <= INT64_MAX


def _value(count: Count) -> int:
    if isinstance(count, CounterOverflow):
        raise count
    return count


def _found(fold: Fold | None) -> bool:
    """Whether a fold found any event."""
    return fold is not None and fold.last_event_time is not None


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
