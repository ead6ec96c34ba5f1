"""Domain input: argument values each field must refuse (and then write nothing) or accept."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ..cases import (
    FAST,
    SLOW,
    Case,
    Expect,
    HttpRequest,
    field_error,
    gql,
    ok,
    ok_or,
    post,
    request_error,
)
from ..client import Outcome, Session
from .ops import (
    ADD,
    CLEAR,
    DELETE,
    PLAY,
    PUT,
    WRITE,
    Verify,
    add,
    count,
    count_is,
    events,
    history,
    kv_items,
    kv_untouched,
    play,
    profile,
    profile_untouched,
    put,
    series_items,
    series_untouched,
)

INPUT = "BAD_USER_INPUT"
REUSED = "IDEMPOTENCY_KEY_REUSED"
LONG_NAME = "n" * 257
LONG_KEY = "k" * 129

Prepare = Callable[[Session], HttpRequest]


def _case(name: str, request: HttpRequest | Prepare, expect: Expect,
          verify: Verify | None = None, seconds: float = FAST) -> Case:
    return Case(name, "domain", request, expect, seconds, verify)


def _refused(name: str, query: str, variables: Any = None, verify: Verify | None = None,
             seconds: float = FAST) -> Case:
    request = gql(query) if variables is None else gql(query, variables)
    return _case(name, request, field_error(INPUT), verify, seconds)


# --- first, and the namespace each field accepts -----------------------------------------------

PAGED = {
    "kv-items": 'kvRecord(namespace: "profile_settings", id: "before-kv") '
                "{ items(first: %s) { edges { cursor } } }",
    "time-series": 'timeSeries(namespace: "viewing_history", id: "before-series", first: %s) '
                   "{ edges { cursor } }",
    "search-events": 'searchEvents(namespace: "viewing_history", first: %s) { edges { cursor } }',
    "distinct-values": 'distinctValues(namespace: "viewing_history", key: "title_id", '
                       "first: %s) { value }",
    "viewing-history": '_entities(representations: [{__typename: "Profile", id: "before-p"}]) '
                       "{ ... on Profile { viewingHistory(first: %s) { edges { cursor } } } }",
}

READS = {
    "kv-record": 'kvRecord(namespace: "%s", id: "x") { items { edges { cursor } } }',
    "time-series": 'timeSeries(namespace: "%s", id: "x") { edges { cursor } }',
    "search-events": 'searchEvents(namespace: "%s") { edges { cursor } }',
    "distinct-values": 'distinctValues(namespace: "%s", key: "title_id") { value }',
    "counter": 'counter(namespace: "%s", name: "x") { count }',
    "counters": 'counters(namespace: "%s", names: ["x", "y"]) { count }',
}
OTHER_ABSTRACTION = {"kv-record": "page_views", "time-series": "profile_settings",
                     "search-events": "kv_small", "distinct-values": "title_plays",
                     "counter": "viewing_history", "counters": "kv_small"}


def _write_with_namespace(kind: str, ns: str, key: str) -> tuple[str, dict[str, Any]]:
    if kind == "put-items":
        return PUT, put(ns, "ns-case", [{"key": "k", "text": "v"}], key)
    if kind == "delete-items":
        return DELETE, {"in": {"namespace": ns, "id": "ns-case", "idempotencyKey": key}}
    if kind == "write-events":
        return WRITE, events(ns, [{"seriesId": "ns-case", "items": [{"key": "a",
                                                                      "text": "b"}]}], key)
    if kind == "add-count":
        return ADD, add(ns, "ns-case", 1, key)
    return CLEAR, {"in": {"namespace": ns, "name": "ns-case", "idempotencyKey": key}}


WRITES_OTHER = {"put-items": "page_views", "delete-items": "events_short",
                "write-events": "kv_small", "add-count": "profile_settings",
                "clear-count": "viewing_history"}


def same_error_as_unknown(request: HttpRequest) -> Verify:
    """The internal namespace must be refused exactly as a namespace that does not exist."""
    def verify(session: Session, outcome: Outcome) -> None:
        body = request.content()
        assert isinstance(body, bytes)
        twin = HttpRequest(headers=request.headers,
                           body=re.sub(rb"\bidempotency\b", b"nopenopeno", body))
        other = session.send(twin, timeout=10).body
        mine = outcome.body
        for a, b in zip(mine["errors"], other["errors"], strict=True):
            assert a["message"].replace("idempotency", "nopenopeno") == b["message"], (a, b)
            assert a.get("extensions") == b.get("extensions"), (a, b)
            assert a.get("path") == b.get("path"), (a, b)
        assert mine.get("data") == other.get("data")
    return verify


def _limit_cases() -> list[Case]:
    cases = []
    for field, template in PAGED.items():
        for first in ("0", "-1", "101", "2147483647"):
            cases.append(_refused(f"first-{first}-{field}", "{ " + template % first + " }"))
    for field, template in READS.items():
        for label, ns in [("unknown", "nope"), ("internal-idempotency", "idempotency"),
                          ("of-another-abstraction", OTHER_ABSTRACTION[field]), ("empty", "")]:
            request = gql("{ " + template % ns + " }")
            verify = same_error_as_unknown(request) if ns == "idempotency" else None
            cases.append(_case(f"namespace-{label}-{field}", request, field_error(INPUT), verify))
    for kind, other in WRITES_OTHER.items():
        for label, ns in [("unknown", "nope"), ("internal-idempotency", "idempotency"),
                          ("of-another-abstraction", other)]:
            query, variables = _write_with_namespace(kind, ns, f"ns-{kind}-{label}")
            request = gql(query, variables)
            verify = same_error_as_unknown(request) if ns == "idempotency" else None
            cases.append(_case(f"namespace-{label}-{kind}", request, field_error(INPUT), verify))
    cases.append(_case(
        "namespaces-field-hides-the-internal-idempotency-namespace",
        gql("{ namespaces { name } }"),
        ok(lambda data: _assert("idempotency" not in {n["name"] for n in data["namespaces"]},
                                "the internal namespace is listed"))))
    return cases


def _assert(condition: bool, message: str) -> None:
    assert condition, message


# --- values: base64, text and value, names, intervals, keys -----------------------------------


def _value_cases() -> list[Case]:
    cases = []
    for label, value in [("symbols", "@@@@"), ("bad-padding", "abc"), ("padding-inside", "YW=Jj"),
                         ("space-inside", "YW Jj"), ("non-ascii", "💩💩💩💩"),
                         ("url-safe-alphabet", "-_-_")]:
        rid = f"b64-{label}"
        cases.append(_refused(f"base64-{label}-in-put-items", PUT, put(
            "profile_settings", rid, [{"key": "k", "value": value}], rid),
            kv_untouched("profile_settings", rid)))
    cases.append(_refused("base64-bad-in-write-events", WRITE, events("viewing_history", [
        {"seriesId": "b64-ev", "items": [{"key": "note", "value": "@@@@"}]}], "b64-ev"),
        series_untouched("b64-ev")))
    for label, item in [("both-text-and-value", {"key": "k", "text": "a", "value": "YQ=="}),
                        ("neither-text-nor-value", {"key": "k"})]:
        cases.append(_refused(f"item-{label}-in-put-items", PUT, put(
            "profile_settings", f"item-{label}", [item], f"item-{label}"),
            kv_untouched("profile_settings", f"item-{label}")))
        cases.append(_refused(f"item-{label}-in-write-events", WRITE, events(
            "viewing_history", [{"seriesId": f"item-{label}", "items": [item]}],
            f"item-{label}"), series_untouched(f"item-{label}")))
    cases.append(_refused("one-bad-item-among-good-ones-writes-nothing", PUT, put(
        "profile_settings", "mixed-items", [{"key": "a", "text": "1"}, {"key": "b", "text": "2"},
                                            {"key": "c", "value": "@@"}], "mixed-items"),
        kv_untouched("profile_settings", "mixed-items")))
    cases.append(_refused("one-bad-event-among-good-ones-writes-nothing", WRITE, events(
        "viewing_history", [{"seriesId": "mixed-events", "items": [{"key": "a", "text": "1"}]},
                            {"seriesId": "mixed-events", "items": [{"key": "b", "value": "@"}]}],
        "mixed-events"), series_untouched("mixed-events")))
    cases.append(_refused("bad-item-in-the-before-record-changes-nothing", PUT, put(
        "profile_settings", "before-kv", [{"key": "theme", "text": "light"},
                                          {"key": "x", "value": "@@"}], "before-kv-bad")))
    return cases


def _name_cases() -> list[Case]:
    cases = []
    for label, name in [("empty", ""), ("257-characters", LONG_NAME)]:
        cases += [
            _refused(f"counter-name-{label}-in-counter", 'query($n: String!) { counter('
                     'namespace: "page_views", name: $n) { count } }', {"n": name}),
            _refused(f"counter-name-{label}-among-good-ones-in-counters",
                     'query($n: [String!]!) { counters(namespace: "page_views", names: $n) '
                     "{ count } }", {"n": ["ok-a", name, "ok-b"]}),
            _refused(f"counter-name-{label}-in-add-count", ADD,
                     add("page_views", name, 1, f"name-{label}")),
            _refused(f"counter-name-{label}-in-clear-count", CLEAR, {"in": {
                "namespace": "page_views", "name": name, "idempotencyKey": f"clear-{label}"}}),
        ]
    cases.append(_case("counter-name-256-characters-is-stored", gql(
        ADD, add("page_views", "n" * 256, 1, "name-256")), ok(),
        lambda s, o: _assert(count(s, "page_views", "n" * 256) == "1", "256-char name")))
    return cases


def _interval_cases() -> list[Case]:
    fields = {
        "time-series": 'timeSeries(namespace: "viewing_history", id: "before-series", %s) '
                       "{ edges { cursor } }",
        "search-events": 'searchEvents(namespace: "viewing_history", %s) { edges { cursor } }',
        "distinct-values": 'distinctValues(namespace: "viewing_history", key: "title_id", %s) '
                           "{ value }",
        "viewing-history": '_entities(representations: [{__typename: "Profile", '
                           'id: "before-p"}]) { ... on Profile { viewingHistory(%s) '
                           "{ edges { cursor } } } }",
    }
    cases = []
    for field, template in fields.items():
        for label, since, until in [("equal", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
                                    ("reversed", "2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z"),
                                    ("reversed-across-offsets", "2026-01-01T10:00:00+00:00",
                                     "2026-01-01T11:00:00+02:00")]:
            args = f'since: "{since}", until: "{until}"'
            cases.append(_refused(f"since-not-before-until-{label}-{field}",
                                  "{ " + template % args + " }"))
    return cases


def _put_then(rid: str, query: str, variables: dict[str, Any]) -> Prepare:
    """Write three items to `rid` first (a retry when run again), then send the case."""
    def prepare(session: Session) -> HttpRequest:
        session.data(PUT, put("profile_settings", rid, [
            {"key": k, "text": k} for k in ("a", "b", "c")], f"setup-{rid}"))
        return gql(query, variables)
    return prepare


def _idempotency_key_cases() -> list[Case]:
    cases = []
    for label, key in [("whitespace", "   "), ("tab-and-newline", "\t\n"),
                       ("129-characters", LONG_KEY), ("empty", "")]:
        rid = f"idem-{label}"
        cases += [
            _refused(f"idempotency-key-{label}-put-items", PUT, put(
                "profile_settings", rid, [{"key": "k", "text": "v"}], key),
                kv_untouched("profile_settings", rid)),
            _refused(f"idempotency-key-{label}-add-count", ADD,
                     add("page_views", rid, 1, key), count_is("page_views", rid, "0")),
            _refused(f"idempotency-key-{label}-record-playback", PLAY, play(rid, key),
                     profile_untouched(rid)),
            _refused(f"idempotency-key-{label}-write-events", WRITE, events(
                "viewing_history", [{"seriesId": rid, "items": [{"key": "a", "text": "b"}]}],
                key), series_untouched(rid)),
        ]
    cases += [
        _case("idempotency-key-whitespace-delete-items", _put_then(
            "idem-del", DELETE, {"in": {"namespace": "profile_settings", "id": "idem-del",
                                        "idempotencyKey": " "}}), field_error(INPUT),
            lambda s, o: _assert(len(kv_items(s, "profile_settings", "idem-del")) == 3, "kept")),
        _refused("idempotency-key-whitespace-clear-count", CLEAR, {"in": {
            "namespace": "page_views", "name": "before-views", "idempotencyKey": " "}}),
        _case("idempotency-key-128-characters-is-accepted", gql(
            ADD, add("page_views", "idem-128", 1, "k" * 128)), ok(),
            lambda s, o: _assert(count(s, "page_views", "idem-128") == "1", "128-char key")),
    ]
    return cases


def _playback_cases() -> list[Case]:
    cases = []
    for label, fields in [("negative-position", {"positionSeconds": -1}),
                          ("negative-duration", {"durationSeconds": -5}),
                          ("257-character-title-id", {"titleId": "t" * 257}),
                          ("empty-title-id", {"titleId": ""})]:
        pid = f"play-{label}"
        expect = field_error(INPUT)
        if label == "empty-title-id":
            expect = ok_or(INPUT)
        cases.append(_case(f"record-playback-{label}", gql(PLAY, play(pid, pid, **fields)),
                           expect, _untouched_if_refused(pid)))
    cases.append(_case("record-playback-position-2-to-the-31", gql(
        PLAY, play("play-big", "play-big", positionSeconds=2**31)), request_error(INPUT),
        profile_untouched("play-big")))
    cases.append(_case("record-playback-257-character-profile-id", gql(
        PLAY, play("p" * 257, "play-long-profile")), ok_or(INPUT)))
    return cases


def _untouched_if_refused(pid: str) -> Verify:
    def verify(session: Session, outcome: Outcome) -> None:
        if outcome.codes():
            profile_untouched(pid)(session, outcome)
    return verify


# --- idempotency keys used twice ---------------------------------------------------------------


def _first_then(query: str, first: dict[str, Any], second: dict[str, Any]) -> Prepare:
    def prepare(session: Session) -> HttpRequest:
        session.data(query, first)
        return gql(query, second)
    return prepare


def _add_then_put(session: Session) -> HttpRequest:
    """The same key, first for addCount, then for putItems: keys are per mutation."""
    session.data(ADD, add("page_views", "shared-key", 1, "shared-key"))
    return gql(PUT, put("profile_settings", "shared-key", [{"key": "a", "text": "1"}],
                        "shared-key"))


def _reuse_cases() -> list[Case]:
    def kv_holds(rid: str, expected: list[dict[str, Any]]) -> Verify:
        return lambda s, o: _assert(kv_items(s, "profile_settings", rid) == expected,
                                    "the first write must stand")

    ts_one = [[{"key": "n", "text": "1"}]]
    return [
        _case("idempotency-key-reused-add-count-other-delta", _first_then(
            ADD, add("counter_accurate_fast", "reuse-add", 1, "reuse-add"),
            add("counter_accurate_fast", "reuse-add", 5, "reuse-add")), field_error(REUSED),
            count_is("counter_accurate_fast", "reuse-add", "1")),
        _case("idempotency-key-reused-add-count-other-counter", _first_then(
            ADD, add("page_views", "reuse-add-a", 1, "reuse-add-2"),
            add("page_views", "reuse-add-b", 1, "reuse-add-2")), field_error(REUSED),
            count_is("page_views", "reuse-add-b", "0")),
        _case("idempotency-key-reused-put-items-other-items", _first_then(
            PUT, put("profile_settings", "reuse-put", [{"key": "a", "text": "1"}], "reuse-put"),
            put("profile_settings", "reuse-put", [{"key": "a", "text": "2"}], "reuse-put")),
            field_error(REUSED), kv_holds("reuse-put", [{"key": "a", "text": "1"}])),
        _case("idempotency-key-reused-record-playback-other-position", _first_then(
            PLAY, play("reuse-play", "reuse-play"),
            play("reuse-play", "reuse-play", positionSeconds=99)), field_error(REUSED),
            lambda s, o: _assert(history(s, "reuse-play")[0] == "1", "one playback")),
        _case("idempotency-key-reused-write-events-other-events", _first_then(
            WRITE, events("viewing_history", [{"seriesId": "reuse-ev", "eventId": "e",
                                               "items": [{"key": "n", "text": "1"}]}],
                          "reuse-ev"),
            events("viewing_history", [{"seriesId": "reuse-ev", "eventId": "e",
                                        "items": [{"key": "n", "text": "2"}]}], "reuse-ev")),
            field_error(REUSED),
            lambda s, o: _assert(series_items(s, "reuse-ev") == ts_one, "the first events")),
        _case("idempotency-key-reused-delete-items-other-keys", _first_then(
            DELETE, {"in": {"namespace": "profile_settings", "id": "reuse-del", "keys": ["a"],
                            "idempotencyKey": "reuse-del"}},
            {"in": {"namespace": "profile_settings", "id": "reuse-del", "keys": ["b"],
                    "idempotencyKey": "reuse-del"}}), field_error(REUSED)),
        _case("idempotency-key-reused-clear-count-other-counter", _first_then(
            CLEAR, {"in": {"namespace": "page_views", "name": "reuse-clr-a",
                           "idempotencyKey": "reuse-clr"}},
            {"in": {"namespace": "page_views", "name": "reuse-clr-b",
                    "idempotencyKey": "reuse-clr"}}), field_error(REUSED)),
        _case("idempotency-key-retried-with-same-input-adds-once", _first_then(
            ADD, add("page_views", "retry-add", 3, "retry-add"),
            add("page_views", "retry-add", 3, "retry-add")), ok(),
            count_is("page_views", "retry-add", "3")),
        _case("idempotency-key-retried-with-same-input-plays-once", _first_then(
            PLAY, play("retry-play", "retry-play"), play("retry-play", "retry-play")), ok(),
            lambda s, o: _assert(history(s, "retry-play")[0] == "1", "one playback")),
        _case("idempotency-key-shared-by-two-mutations-is-two-keys", _add_then_put, ok(),
              lambda s, o: _assert(len(kv_items(s, "profile_settings", "shared-key")) == 1,
                                   "the put was written")),
    ]


# --- cursors -----------------------------------------------------------------------------------

KV_PAGE = """query($after: String) { kvRecord(namespace: "profile_settings", id: "cursor-kv") {
  items(first: 1, after: $after) { edges { cursor node { key } } pageInfo { endCursor } } } }"""
TS_PAGE = """query($after: String) { timeSeries(namespace: "viewing_history", id: "before-series",
  first: 1, after: $after) { edges { cursor } pageInfo { endCursor } } }"""
OTHER_KV_PAGE = KV_PAGE.replace('id: "cursor-kv"', 'id: "cursor-other"')


def _cursor_from(query: str, reader: str, change: Callable[[str], str]) -> Prepare:
    def prepare(session: Session) -> HttpRequest:
        for rid in ("cursor-kv", "cursor-other"):
            session.data(PUT, put("profile_settings", rid, [
                {"key": k, "text": k} for k in ("a", "b", "c")], f"setup-{rid}"))
        data = session.data(query)
        cursor = next(iter(data.values()))
        cursor = cursor.get("items", cursor)
        return gql(reader, {"after": change(cursor["pageInfo"]["endCursor"])})
    return prepare


def _flip(cursor: str) -> str:
    middle = len(cursor) // 2
    return cursor[:middle] + ("A" if cursor[middle] != "A" else "B") + cursor[middle + 1:]


def _cursor_cases() -> list[Case]:
    cases = [_case(f"cursor-{label}", gql(KV_PAGE, {"after": after}), field_error(INPUT))
             for label, after in [("garbage", "garbage"), ("random-base64", "AAAAAAAAAAAAAAAA"),
                                  ("base64-json", "eyJvZmZzZXQiOiAwfQ=="), ("minus-one", "-1"),
                                  ("long-random-base64", "QUJD" * 2000)]]
    cases += [
        _case("cursor-tampered", _cursor_from(KV_PAGE, KV_PAGE, _flip), field_error(INPUT)),
        _case("cursor-truncated", _cursor_from(KV_PAGE, KV_PAGE, lambda c: c[:-4]),
              field_error(INPUT)),
        _case("cursor-of-kv-used-for-time-series", _cursor_from(KV_PAGE, TS_PAGE, str),
              field_error(INPUT)),
        _case("cursor-of-time-series-used-for-kv", _cursor_from(TS_PAGE, KV_PAGE, str),
              field_error(INPUT)),
        _case("cursor-of-another-record", _cursor_from(KV_PAGE, OTHER_KV_PAGE, str),
              ok_or(INPUT)),
        _case("cursor-genuine-pages-on", _cursor_from(KV_PAGE, KV_PAGE, str), ok(
            lambda d: _assert(len(d["kvRecord"]["items"]["edges"]) == 1, "next page"))),
    ]
    return cases


# --- numbers: Long, Int, dates, TTLs -----------------------------------------------------------


def _raw_variable(query: str, name: str, literal: bytes) -> HttpRequest:
    text = query.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ").encode()
    return post(b'{"query":"' + text + b'","variables":{"' + name.encode() + b'":' + literal
                + b"}}")


def _number_cases() -> list[Case]:
    long_add = ("mutation($d: Long!, $k: String!) { addCount(input: {namespace: "
                '"counter_accurate_fast", name: "long-cases", delta: $d, idempotencyKey: $k}) '
                "{ count } }")
    cases = []
    for label, delta in [("2-to-the-63-as-string", "9223372036854775808"),
                         ("below-minus-2-to-the-63", "-9223372036854775809"),
                         ("trailing-letters", "12x"), ("hexadecimal", "0x10"),
                         ("exponent-string", "1e3"), ("empty-string", ""),
                         ("2-to-the-63-as-number", 2**63), ("float", 1.5), ("boolean", True),
                         ("list", [1]), ("object", {"n": 1})]:
        cases.append(_case(f"long-{label}", gql(long_add, {"d": delta, "k": f"long-{label}"}),
                           request_error(INPUT)))
    cases.append(_case("long-1e400", _raw_variable(
        long_add.replace("$k: String!", "$k: String = \"long-1e400\""), "d", b"1e400"),
        request_error(INPUT)))
    for label, delta in [("minus-zero", "-0"), ("leading-space", " 1"),
                         ("underscore", "1_000"), ("arabic-indic-digits", "١٢"),
                         ("plus-sign", "+1"), ("2-to-the-63-minus-1", "9223372036854775807")]:
        cases.append(_case(f"long-{label}", gql(long_add, {"d": delta, "k": f"long-{label}"}),
                           ok_or(INPUT)))
    return cases


DATES = 'query($s: DateTime) { timeSeries(namespace: "viewing_history", id: "before-series", ' \
    "since: $s) { edges { cursor } } }"


def _date_cases() -> list[Case]:
    cases = []
    for label, value in [("not-a-date", "not a date"), ("month-13", "2026-13-01"),
                         ("february-30", "2026-02-30T00:00:00Z"), ("empty", ""),
                         ("number", 1700000000), ("offset-24-hours", "2026-01-01T00:00:00+24:00"),
                         ("leap-second", "2026-06-30T23:59:60Z"),
                         ("year-10000", "10000-01-01T00:00:00Z"), ("list", ["2026-01-01"])]:
        cases.append(_case(f"date-{label}", gql(DATES, {"s": value}), request_error(INPUT)))
    for label, value in [("year-1", "0001-01-01"), ("year-9999", "9999-12-31T23:59:59Z"),
                         ("plus-14-hours", "2026-01-01T00:00:00+14:00"),
                         ("minus-12-hours", "2026-01-01T00:00:00-12:00"),
                         ("naive", "2026-01-01T00:00:00"),
                         ("year-1-east-of-utc", "0001-01-01T00:00:00+14:00"),
                         ("year-9999-west-of-utc", "9999-12-31T23:59:59-14:00"),
                         ("nanoseconds", "2026-01-01T00:00:00.123456789Z")]:
        cases.append(_case(f"date-{label}", gql(DATES, {"s": value}), ok_or(INPUT)))
    for label, value in [("year-1", "0001-01-01T00:00:00Z"),
                         ("year-9999", "9999-12-31T23:59:59Z"),
                         ("year-9999-west-of-utc", "9999-12-31T23:59:59-14:00")]:
        pid = f"date-play-{label}"
        cases.append(_case(f"date-{label}-as-playback-start", gql(
            PLAY, play(pid, pid, startedAt=value)), ok_or(INPUT), _untouched_if_refused(pid)))
        sid = f"date-ev-{label}"
        cases.append(_case(f"date-{label}-as-event-time", gql(WRITE, events(
            "viewing_history", [{"seriesId": sid, "eventTime": value,
                                 "items": [{"key": "a", "text": "b"}]}], sid)), ok_or(INPUT)))
    return cases


def _ttl_and_page_cases() -> list[Case]:
    cases = []
    for label, ttl in [("negative", -1), ("zero", 0), ("max-int", 2147483647)]:
        rid = f"ttl-{label}"
        cases.append(_case(f"ttl-seconds-{label}", gql(PUT, put(
            "profile_settings", rid, [{"key": "k", "text": "v", "ttlSeconds": ttl}], rid)),
            ok_or(INPUT)))
    cases.append(_case("ttl-seconds-2-to-the-31", gql(PUT, put(
        "profile_settings", "ttl-big", [{"key": "k", "text": "v", "ttlSeconds": 2**31}],
        "ttl-big")), request_error(INPUT), kv_untouched("profile_settings", "ttl-big")))
    for label, size in [("zero", 0), ("negative", -1), ("max-int", 2147483647), ("one", 1)]:
        cases.append(_case(f"page-bytes-{label}", gql(
            '{ kvRecord(namespace: "profile_settings", id: "before-kv") '
            f"{{ items(pageBytes: {size}) {{ edges {{ cursor }} }} }} }}"), ok_or(INPUT)))
    return cases


# --- sizes of lists and values -----------------------------------------------------------------


def _size_cases() -> list[Case]:
    items = [{"key": f"k{i}", "text": "v"} for i in range(501)]
    many_events = [{"seriesId": "size-events", "items": [{"key": "a", "text": "b"}]}] * 501
    counters = 'query($n: [String!]!) { counters(namespace: "page_views", names: $n) { count } }'
    return [
        _refused("counters-501-names", counters, {"n": [f"c{i}" for i in range(501)]}),
        _case("counters-500-names-are-served", gql(counters, {"n": [f"c{i}" for i in range(500)]}),
              ok(lambda d: _assert(len(d["counters"]) == 500, "500 counters"))),
        _refused("put-items-501-items", PUT, put("profile_settings", "size-501", items,
                                                 "size-501"),
                 kv_untouched("profile_settings", "size-501")),
        _refused("put-items-51-items-in-kv-small", PUT, put("kv_small", "size-51", items[:51],
                                                            "size-51"),
                 kv_untouched("kv_small", "size-51")),
        _refused("put-items-value-over-kv-small-max", PUT, put(
            "kv_small", "size-big", [{"key": "k", "text": "x" * 65537}], "size-big"),
            kv_untouched("kv_small", "size-big")),
        _refused("write-events-501-events", WRITE, events("viewing_history", many_events,
                                                          "size-events"),
                 series_untouched("size-events")),
        _refused("delete-items-501-keys", DELETE, {"in": {
            "namespace": "profile_settings", "id": "size-del",
            "keys": [str(i) for i in range(501)], "idempotencyKey": "size-del"}}),
        _case("kv-read-of-10000-keys", gql(
            'query($k: [String!]) { kvRecord(namespace: "profile_settings", id: "before-kv") '
            "{ items(keys: $k) { edges { cursor } } } }", {"k": [f"k{i}" for i in range(10000)]}),
            ok_or(INPUT), seconds=SLOW),
        _case("write-events-with-no-events", gql(WRITE, events("viewing_history", [], "none")),
              ok_or(INPUT)),
        _case("write-events-with-an-itemless-event", gql(WRITE, events(
            "viewing_history", [{"seriesId": "size-no-items", "items": []}], "size-no-items")),
            ok_or(INPUT)),
        _case("put-items-with-no-items", gql(PUT, put("profile_settings", "size-none", [],
                                                      "size-none")), ok_or(INPUT)),
        _case("put-items-duplicate-keys", gql(PUT, put(
            "profile_settings", "size-dup", [{"key": "a", "text": "1"}, {"key": "a", "text": "2"}],
            "size-dup")), ok_or(INPUT)),
    ]


# --- entities, search, counters ----------------------------------------------------------------

ENTITIES = "query($r: [_Any!]!) { _entities(representations: $r) { __typename " \
    "... on Profile { playCount { count } } } }"


def _entity_cases() -> list[Case]:
    cases = [_case(f"representation-{label}", gql(ENTITIES, {"r": [rep]}),
                   Expect(200, frozenset({INPUT}), "some"))
             for label, rep in [("unknown-typename", {"__typename": "Nope", "id": "x"}),
                                ("missing-typename", {"id": "x"}),
                                ("a-string", "Profile:x"), ("a-number", 5), ("a-list", [1]),
                                ("missing-id", {"__typename": "Profile"}),
                                ("null-id", {"__typename": "Profile", "id": None}),
                                ("object-id", {"__typename": "Profile", "id": {"a": 1}}),
                                ("typename-of-a-non-entity",
                                 {"__typename": "Counter", "id": "x"}),
                                ("typename-query", {"__typename": "Query", "id": "x"})]]
    cases += [
        _case("representation-number-id", gql(ENTITIES, {"r": [
            {"__typename": "Profile", "id": 5}]}), ok_or(INPUT)),
        _case("representations-empty", gql(ENTITIES, {"r": []}),
              ok(lambda d: _assert(d["_entities"] == [], "no entities"))),
        _case("representation-null-in-the-list", gql(ENTITIES, {"r": [None]}),
              request_error(INPUT)),
        _case("representation-with-extra-fields", gql(ENTITIES, {"r": [
            {"__typename": "Profile", "id": "before-p", "x": {"y": [1, 2]}}]}), ok_or(INPUT)),
    ]
    search = ('query($c: [SearchCondition!]!) { searchEvents(namespace: "viewing_history", '
              "query: {conditions: $c}) { edges { cursor } } }")
    for label, condition in [
        ("unknown-key", {"key": "nope", "op": "EQ", "text": "x"}),
        ("greater-than-on-a-keyword", {"key": "title_id", "op": "GT", "text": "x"}),
        ("non-number-on-a-numeric-key", {"key": "position_seconds", "op": "GT", "text": "abc"}),
        ("nan-on-a-numeric-key", {"key": "position_seconds", "op": "LT", "text": "NaN"}),
        ("huge-on-a-numeric-key", {"key": "position_seconds", "op": "LT", "text": "1e999"}),
        ("non-date-on-a-date-key", {"key": "started_at", "op": "GTE", "text": "nope"}),
        ("empty-key", {"key": "", "op": "EQ", "text": "x"}),
    ]:
        cases.append(_case(f"search-{label}", gql(search, {"c": [condition]}), ok_or(INPUT)))
    cases.append(_case("search-no-conditions", gql(search, {"c": []}), ok()))
    cases.append(_case("search-100-conditions", gql(search, {"c": [
        {"key": "title_id", "op": "EQ", "text": f"v{i}"} for i in range(100)]}), ok_or(INPUT)))
    for label, key in [("unknown", "nope"), ("empty", ""), ("internal-looking", "__typename")]:
        cases.append(_case(f"distinct-values-{label}-key", gql(
            'query($k: String!) { distinctValues(namespace: "viewing_history", key: $k) '
            "{ value } }", {"k": key}), ok_or(INPUT)))
    return cases


def _overflow_case() -> Case:
    name = "overflowing"

    def prepare(session: Session) -> HttpRequest:
        session.data(ADD, add("counter_accurate_fast", name, "9223372036854775807", "of-1"))
        session.graphql(ADD, add("counter_accurate_fast", name, "9223372036854775807", "of-2"))
        return gql('{ counter(namespace: "counter_accurate_fast", name: "overflowing") '
                   "{ count } }")

    def unchanged(data: dict[str, Any]) -> None:
        assert data["counter"]["count"] == "9223372036854775807", data

    return _case("counter-whose-sum-leaves-64-bits", prepare,
                 ok_or("COUNTER_OVERFLOW", check=unchanged))


CASES: list[Case] = [
    *_limit_cases(), *_value_cases(), *_name_cases(), *_interval_cases(),
    *_idempotency_key_cases(), *_playback_cases(), *_reuse_cases(), *_cursor_cases(),
    *_number_cases(), *_date_cases(), *_ttl_and_page_cases(), *_size_cases(), *_entity_cases(),
    _overflow_case(),
]

__all__ = ["CASES", "PAGED", "profile"]
