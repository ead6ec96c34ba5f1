"""Judging answers against the ledger: reads during the load, and the read-back after it.

A read's fields are judged one by one: an error is an error (its code is kept, and a scenario
decides which codes it accepts), data is compared with the ledger (ledger.py) and is "ok",
"wrong" (less than was acked, a deleted item back, something never written) or "duplicate".
During the load, eventual counters lag by design: only a count above every write is judged
(and not at all for a counter with clears, whose lagging rollup may be any earlier value);
fire-and-forget events may still be buffered: only events never written are judged.

The read-back pages through everything and reads counters until each is right or `settle`
seconds passed (eventual counters roll up after their accept window; one whose last write was
a clear reads high until then); what the last read finds missing is *lost*, what is over is a
*duplicate*.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .ledger import FINAL, Ledger, Window
from .load import ACCURATE, EVENTUAL, Answer, Client, Owned, counter_key

ITEMS_PAGE = """query($id: ID!, $after: String) { kvRecord(namespace: "profile_settings", id: $id) {
  items(first: 100, after: $after) { edges { node { key text } }
  pageInfo { hasNextPage endCursor } } } }"""
EVENTS_PAGE = """query($id: ID!, $after: String) {
  timeSeries(namespace: "viewing_history", id: $id, first: 100, after: $after) {
  edges { node { eventId eventTime } } pageInfo { hasNextPage endCursor } } }"""
HISTORY_PAGE = """query($r: [_Any!]!, $after: String) { _entities(representations: $r) {
  ... on Profile { viewingHistory(first: 100, after: $after) { edges { node { startedAt } }
  pageInfo { hasNextPage endCursor } } } } }"""
COUNTERS = """query($ev: [String!]!, $acc: [String!]!) {
  ev: counters(namespace: "title_plays", names: $ev) { name count }
  acc: counters(namespace: "profile_plays", names: $acc) { name count } }"""


@dataclass(frozen=True, slots=True)
class Finding:
    """The verdict on one field of one read."""

    verdict: str  # "ok", "wrong", "duplicate" or "error"
    what: str
    detail: str = ""
    code: str = ""
    at: float = 0.0  # when the read started (time.monotonic())


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Judged:
    """Acked items or events missing from an answer, and anything else wrong with it."""

    missing: int
    problems: tuple[str, ...]
    answered: int

    @property
    def verdict(self) -> str:
        return "wrong" if self.missing or self.problems else "ok"

    @property
    def detail(self) -> str:
        parts = list(self.problems[:4])
        if self.missing:
            empty = " (an empty answer)" if not self.answered else ""
            parts.insert(0, f"{self.missing} acked missing, {self.answered} answered{empty}")
        return "; ".join(parts)


# --- one field ---------------------------------------------------------------------------------


def judge_items(ledger: Ledger, record: str, seen: dict[str, str], complete: bool,
                window: Window) -> Judged:
    """A KV record's items (one page in key order, or all of them)."""
    limit = None if complete or not seen else max(seen)
    problems: list[str] = []
    missing = 0
    expected = ledger.items(record)
    for key, (text, put, delete) in expected.items():
        if limit is not None and key > limit:
            continue
        present = key in seen
        if present and delete is not None and window.applied(delete):
            problems.append(f"{key} back after an acked delete")
        elif present and not window.maybe(put):
            problems.append(f"{key} never written")
        elif present and seen[key] != text:
            problems.append(f"{key}={seen[key]!r}, wrote {text!r}")
        elif not present and window.applied(put) and (delete is None or not window.maybe(delete)):
            missing += 1
    problems += [f"{key} never written" for key in seen if key not in expected]
    return Judged(missing, tuple(problems), len(seen))


def judge_events(expected: dict[str, tuple[Any, str]], seen: dict[str, str], complete: bool,
                 window: Window, check_missing: bool) -> Judged:
    """Events of a newest-first page (or all pages).

    `expected`: id -> (write, time as sent); `seen`: id -> time as answered.  On an incomplete
    page only events at or after its oldest one are judged missing.
    """
    oldest = None if complete or not seen else min(_moment(t) for t in seen.values())
    problems: list[str] = []
    missing = 0
    for event_id, (write, when) in expected.items():
        if event_id in seen:
            if not window.maybe(write):
                problems.append(f"{event_id} never written")
            elif _moment(seen[event_id]) != _moment(when):
                problems.append(f"{event_id} at {seen[event_id]}, written at {when}")
        elif check_missing and window.applied(write) and (
            oldest is None or _moment(when) >= oldest
        ):
            missing += 1
    problems += [f"{e} never written" for e in seen if e not in expected]
    return Judged(missing, tuple(problems), len(seen))


def judge_count(ledger: Ledger, key: str, count: int, window: Window, *,
                lagging: bool = False) -> tuple[str, str]:
    expectation = ledger.counter_values(key, window)
    verdict = expectation.judge(count)
    if lagging and verdict == "wrong":
        verdict = None
    if verdict is None:
        return "ok", ""
    return verdict, f"{key} = {count}, expected {expectation.describe()}"


