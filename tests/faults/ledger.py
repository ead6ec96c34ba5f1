"""The ledger: every logical write the load sent, what became of it, and what a read may show.

A write is *acked* (a 200 answer without errors: it happened, once), *unknown* (sent, but no
answer, or an error: it may or may not have happened) or *pending* (in flight).  Reads are judged
against a window `[t0, t1]` of the ledger's clock (ticked at every send and every answer): a write
acked by `t0` must be visible, a write first sent after `t1` must not be, anything between may.

- Too little is a *wrong answer* (an acked item or event missing, a count below what the acked
  adds make, a deleted item back); too much of a counter is a *duplicate* (a write applied twice).
- Counters: a counter belongs to one worker, whose writes are sequential, so the ledger order is
  the order of their idempotency tokens, except that a retry may be the first attempt to claim its
  key (when the first never reached the store) and then lands at the retry's place.  Without
  clears the possible counts are an interval; with clears they are enumerated over each unsure
  write's places (bounded; past the bound the interval `[0, every add]` is used).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

MAX_COMBINATIONS = 4096


class State(Enum):
    PENDING = "pending"
    ACKED = "acked"
    UNKNOWN = "unknown"


@dataclass(eq=False)
class Write:
    """One logical write: its mutation, its variables (resent as they are), its effects."""

    kind: str
    key: str
    document: str
    variables: dict[str, Any]
    field: str
    # what it does, for the checker: ("kv", record, item key, text) | ("kv-", record, item key)
    # | ("event" or "ff", series, event id, time) | ("play", profile, started_at)
    # | ("add", counter, delta) | ("clear", counter, 0)
    effects: tuple[tuple[Any, ...], ...]
    state: State = State.PENDING
    sends: list[int] = field(default_factory=list)  # ledger clock at each attempt
    acked_at: int | None = None  # ledger clock when first acked
    answers: list[str] = field(default_factory=list)  # "ok" or the error code per attempt
    late: bool = False  # retried after a deliberate delay (scenario 3)

    @property
    def first_sent(self) -> int:
        return self.sends[0]


@dataclass(frozen=True)
class Window:
    """A read's window on the ledger clock: writes acked by t0 count, sent after t1 do not."""

    t0: int
    t1: int

    def applied(self, write: Write) -> bool:
        return write.acked_at is not None and write.acked_at <= self.t0

    def maybe(self, write: Write) -> bool:
        return bool(write.sends) and write.first_sent <= self.t1

    def slots(self, write: Write) -> list[int]:
        """Where in the ledger order `write` may have taken effect, as seen by this read."""
        last = min(self.t1, write.acked_at) if self.applied(write) else self.t1
        return [s for s in write.sends if s <= last]


FINAL = Window(t0=2**62, t1=2**62)
"""The window of a read after every write has settled."""


