"""Bounded load through the HTTP server: every mutation kind, with idempotency keys, and reads.

`Load` runs `workers` sequential writers and `readers` readers against one or more subgraph
processes (with `race`, every attempt of a write goes to all of them at once: the same key and
input racing).  Each writer owns its records, series and counters, so its writes are ordered
(see ledger.py); it goes round `CYCLE`, one write at a time, `think` seconds apart, retrying a
write that was not acked `retries` times.  Every request is recorded (`Request`): when it ran,
how long it took, and its answer ("ok", an `extensions.code`, `HTTP_<status>` or `NO_ANSWER`).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from .ledger import Ledger, State, Window, Write

# Namespaces of tests/namespaces.toml: counters with a 5 s accept window (late retries are the
# point), a KV namespace, and the viewing history (one-day slices: no table made under load).
EVENTUAL, ACCURATE, KV, HISTORY = "title_plays", "profile_plays", "profile_settings", \
    "viewing_history"

PUT = "mutation Put($in: PutItemsInput!) { putItems(input: $in) { id } }"
DELETE = "mutation Delete($in: DeleteItemsInput!) { deleteItems(input: $in) { id } }"
WRITE = "mutation Write($in: WriteEventsInput!) { writeEvents(input: $in) { accepted } }"
ADD = "mutation Add($in: AddCountInput!) { addCount(input: $in) { count } }"
CLEAR = "mutation Clear($in: ClearCountInput!) { clearCount(input: $in) { count } }"
PLAY = ("mutation Play($in: RecordPlaybackInput!) { recordPlayback(input: $in) "
        "{ event { id } profilePlayCount { count } titlePlayCount { count } } }")

# One read of everything a writer owns: each field is judged on its own.
READ = """
query Read($kv: ID!, $ts: ID!, $ff: ID!, $ev: String!, $acc: String!, $cla: String!,
           $cle: String!, $reps: [_Any!]!) {
  kv: kvRecord(namespace: "profile_settings", id: $kv) { items(first: 100) {
    edges { node { key text } } pageInfo { hasNextPage } } }
  ts: timeSeries(namespace: "viewing_history", id: $ts, first: 100) {
    edges { node { eventId eventTime } } pageInfo { hasNextPage } }
  ff: timeSeries(namespace: "viewing_history", id: $ff, first: 100) {
    edges { node { eventId eventTime } } pageInfo { hasNextPage } }
  ev: counter(namespace: "title_plays", name: $ev) { count }
  acc: counter(namespace: "profile_plays", name: $acc) { count }
  cla: counter(namespace: "profile_plays", name: $cla) { count }
  cle: counter(namespace: "title_plays", name: $cle) { count }
  _entities(representations: $reps) {
    ... on Profile { playCount { count } viewingHistory(first: 100) {
      edges { node { startedAt } } pageInfo { hasNextPage } } }
    ... on Title { playCount { count } } }
}
"""

NO_ANSWER = "NO_ANSWER"


@dataclass(frozen=True, slots=True)
class Answer:
    """A response, judged only as far as transport and errors go."""

    code: str  # "ok", the first extensions.code, HTTP_<status>, or NO_ANSWER
    body: dict[str, Any] | None
    started: float
    seconds: float

    @property
    def ok(self) -> bool:
        return self.code == "ok"


@dataclass(frozen=True, slots=True)
class Request:
    """One request as sent: for counts, latencies and phases."""

    kind: str  # "write" or "read"
    target: str
    started: float  # time.monotonic()
    ended: float
    code: str


class Client:
    """POSTs GraphQL documents to one subgraph process."""

    def __init__(self, base: str, timeout: float = 20.0, connections: int = 32) -> None:
        self.base = base
        self.http = httpx.AsyncClient(
            base_url=base, timeout=timeout,
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def post(self, document: str, variables: dict[str, Any], field: str | None) -> Answer:
        """One request; `field` (a mutation's) must be non-null in `data` for "ok"."""
        started = time.monotonic()
        try:
            response = await self.http.post(
                "/graphql", json={"query": document, "variables": variables}
            )
        except httpx.HTTPError:
            return Answer(NO_ANSWER, None, started, time.monotonic() - started)
        seconds = time.monotonic() - started
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict):
            return Answer(f"HTTP_{response.status_code}", None, started, seconds)
        errors = body.get("errors") or []
        if errors:
            code = str((errors[0].get("extensions") or {}).get("code"))
            return Answer(code, body, started, seconds)
        if field is not None and not (body.get("data") or {}).get(field):
            return Answer("NO_DATA", body, started, seconds)
        return Answer("ok", body, started, seconds)


