"""The request bodies and the index layout, checked as plain data (no server)."""

from __future__ import annotations

import math
import random

import pytest

from backends.base import Condition, EventCursor, EventQuery, StoredEvent, TimeSeriesLayout
from backends.search import bodies
from backends.sqlite.db import _to_epoch, _to_real

LAYOUT = TimeSeriesLayout(seconds_per_slice=60, seconds_per_bucket=10, event_buckets=2,
                          retention_seconds=120)
FIELDS = {"n": "numeric", "d": "date", "k": "keyword"}


def test_plain_keys_name_their_field_and_others_are_hex_encoded() -> None:
    assert bodies.field_name("title_id") == "title_id"
    assert bodies.field_name("Device-2") == "Device-2"
    odd = ["a.b", " ", "é", "a b", "~7e", "*"]
    names = [bodies.field_name(k) for k in odd]
    assert all(n.startswith("~") and "." not in n and n.strip() for n in names)
    assert len(set(names)) == len(odd)
    assert bodies.field_name("a.b") == "~" + b"a.b".hex()


def test_keyword_terms_keep_every_byte_and_sort_as_the_bytes_do() -> None:
    rng = random.Random(5)
    values = [bytes(rng.randrange(256) for _ in range(rng.randrange(6))) for _ in range(500)]
    values += ["é".encode(), b"\xff", b"\x7f", b"\x00", b"z", "日本".encode()]
    assert all(bodies.keyword(v).encode("latin-1") == v for v in values)
    as_terms = sorted(values, key=lambda v: bodies.keyword(v).encode())  # Lucene's order
    assert as_terms == sorted(values)
    assert bodies.keyword_of_text("é") == bodies.keyword("é".encode())


@pytest.mark.parametrize("value", [
    b"1", b"-2.5", b" 3 ", b"1e3", b"1_000", b"inf", b"-Infinity", b"nan", b"", b"abc",
    b"\xff", b"0x10", "٣".encode(),
])
def test_numbers_are_read_as_sqlite_reads_them(value: bytes) -> None:
    assert bodies.number(value) == _to_real(value)


@pytest.mark.parametrize("value", [
    b"2024-05-01T10:00:00Z", b"2024-05-01T10:00:00.123456+02:00", b"2024-05-01",
    b"1714557600", b"1714557600.5", b"yesterday", b"\xff",
])
def test_dates_are_read_as_sqlite_reads_them(value: bytes) -> None:
    assert bodies.epoch_seconds(value) == _to_epoch(value)


def test_a_document_holds_raw_items_keywords_and_typed_values() -> None:
    event = StoredEvent("s", 5_000_000, "e", {
        "n": b"inf", "d": b"2024-05-01T10:00:00.0015Z", "k": b"\xff", "x.y": b"1",
    })
    doc = bodies.document(event, FIELDS)
    assert doc["items"] == {"n": "aW5m", "d": "MjAyNC0wNS0wMVQxMDowMDowMC4wMDE1Wg==",
                            "k": "/w==", "x.y": "MQ=="}
    assert doc["kw"] == {"n": "inf", "d": "2024-05-01T10:00:00.0015Z", "k": "\xff",
                         bodies.field_name("x.y"): "1"}
    assert doc["num"] == {"n": 1.7976931348623157e308}  # finite, as a double field needs
    assert doc["date"] == {"d": 1714557600002}  # whole milliseconds
    unreadable = bodies.document(StoredEvent("s", 1, "e", {"n": b"?", "d": b"?"}), FIELDS)
    assert unreadable["num"] == {"n": None} and unreadable["date"] == {"d": None}


def test_bulk_actions_upsert_each_event_into_the_index_of_its_slice() -> None:
    events = [StoredEvent("s", 61_000_000, "a", {"k": b"v"}),
              StoredEvent("s", 59_000_000, "b", {"k": b"v"})]
    actions = bodies.bulk_body("ts-", "ns", LAYOUT, FIELDS, events)
    assert [a["update"]["_index"] for a in actions[::2]] == ["ts-ns-60", "ts-ns-0"]
    assert [a["update"]["_id"] for a in actions[::2]] == ["s|61000000|a", "s|59000000|b"]
    assert all(a["doc_as_upsert"] for a in actions[1::2])