class Ledger:
    """Writes in the order they were first sent, and the clock that orders sends and answers."""

    def __init__(self) -> None:
        self.clock = 0
        self.writes: list[Write] = []
        self._by_counter: dict[str, list[Write]] = {}
        self._by_series: dict[str, list[Write]] = {}
        self._by_record: dict[str, list[Write]] = {}
        self._by_profile: dict[str, list[Write]] = {}

    def tick(self) -> int:
        self.clock += 1
        return self.clock

    def add(self, write: Write) -> Write:
        self.writes.append(write)
        for effect in write.effects:
            kind, target = effect[0], effect[1]
            index = {"add": self._by_counter, "clear": self._by_counter,
                     "event": self._by_series, "ff": self._by_series,
                     "kv": self._by_record, "kv-": self._by_record,
                     "play": self._by_profile}[kind]
            index.setdefault(target, []).append(write)
        return write

    def sent(self, write: Write) -> None:
        write.sends.append(self.tick())
        if write.state is not State.ACKED:
            write.state = State.PENDING

    def answered(self, write: Write, ok: bool, answer: str) -> None:
        write.answers.append(answer)
        now = self.tick()
        if ok:
            if write.acked_at is None:
                write.acked_at = now
            write.state = State.ACKED
        elif write.state is not State.ACKED:
            write.state = State.UNKNOWN

    def window(self) -> Window:
        """Open a read: returns a window whose t1 `close` sets when the answer is in."""
        return Window(self.tick(), 0)

    def close(self, window: Window) -> Window:
        return Window(window.t0, self.tick())

    # --- expectations --------------------------------------------------------------------

    def counter_writes(self, counter: str) -> list[Write]:
        return self._by_counter.get(counter, [])

    def counter_values(self, counter: str, window: Window) -> CounterExpectation:
        """What a read of `counter` in `window` may answer."""
        writes = self.counter_writes(counter)
        ops = []  # (write, delta or None for a clear, slot choices incl. None = not applied)
        for write in writes:
            delta = next(e[2] if e[0] == "add" else None for e in write.effects if e[1] == counter)
            if window.applied(write):
                choices: list[int | None] = list(window.slots(write))
            elif window.maybe(write):
                choices = [None, *window.slots(write)]
            else:
                continue
            ops.append((delta, choices))
        if all(delta is not None for delta, _ in ops):
            low = sum(d for d, c in ops if None not in c)
            high = sum(d for d, _ in ops)
            return CounterExpectation(low, high, None)
        unsure = [c for _, c in ops if len(c) > 1]
        combinations = 1
        for choices in unsure:
            combinations *= len(choices)
        if combinations > MAX_COMBINATIONS:
            return CounterExpectation(0, sum(d for d, _ in ops if d is not None), None)
        values: set[int] = set()
        for chosen in itertools.product(*(c for _, c in ops)):
            placed = sorted(
                ((slot, delta) for (delta, _), slot in zip(ops, chosen, strict=True)
                 if slot is not None),
                key=lambda pair: pair[0],
            )
            count = 0
            for _, delta in placed:
                count = 0 if delta is None else count + delta
            values.add(count)
        return CounterExpectation(min(values), max(values), frozenset(values))

    def items(self, record: str) -> dict[str, tuple[str, Write, Write | None]]:
        """Item key -> (text, its put, its delete if one was sent)."""
        out: dict[str, tuple[str, Write, Write | None]] = {}
        for write in self._by_record.get(record, []):
            for effect in write.effects:
                if effect[0] == "kv" and effect[1] == record:
                    out[effect[2]] = (effect[3], write, None)
                elif effect[0] == "kv-" and effect[1] == record:
                    text, put, _ = out[effect[2]]
                    out[effect[2]] = (text, put, write)
        return out

    def events(self, series: str) -> dict[str, tuple[Write, str]]:
        """Event id -> (its write, its event time as sent) for `series`."""
        return {
            e[2]: (w, e[3])
            for w in self._by_series.get(series, [])
            for e in w.effects
            if e[0] in ("event", "ff") and e[1] == series
        }

    def plays(self, profile: str) -> dict[str, Write]:
        """startedAt (ISO, UTC, microseconds) -> the recordPlayback that wrote it."""
        return {
            e[2]: w for w in self._by_profile.get(profile, []) for e in w.effects
            if e[0] == "play" and e[1] == profile
        }

    def unsettled(self) -> list[Write]:
        """Writes never acked: the ones a client would retry."""
        return [w for w in self.writes if w.state is not State.ACKED]

    def counts(self) -> dict[str, int]:
        out = {s.value: 0 for s in State}
        for write in self.writes:
            out[write.state.value] += 1
        return out


@dataclass(frozen=True)
class CounterExpectation:
    """The counts a read may answer: `low..high`, or exactly `values` when enumerated."""

    low: int
    high: int
    values: frozenset[int] | None

    def judge(self, count: int) -> str | None:
        """None when `count` is possible, else "wrong" (too little / impossible) or "duplicate"
        (more than every write applied once could make)."""
        if count > self.high:
            return "duplicate"
        if count < self.low or (self.values is not None and count not in self.values):
            return "wrong"
        return None

    def describe(self) -> str:
        if self.low == self.high:
            return str(self.low)
        if self.values is not None and len(self.values) <= 6:
            return "one of " + ",".join(str(v) for v in sorted(self.values))
        return f"{self.low}..{self.high}"