@dataclass(frozen=True)
class Owned:
    """What writer `w` of run `run` owns (counters as `namespace/name`)."""

    run: str
    w: int

    @property
    def record(self) -> str:
        return f"{self.run}-kv-{self.w}"

    @property
    def series(self) -> str:
        return f"{self.run}-ts-{self.w}"

    @property
    def ff_series(self) -> str:
        return f"{self.run}-ff-{self.w}"

    @property
    def profile(self) -> str:
        return f"{self.run}-p-{self.w}"

    @property
    def title(self) -> str:
        return f"{self.run}-t-{self.w}"

    def counter(self, which: str) -> tuple[str, str]:
        """("namespace", "name") of `ev`, `acc`, `cla`, `cle`, `profile` or `title`."""
        return {
            "ev": (EVENTUAL, f"{self.run}-ev-{self.w}"),
            "acc": (ACCURATE, f"{self.run}-acc-{self.w}"),
            "cla": (ACCURATE, f"{self.run}-cla-{self.w}"),
            "cle": (EVENTUAL, f"{self.run}-cle-{self.w}"),
            "profile": (ACCURATE, self.profile),
            "title": (EVENTUAL, self.title),
        }[which]

    def counters(self) -> dict[str, tuple[str, str]]:
        return {k: self.counter(k) for k in ("ev", "acc", "cla", "cle", "profile", "title")}

    def read_variables(self) -> dict[str, Any]:
        return {
            "kv": self.record, "ts": self.series, "ff": self.ff_series,
            "ev": self.counter("ev")[1], "acc": self.counter("acc")[1],
            "cla": self.counter("cla")[1], "cle": self.counter("cle")[1],
            "reps": [{"__typename": "Profile", "id": self.profile},
                     {"__typename": "Title", "id": self.title}],
        }