def test_document_ids_are_unambiguous_and_short_enough() -> None:
    plain = StoredEvent("series", 12, "id|with|bars", {})
    assert bodies.document_id(plain) == "series|12|id|with|bars"
    a = StoredEvent("a|1", 2, "x", {})
    b = StoredEvent("a", 1, "2|x", {})
    assert bodies.document_id(a) != bodies.document_id(b)
    long = StoredEvent("é" * 256, 1, "ü" * 128, {})
    assert len(bodies.document_id(long).encode()) <= bodies.MAX_ID_BYTES
    assert bodies.document_id(long) != bodies.document_id(StoredEvent("é" * 256, 2, "ü" * 128,
                                                                      {}))


def test_search_targets_the_slices_of_the_interval_or_a_wildcard() -> None:
    s = 1_000_000
    assert bodies.search_target("ts-", "ns", LAYOUT, 60 * s, 180 * s) == "ts-ns-60,ts-ns-120"
    assert bodies.search_target("ts-", "ns", LAYOUT, 59 * s, 121 * s) == (
        "ts-ns-0,ts-ns-60,ts-ns-120"
    )
    assert bodies.search_target("ts-", "ns", LAYOUT, 5 * s, 5 * s) == "ts-ns-0"
    assert bodies.search_target("ts-", "ns", LAYOUT, 0, 86_400 * s) == "ts-ns-*"
    assert bodies.slice_of_index("ts-", "ns", "ts-ns-120") == 120
    assert bodies.slice_of_index("ts-", "ns", "ts-ns_2-120") is None


def test_search_body_filters_sorts_and_resumes_after_the_cursor() -> None:
    query = EventQuery(10, 20, 5, EventCursor(15, "e", "s"), {"k": b"\xff"})
    body = bodies.search_body(FIELDS, [
        Condition("k", "eq", "é"), Condition("n", "gte", 2.0), Condition("d", "lt", 1.5),
        Condition("other", "gt", "m"),
    ], query)
    assert body["size"] == 5
    assert body["search_after"] == [15, "e", "s"]
    assert [next(iter(s)) for s in body["sort"]] == ["event_time", "event_id", "series_id"]
    assert body["query"]["bool"]["filter"] == [
        {"range": {"event_time": {"gte": 10, "lt": 20}}},
        {"term": {"kw.k": "\xff"}},
        {"term": {"kw.k": "Ã©"}},
        {"range": {"num.n": {"gte": 2.0}}},
        {"range": {"date.d": {"lt": 1500}}},
        {"range": {"kw.other": {"gt": "m"}}},
    ]
    nan = bodies.search_body(FIELDS, [Condition("n", "eq", math.nan)], query)
    assert nan["query"]["bool"]["filter"][-1] == {"match_none": {}}


def test_distinct_aggregates_keywords_by_count_then_value() -> None:
    body = bodies.distinct_body(FIELDS, "n", [], EventQuery(0, 1, 3))
    terms = body["aggs"]["values"]["terms"]
    assert terms["field"] == "kw.n" and terms["size"] == 3
    assert terms["order"] == [{"_count": "desc"}, {"_key": "asc"}]
    response = {"aggregations": {"values": {"buckets": [{"key": "\xff", "doc_count": 2}]}}}
    assert bodies.distinct_values(response) == [(b"\xff", 2)]


def test_template_maps_the_declared_keys_and_sets_the_refresh_interval() -> None:
    template = bodies.index_template("ts-", "ns", FIELDS, refresh_seconds=0.5, shards=1,
                                     replicas=0)
    assert template["index_patterns"] == ["ts-ns-*"]
    settings = template["template"]["settings"]["index"]
    assert settings["refresh_interval"] == "500ms"
    props = template["template"]["mappings"]["properties"]
    assert props["num"]["properties"] == {"n": {"type": "double"}}
    assert props["date"]["properties"] == {"d": {"type": "date", "format": "epoch_millis"}}
    assert set(props["kw"]["properties"]) == {"n", "d", "k"}


def test_bulk_failures_are_read_from_the_response() -> None:
    assert bodies.bulk_failures({"errors": False, "items": []}) == []
    response = {"errors": True, "items": [
        {"update": {"status": 200}},
        {"update": {"status": 429, "error": {"type": "rejected", "reason": "queue full"}}},
    ]}
    assert bodies.bulk_failures(response) == [(429, "rejected: queue full")]
