"""Every kind of string in every string argument: stored and read back literally, or refused.

A write that succeeds is read back and must return the very string sent (no truncation at NUL,
no normalisation, no injection); a refusal must be BAD_USER_INPUT.  Lone surrogates are refused
as a request error wherever they appear.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..cases import FAST, SLOW, Case, Expect, field_error, gql, ok_or, request_error
from ..client import Outcome, Session
from .ops import (
    ADD,
    PLAY,
    PUT,
    WRITE,
    add,
    count,
    events,
    history,
    if_written,
    kv_items,
    play,
    profile,
    put,
    series_items,
)

INPUT = "BAD_USER_INPUT"

PAYLOADS: dict[str, str] = {
    "empty": "",
    "spaces": "   ",
    "nul": "a\x00b",
    "control": "a\r\nb\t\x1b[31m\x7f\x08",
    "rtl": "\u202eevil\u202c שלום مرحبا",
    "emoji": "👩‍👩‍👧‍👦🏳️‍🌈😀",
    "combining": "e\u0301\u0301\u0301 Z\u0324\u0354\u0367\u0311\u0313",
    "noncharacters": "\ufffe\uffff\U0010ffff",
    "sql": "x'; DROP TABLE kv; --",
    "cql": "x' IF EXISTS; TRUNCATE gateway.kv; --",
    "traversal": "../../../../etc/passwd",
    "format": "%s%n{0}{__class__}%(x)s${jndi:ldap://x}",
    "10k": "k" * 10_000,
    "1mb": "m" * 1_000_000,
    "surrogate": "\ud800",
}

Build = Callable[[str, str], tuple[str, dict[str, Any], Any]]
# A target: (query, variables, read-back) from (payload name, payload); read-back is a function
# (session) -> what the read returns, compared with what the write sent, or None for reads.


def _kv_id(label: str, value: str) -> tuple[str, dict[str, Any], Any]:
    return PUT, put("profile_settings", value, [{"key": "k", "text": "v"}], f"s-id-{label}"), (
        lambda s: (kv_items(s, "profile_settings", value, ["k"]), [{"key": "k", "text": "v"}]))


def _kv_key(label: str, value: str) -> tuple[str, dict[str, Any], Any]:
    rid = f"s-key-{label}"
    return PUT, put("profile_settings", rid, [{"key": value, "text": "v"}], rid), (
        lambda s: (kv_items(s, "profile_settings", rid, [value]), [{"key": value, "text": "v"}]))


def _kv_text(label: str, value: str) -> tuple[str, dict[str, Any], Any]:
    rid = f"s-text-{label}"
    return PUT, put("profile_settings", rid, [{"key": "k", "text": value}], rid), (
        lambda s: (kv_items(s, "profile_settings", rid), [{"key": "k", "text": value}]))


def _counter_name(label: str, value: str) -> tuple[str, dict[str, Any], Any]:
    return ADD, add("page_views", value, 1, f"s-name-{label}"), (
        lambda s: (count(s, "page_views", value), "1"))


def _series_id(label: str, value: str) -> tuple[str, dict[str, Any], Any]:
    return WRITE, events("viewing_history", [
        {"seriesId": value, "items": [{"key": "note", "text": "x"}]}], f"s-series-{label}"), (
        lambda s: (series_items(s, value), [[{"key": "note", "text": "x"}]]))


def _event_text(label: str, value: str) -> tuple[str, dict[str, Any], Any]:
    sid = f"s-event-{label}"
    return WRITE, events("viewing_history", [
        {"seriesId": sid, "items": [{"key": "note", "text": value}]}], sid), (
        lambda s: (series_items(s, sid), [[{"key": "note", "text": value}]]))


def _event_key(label: str, value: str) -> tuple[str, dict[str, Any], Any]:
    sid = f"s-item-key-{label}"
    return WRITE, events("viewing_history", [
        {"seriesId": sid, "items": [{"key": value, "text": "x"}]}], sid), (
        lambda s: (series_items(s, sid), [[{"key": value, "text": "x"}]]))


def _device(label: str, value: str) -> tuple[str, dict[str, Any], Any]:
    pid = f"s-device-{label}"
    return PLAY, play(pid, pid, device=value), (
        lambda s: ([e["device"] for e in history(s, pid)[1]], [value]))


def _title_id(label: str, value: str) -> tuple[str, dict[str, Any], Any]:
    pid = f"s-title-{label}"
    return PLAY, play(pid, pid, titleId=value), (
        lambda s: ([e["title"]["id"] for e in history(s, pid)[1]], [value]))


def _idempotency_key(label: str, value: str) -> tuple[str, dict[str, Any], Any]:
    name = f"s-idem-{label}"
    return ADD, add("page_views", name, 1, value), (lambda s: (count(s, "page_views", name), "1"))


def _reader(query: str, name: str) -> Build:
    def build(label: str, value: str) -> tuple[str, dict[str, Any], Any]:
        return query, {name: value}, None
    return build


WRITES: dict[str, Build] = {
    "kv-record-id": _kv_id, "kv-item-key": _kv_key, "kv-item-text": _kv_text,
    "counter-name": _counter_name, "series-id": _series_id, "event-item-text": _event_text,
    "event-item-key": _event_key, "playback-device": _device, "playback-title-id": _title_id,
    "idempotency-key": _idempotency_key,
}
READS: dict[str, Build] = {
    "namespace": _reader('query($v: String!) { counter(namespace: $v, name: "x") { count } }',
                         "v"),
    "cursor": _reader('query($v: String) { kvRecord(namespace: "profile_settings", '
                      'id: "before-kv") { items(first: 1, after: $v) { edges { cursor } } } }',
                      "v"),
    "series-filter-text": _reader(
        'query($v: String!) { timeSeries(namespace: "viewing_history", id: "before-series", '
        'filter: [{key: "title_id", text: $v}]) { edges { cursor } } }', "v"),
    "search-text": _reader(
        'query($v: String!) { searchEvents(namespace: "viewing_history", query: {conditions: '
        '[{key: "title_id", op: EQ, text: $v}]}) { edges { cursor } } }', "v"),
    "kv-range-start": _reader(
        'query($v: String) { kvRecord(namespace: "profile_settings", id: "before-kv") '
        "{ items(start: $v) { edges { cursor } } } }", "v"),
    "profile-id": _reader(
        'query($r: [_Any!]!) { _entities(representations: $r) { ... on Profile { '
        "playCount { count } viewingHistory(first: 5) { edges { cursor } } } } }", "r"),
}

# Values the contract refuses outright, per argument.
REFUSED: dict[str, set[str]] = {
    "counter-name": {"empty", "10k", "1mb"},
    "idempotency-key": {"empty", "spaces", "10k", "1mb"},
    "playback-title-id": {"10k", "1mb"},
    "namespace": set(PAYLOADS),
    "cursor": set(PAYLOADS) - {"empty"},
}


def _read_back(read: Any) -> Callable[[Session, Outcome], None]:
    def verify(session: Session, outcome: Outcome) -> None:
        got, sent = read(session)
        assert got == sent, f"stored {str(got)[:200]!r}, sent {str(sent)[:200]!r}"
    return verify


def _case(target: str, build: Build, label: str, value: str) -> Case:
    query, variables, read = build(label, value)
    if target == "profile-id":
        variables = {"r": profile(value)}
    name = f"string-{label}-as-{target}"
    seconds = SLOW if label == "1mb" else FAST
    expect: Expect
    if label == "surrogate":
        expect = request_error(INPUT)
    elif label in REFUSED.get(target, set()):
        expect = field_error(INPUT)
    else:
        expect = ok_or(INPUT)
    verify = if_written(_read_back(read)) if read is not None and expect.errors != "some" \
        else None
    return Case(name, "domain", gql(query, variables), expect, seconds, verify)


CASES: list[Case] = [
    _case(target, build, label, value)
    for target, build in {**WRITES, **READS}.items()
    for label, value in PAYLOADS.items()
]
