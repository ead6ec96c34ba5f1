"""The GraphQL documents the domain cases send and read back with, and read-back checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..client import Outcome, Session

PUT = "mutation($in: PutItemsInput!) { putItems(input: $in) { id } }"
DELETE = "mutation($in: DeleteItemsInput!) { deleteItems(input: $in) { id } }"
WRITE = "mutation($in: WriteEventsInput!) { writeEvents(input: $in) { accepted } }"
ADD = "mutation($in: AddCountInput!) { addCount(input: $in) { count } }"
CLEAR = "mutation($in: ClearCountInput!) { clearCount(input: $in) { count } }"
PLAY = "mutation($in: RecordPlaybackInput!) { recordPlayback(input: $in) { event { id } } }"

ITEMS = """query($ns: String!, $id: ID!, $keys: [String!]) {
  kvRecord(namespace: $ns, id: $id) { items(first: 100, keys: $keys) {
    edges { node { key text } } } } }"""
SERIES = """query($id: ID!) { timeSeries(namespace: "viewing_history", id: $id, first: 100) {
  edges { node { items { key text } } } } }"""
COUNT = "query($ns: String!, $n: String!) { counter(namespace: $ns, name: $n) { count } }"
HISTORY = """query($r: [_Any!]!) { _entities(representations: $r) { ... on Profile {
  playCount { count } viewingHistory(first: 100) { edges { node { device title { id } } } } } } }"""

Verify = Callable[[Session, Outcome], None]


def profile(pid: str) -> list[dict[str, str]]:
    return [{"__typename": "Profile", "id": pid}]


def put(ns: str, id: str, items: list[dict[str, Any]], key: str) -> dict[str, Any]:
    return {"in": {"namespace": ns, "id": id, "items": items, "idempotencyKey": key}}


def add(ns: str, name: str, delta: Any, key: str) -> dict[str, Any]:
    return {"in": {"namespace": ns, "name": name, "delta": delta, "idempotencyKey": key}}


def events(ns: str, items: list[dict[str, Any]], key: str) -> dict[str, Any]:
    return {"in": {"namespace": ns, "events": items, "idempotencyKey": key}}


def play(pid: str, key: str, **fields: Any) -> dict[str, Any]:
    values = {"profileId": pid, "titleId": "t-domain", "positionSeconds": 10,
              "durationSeconds": 20, "idempotencyKey": key}
    return {"in": {**values, **fields}}


# --- what must be stored (or not) after a case ------------------------------------------------


def kv_items(session: Session, ns: str, id: str, keys: list[str] | None = None) -> list[Any]:
    data = session.data(ITEMS, {"ns": ns, "id": id, "keys": keys})
    return [edge["node"] for edge in data["kvRecord"]["items"]["edges"]]


def series_items(session: Session, id: str) -> list[list[dict[str, Any]]]:
    data = session.data(SERIES, {"id": id})
    return [edge["node"]["items"] for edge in data["timeSeries"]["edges"]]


def count(session: Session, ns: str, name: str) -> str:
    return session.data(COUNT, {"ns": ns, "n": name})["counter"]["count"]


def history(session: Session, pid: str) -> tuple[str, list[dict[str, Any]]]:
    [entity] = session.data(HISTORY, {"r": profile(pid)})["_entities"]
    return entity["playCount"]["count"], [e["node"] for e in entity["viewingHistory"]["edges"]]


def kv_untouched(ns: str, id: str) -> Verify:
    def verify(session: Session, outcome: Outcome) -> None:
        assert kv_items(session, ns, id) == [], "a refused putItems wrote items"
    return verify


def series_untouched(id: str) -> Verify:
    def verify(session: Session, outcome: Outcome) -> None:
        assert series_items(session, id) == [], "a refused writeEvents wrote events"
    return verify


def count_is(ns: str, name: str, expected: str) -> Verify:
    def verify(session: Session, outcome: Outcome) -> None:
        assert count(session, ns, name) == expected, "a refused or repeated add changed a count"
    return verify


def profile_untouched(pid: str) -> Verify:
    def verify(session: Session, outcome: Outcome) -> None:
        plays, events_ = history(session, pid)
        assert (plays, events_) == ("0", []), "a refused recordPlayback wrote something"
    return verify


def if_written(verify: Verify) -> Verify:
    """Run `verify` only when the case's write succeeded (no errors)."""
    def run(session: Session, outcome: Outcome) -> None:
        if not outcome.codes():
            verify(session, outcome)
    return run