def counter_key(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


CYCLE = ("put", "play", "add:ev", "write", "add:acc", "delete", "write_ff", "add:cla", "put",
         "add:cle", "play", "clear")
"""One writer's round: every mutation kind (a clear alternates between its two counters)."""


class Writes:
    """The next write of one writer, round `CYCLE`."""

    def __init__(self, owned: Owned, ledger: Ledger, seed: int) -> None:
        self.owned = owned
        self.ledger = ledger
        self.rng = random.Random(seed)
        self.seq = 0
        self.cycles = 0
        self._last_time = datetime.min.replace(tzinfo=UTC)
        self._puts: list[tuple[str, Write]] = []  # item key, put: candidates for a delete

    def _time(self) -> datetime:
        """Now (UTC, whole milliseconds), strictly after this writer's previous one."""
        now = datetime.now(UTC)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        self._last_time = max(now, self._last_time + timedelta(milliseconds=1))
        return self._last_time

    def next(self) -> Write:
        step = CYCLE[self.seq % len(CYCLE)]
        if self.seq and self.seq % len(CYCLE) == 0:
            self.cycles += 1
        self.seq += 1
        key = f"{self.owned.run}-w{self.owned.w}-{self.seq:06d}"
        o = self.owned
        if step == "delete":
            victim = next(((k, p) for k, p in self._puts if p.state is State.ACKED), None)
            if victim is None:
                step = "put"
            else:
                self._puts.remove(victim)
                return self.ledger.add(Write(
                    "deleteItems", key, DELETE,
                    {"in": {"namespace": KV, "id": o.record, "keys": [victim[0]],
                            "idempotencyKey": key}},
                    "deleteItems", (("kv-", o.record, victim[0]),)))
        if step == "put":
            item = f"k{self.seq:06d}"
            text = f"v{self.seq}-{self.rng.randrange(10**6)}"
            write = self.ledger.add(Write(
                "putItems", key, PUT,
                {"in": {"namespace": KV, "id": o.record, "items": [{"key": item, "text": text}],
                        "idempotencyKey": key}},
                "putItems", (("kv", o.record, item, text),)))
            self._puts.append((item, write))
            return write
        if step in ("write", "write_ff"):
            series = o.series if step == "write" else o.ff_series
            event_id = f"e{self.seq:06d}"
            when = self._time().isoformat()
            mode = "SYNC" if step == "write" else "FIRE_AND_FORGET"
            kind = "event" if step == "write" else "ff"
            return self.ledger.add(Write(
                f"writeEvents {mode}", key, WRITE,
                {"in": {"namespace": HISTORY, "mode": mode, "idempotencyKey": key, "events": [
                    {"seriesId": series, "eventTime": when, "eventId": event_id,
                     "items": [{"key": "note", "text": key}]}]}},
                "writeEvents", ((kind, series, event_id, when),)))
        if step == "play":
            started = self._time().isoformat()
            return self.ledger.add(Write(
                "recordPlayback", key, PLAY,
                {"in": {"profileId": o.profile, "titleId": o.title, "startedAt": started,
                        "positionSeconds": self.seq, "durationSeconds": 30, "device": "tv",
                        "idempotencyKey": key}},
                "recordPlayback",
                (("play", o.profile, started),
                 ("add", counter_key(*o.counter("profile")), 1),
                 ("add", counter_key(*o.counter("title")), 1))))
        if step.startswith("add:"):
            namespace, name = o.counter(step[4:])
            delta = self.rng.randint(1, 5)
            mode = "eventual" if namespace == EVENTUAL else "accurate"
            return self.ledger.add(Write(
                f"addCount {mode}", key, ADD,
                {"in": {"namespace": namespace, "name": name, "delta": str(delta),
                        "idempotencyKey": key}},
                "addCount", (("add", counter_key(namespace, name), delta),)))
        assert step == "clear"
        namespace, name = o.counter("cla" if (self.seq // len(CYCLE)) % 2 == 0 else "cle")
        mode = "eventual" if namespace == EVENTUAL else "accurate"
        return self.ledger.add(Write(
            f"clearCount {mode}", key, CLEAR,
            {"in": {"namespace": namespace, "name": name, "idempotencyKey": key}},
            "clearCount", (("clear", counter_key(namespace, name), 0),)))


@dataclass
class Load:
    """Writers and readers against `targets` until `stop` is set (see the module docstring).

    `judge(owned, answer, window)` judges a read (check.py); its findings are collected here.
    """

    ledger: Ledger
    targets: list[Client]
    run: str
    judge: Callable[[Owned, Answer, Window], list[Any]]
    workers: int = 6
    readers: int = 2
    think: float = 0.05
    retries: int = 0
    retry_pause: float = 0.5
    race: bool = False
    writing: bool = True
    seed: int = 11
    requests: list[Request] = field(default_factory=list)
    findings: list[Any] = field(default_factory=list)
    in_flight: int = 0
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.owned = [Owned(self.run, w) for w in range(self.workers)]
        self.writers = [Writes(o, self.ledger, self.seed * 1000 + o.w) for o in self.owned]
        self._turn = itertools.count()

    def cycles_done(self) -> int:
        """Full rounds of `CYCLE` that every writer has finished."""
        return min(w.cycles for w in self.writers)

    async def run_until_stopped(self) -> None:
        tasks = [asyncio.create_task(self._writer(w)) for w in self.writers if self.writing]
        tasks += [asyncio.create_task(self._reader(r)) for r in range(self.readers)]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()

    async def wait_cycles(self, cycles: int, within: float) -> None:
        """Wait until every writer went round `cycles` times (tables exist, caches are warm)."""
        deadline = time.monotonic() + within
        while self.cycles_done() < cycles:
            if time.monotonic() > deadline:
                raise TimeoutError(f"load did not complete {cycles} cycles in {within:.0f}s")
            await asyncio.sleep(0.2)

    async def wait_in_flight(self, at_least: int, within: float) -> None:
        """Wait (at most `within` seconds) until `at_least` writes are in flight."""
        deadline = time.monotonic() + within
        # Polling: the count moves under every writer; an event per change would cost more.
        while self.in_flight < at_least and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.005)

    async def _writer(self, writes: Writes) -> None:
        while not self.stop.is_set():
            await self.perform(writes.next(), self.retries)
            await asyncio.sleep(self.think)

    async def perform(self, write: Write, retries: int, targets: list[Client] | None = None
                      ) -> None:
        """Send `write` (to every target when racing, else the next one) until it is acked or
        `retries` retries are spent."""
        for attempt in range(retries + 1):
            if attempt:
                await asyncio.sleep(self.retry_pause * attempt)
            chosen = targets or (self.targets if self.race else
                                 [self.targets[next(self._turn) % len(self.targets)]])
            self.ledger.sent(write)
            self.in_flight += 1
            try:
                answers = await asyncio.gather(
                    *(c.post(write.document, write.variables, write.field) for c in chosen)
                )
            finally:
                self.in_flight -= 1
            for client, answer in zip(chosen, answers, strict=True):
                self._record("write", client, answer)
                self.ledger.answered(write, answer.ok, answer.code)
            if write.state is State.ACKED:
                return

    async def _reader(self, index: int) -> None:
        rng = random.Random(self.seed * 7919 + index)
        while not self.stop.is_set():
            owned = rng.choice(self.owned)
            client = rng.choice(self.targets)
            window = self.ledger.window()
            answer = await client.post(READ, owned.read_variables(), None)
            window = self.ledger.close(window)
            self._record("read", client, answer)
            self.findings.extend(self.judge(owned, answer, window))
            await asyncio.sleep(self.think)

    def _record(self, kind: str, client: Client, answer: Answer) -> None:
        self.requests.append(Request(kind, client.base, answer.started,
                                     answer.started + answer.seconds, answer.code))

    async def retry(self, writes: list[Write], client: Client, retries: int = 0) -> None:
        """Send each of `writes` again, as it was (same key, same input), `workers` at once."""
        queue = list(writes)

        async def one() -> None:
            while queue:
                write = queue.pop(0)
                write.late = True
                await self.perform(write, retries, [client])

        await asyncio.gather(*(one() for _ in range(self.workers)))