def judge_read(ledger: Ledger, owned: Owned, answer: Answer, window: Window) -> list[Finding]:
    """Findings for one `load.READ` answer, one per field."""
    if answer.body is None:
        return [Finding("error", f"read w{owned.w}", code=answer.code, at=answer.started)]
    data = answer.body.get("data") or {}
    failed: dict[str, str] = {}
    for error in answer.body.get("errors") or []:
        path = [str(part) for part in error.get("path") or ["(request)"]]
        # an entity's fields fail on their own (a nullable viewingHistory goes null alone)
        name = ".".join(path[:3] if path[0] == "_entities" else path[:1])
        failed.setdefault(name, str((error.get("extensions") or {}).get("code")))
    if "(request)" in failed:
        return [Finding("error", f"read w{owned.w}", code=failed["(request)"], at=answer.started)]
    out: list[Finding] = []

    def add(what: str, verdict: str, detail: str = "") -> None:
        out.append(Finding(verdict, f"{what} w{owned.w}", detail, at=answer.started))

    def error(name: str, *within: str) -> bool:
        present = _at(data, name) is not None
        code = next((failed[n] for n in (*within, name) if n in failed), None)
        code = code or (None if present else "NULL")
        if code is None:
            return False
        out.append(Finding("error", f"{name} w{owned.w}", code=code, at=answer.started))
        return True

    if not error("kv"):
        items = data["kv"]["items"]
        seen = {e["node"]["key"]: e["node"]["text"] for e in items["edges"]}
        judged = judge_items(ledger, owned.record, seen,
                             not items["pageInfo"]["hasNextPage"], window)
        add("kv", judged.verdict, judged.detail)
    for alias, series, check_missing in (("ts", owned.series, True),
                                         ("ff", owned.ff_series, False)):
        if not error(alias):
            page = data[alias]
            seen = {e["node"]["eventId"]: e["node"]["eventTime"] for e in page["edges"]}
            judged = judge_events(ledger.events(series), seen,
                                  not page["pageInfo"]["hasNextPage"], window, check_missing)
            add(alias, judged.verdict, judged.detail)
    for alias in ("ev", "acc", "cla", "cle"):
        namespace, name = owned.counter(alias)
        if alias == "cle" or error(alias):
            continue  # an eventual counter with clears: any earlier value may show
        verdict, detail = judge_count(ledger, counter_key(namespace, name),
                                      int(data[alias]["count"]), window,
                                      lagging=namespace == EVENTUAL)
        add(alias, verdict, detail)
    if not error("_entities"):
        profile, title = data["_entities"]
        for index, entity, which in ((0, profile, "profile"), (1, title, "title")):
            if error(f"_entities.{index}.playCount", f"_entities.{index}") or entity is None:
                continue
            namespace, name = owned.counter(which)
            verdict, detail = judge_count(ledger, counter_key(namespace, name),
                                          int(entity["playCount"]["count"]), window,
                                          lagging=namespace == EVENTUAL)
            add(f"{which} playCount", verdict, detail)
        if profile is not None and not error("_entities.0.viewingHistory", "_entities.0"):
            history = profile["viewingHistory"]
            seen = {e["node"]["startedAt"]: e["node"]["startedAt"] for e in history["edges"]}
            expected = {k: (w, k) for k, w in ledger.plays(owned.profile).items()}
            judged = judge_events(_by_moment(expected), _by_moment_seen(seen),
                                  not history["pageInfo"]["hasNextPage"], window, True)
            add("viewingHistory", judged.verdict, judged.detail)
    return out


def _at(data: dict[str, Any], name: str) -> Any:
    """The value at a dotted path such as `_entities.0.viewingHistory`, None when absent."""
    value: Any = data
    for part in name.split("."):
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, dict):
            value = value.get(part)
        else:
            return None
    return value


def _by_moment(expected: dict[str, tuple[Any, str]]) -> dict[str, tuple[Any, str]]:
    """Plays are known by their startedAt: key them by the instant, not its spelling."""
    return {_moment(k).isoformat(): v for k, v in expected.items()}


def _by_moment_seen(seen: dict[str, str]) -> dict[str, str]:
    return {_moment(k).isoformat(): v for k, v in seen.items()}


# --- the read-back -------------------------------------------------------------------------------


@dataclass
class ReadBack:
    """What the read-back after the load found."""

    lost: int = 0  # acked items/events/plays missing, counters below their acked adds
    ff_lost: int = 0  # acked fire-and-forget events missing (allowed only after a crash)
    wrong: int = 0  # fields that answered wrongly (other than missing)
    duplicates: int = 0  # counters above what every write applied once could make
    excess: int = 0  # by how much, in all
    unreadable: int = 0  # reads that kept failing
    details: list[str] = field(default_factory=list)
    counters: dict[str, str] = field(default_factory=dict)  # key -> "count (expected)"

    def note(self, text: str) -> None:
        if len(self.details) < 12:
            self.details.append(text)


async def _query(client: Client, document: str, variables: dict[str, Any],
                 attempts: int = 5) -> dict[str, Any] | None:
    for attempt in range(attempts):
        answer = await client.post(document, variables, None)
        if answer.ok and answer.body is not None:
            return answer.body["data"]
        await asyncio.sleep(1.0 + attempt)
    return None


async def _pages(client: Client, document: str, variables: dict[str, Any],
                 path: list[Any]) -> list[dict[str, Any]] | None:
    """Every edge's node of a connection, page after page (None when a page kept failing)."""
    nodes: list[dict[str, Any]] = []
    after = None
    for _ in range(1000):
        data = await _query(client, document, {**variables, "after": after})
        if data is None:
            return None
        connection: Any = data
        for step in path:
            connection = connection[step]
        nodes += [e["node"] for e in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            return nodes
        after = connection["pageInfo"]["endCursor"]
    raise AssertionError("more than 1000 pages")


async def read_back(client: Client, ledger: Ledger, owned: list[Owned], *,
                    ff_loss_allowed: bool = False, settle: float = 30.0,
                    first_wait: float = 0.0) -> ReadBack:
    """Read everything the writers own and compare it with the ledger, all writes settled."""
    result = ReadBack()
    for o in owned:
        items = await _pages(client, ITEMS_PAGE, {"id": o.record}, ["kvRecord", "items"])
        if items is None:
            result.unreadable += 1
            result.note(f"kv w{o.w}: unreadable")
        else:
            seen = {n["key"]: n["text"] for n in items}
            _tally(result, f"kv w{o.w}", judge_items(ledger, o.record, seen, True, FINAL))
        for series, is_ff in ((o.series, False), (o.ff_series, True)):
            events = await _pages(client, EVENTS_PAGE, {"id": series}, ["timeSeries"])
            if events is None:
                result.unreadable += 1
                result.note(f"{series}: unreadable")
                continue
            seen = {n["eventId"]: n["eventTime"] for n in events}
            judged = judge_events(ledger.events(series), seen, True, FINAL, True)
            what = f"{'ff' if is_ff else 'ts'} w{o.w}"
            if is_ff and ff_loss_allowed and judged.missing:
                result.ff_lost += judged.missing
                result.note(f"{what}: {judged.missing} acked fire-and-forget event(s) lost in "
                            "the crash (allowed)")
                judged = Judged(0, judged.problems, judged.answered)
            _tally(result, what, judged)
        plays = await _pages(client, HISTORY_PAGE,
                             {"r": [{"__typename": "Profile", "id": o.profile}]},
                             ["_entities", 0, "viewingHistory"])
        if plays is None:
            result.unreadable += 1
            result.note(f"viewingHistory w{o.w}: unreadable")
        else:
            seen = {_moment(n["startedAt"]).isoformat(): n["startedAt"] for n in plays}
            expected = _by_moment({k: (w, k) for k, w in ledger.plays(o.profile).items()})
            _tally(result, f"viewingHistory w{o.w}",
                   judge_events(expected, seen, True, FINAL, True))
    await _settle_counters(client, ledger, owned, result, settle, first_wait)
    return result


def _tally(result: ReadBack, what: str, judged: Judged) -> None:
    if judged.verdict == "ok":
        return
    result.lost += judged.missing
    result.wrong += bool(judged.problems)
    result.note(f"{what}: {judged.detail}")


async def _settle_counters(client: Client, ledger: Ledger, owned: list[Owned],
                           result: ReadBack, settle: float, first_wait: float) -> None:
    """Read every counter until all are right or `settle` seconds passed; judge the last read."""
    keys = [o.counter(k) for o in owned for k in ("ev", "acc", "cla", "cle", "profile", "title")]
    names = {
        "ev": [n for ns, n in keys if ns == EVENTUAL],
        "acc": [n for ns, n in keys if ns == ACCURATE],
    }
    await asyncio.sleep(first_wait)
    deadline = time.monotonic() + settle
    verdicts: dict[str, tuple[str, str, int]] = {}
    while True:
        data = await _query(client, COUNTERS, names)
        if data is None:
            result.unreadable += 1
            result.note("counters: unreadable")
            return
        verdicts = {}
        for alias, namespace in (("ev", EVENTUAL), ("acc", ACCURATE)):
            for entry in data[alias]:
                key = counter_key(namespace, entry["name"])
                count = int(entry["count"])
                verdicts[key] = (*judge_count(ledger, key, count, FINAL), count)
        # Lagging counts may catch up, from below and from above: an eventual counter whose
        # last write was a clear shows its count before the clear until a rollup takes the
        # clear in (above every add applied once, as a duplicate would be).  Only the read at
        # the deadline is final.
        if all(v == "ok" for v, _, _ in verdicts.values()) or time.monotonic() > deadline:
            break
        await asyncio.sleep(1.5)
    for key, (verdict, detail, count) in verdicts.items():
        expected = ledger.counter_values(key, FINAL)
        result.counters[key] = f"{count} ({expected.describe()})"
        if verdict == "duplicate":
            result.duplicates += 1
            result.excess += count - expected.high
            result.note(f"counter {detail} (applied more than once)")
        elif verdict == "wrong":
            result.lost += 1
            result.note(f"counter {detail} (acked adds missing)")
