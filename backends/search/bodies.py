"""Every Elasticsearch-API request the search index sends, as pure functions of plain data.

Both engines take every body here as it is: OpenSearch 2.19 (which kept the Elasticsearch 7.10
API these use) and Elasticsearch 9.2 answer each the same; the search contract suite checks that
their answers agree.  What differs between them is client wiring (see `cluster.py`).

Index layout: one index per namespace per TimeSeries slice, ``<prefix><namespace>-<slice start>``
(seconds), created by the first write into it from the namespace's index template
(``<prefix><namespace>``, pattern ``<prefix><namespace>-*``).  Retention deletes whole indices,
as the store drops whole slices.  Namespace names have no ``-``, so no pattern matches another
namespace's indices.

One document per event, id ``series|time|event_id`` (a hash when the series holds a ``|`` or the
id would pass the 512 bytes an id may have)::

    series_id, event_id   keyword        sort keys, with
    event_time            long           microseconds: exact sorting and search_after
    items                 not indexed    {key: base64 value}: what a search returns
    kw.<field>            keyword        every item: equality, ranges, distinct values
    num.<field>           double         items of the namespace's numeric keys
    date.<field>          date           items of its date keys (epoch milliseconds)

Writes are partial updates with ``doc_as_upsert``: writing an event again merges its items into
the document, as the stores merge item rows, so a retried bulk request changes nothing.

Keyword values are the item's bytes read as Latin-1, one character per byte: any bytes survive
the round trip, and terms sort as the bytes do, which is how SQLite compares values.  Numbers
and dates are read as SQLite's ``num()`` and ``epoch()`` read them.  An item key of letters,
digits, ``_`` and ``-`` is its own field name; any other key becomes ``~`` and its UTF-8 in hex
(a dot would nest objects, and blank names are refused).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from backends.base import (
    Condition,
    EventQuery,
    FieldType,
    StoredEvent,
    TimeSeriesLayout,
)

Body = dict[str, Any]

TEMPLATE_PRIORITY = 200
KEYWORD_MAX_CHARS = 16383  # a term may have 32766 bytes; a Latin-1 character takes at most 2
MAX_ID_BYTES = 512
MAX_TARGET_CHARS = 2000  # an explicit list of slice indices longer than this: a wildcard
SORT = [
    {"event_time": {"order": "desc", "unmapped_type": "long"}},
    {"event_id": {"order": "desc", "unmapped_type": "keyword"}},
    {"series_id": {"order": "desc", "unmapped_type": "keyword"}},
]
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_\-]+")
_MAX_DOUBLE = sys.float_info.max
_MAX_DATE_MILLIS = 8_640_000_000_000_000  # year 275760, as far as ECMAScript dates go
_MATCH_NONE: Body = {"match_none": {}}

# --- names ------------------------------------------------------------------------------------


def index_name(prefix: str, namespace: str, slice_start: int) -> str:
    return f"{prefix}{namespace}-{slice_start}"


def index_pattern(prefix: str, namespace: str) -> str:
    return f"{prefix}{namespace}-*"


def template_name(prefix: str, namespace: str) -> str:
    return f"{prefix}{namespace}"


def slice_of_index(prefix: str, namespace: str, name: str) -> int | None:
    """The slice start an index name stands for, or None when it is not a slice index."""
    head = f"{prefix}{namespace}-"
    if not name.startswith(head):
        return None
    try:
        return int(name[len(head):])
    except ValueError:
        return None


def search_target(
    prefix: str, namespace: str, layout: TimeSeriesLayout, start: int, end: int
) -> str:
    """The indices of the slices `[start, end)` touches; a wildcard when they are many."""
    first = layout.slice_of(start)
    last = layout.slice_of(max(end, start + 1) - 1)
    count = (last - first) // layout.seconds_per_slice + 1
    if count * (len(prefix) + len(namespace) + 12) > MAX_TARGET_CHARS:
        return index_pattern(prefix, namespace)
    names = [
        index_name(prefix, namespace, s)
        for s in range(first, last + 1, layout.seconds_per_slice)
    ]
    return ",".join(names)


def field_name(key: str) -> str:
    """The field name of an item key (see the module docstring)."""
    return key if _PLAIN_KEY.fullmatch(key) else "~" + key.encode().hex()


# --- values -----------------------------------------------------------------------------------


def keyword(value: bytes) -> str:
    """Item bytes as a keyword term: one character per byte."""
    return value.decode("latin-1")


def keyword_of_text(text: str) -> str:
    """A condition's text as the keyword term of its UTF-8 bytes."""
    return keyword(text.encode())


def number(value: bytes) -> float | None:
    """An item as a number, read as SQLite's `num()` reads it; None when it is not one."""
    try:
        result = float(value.decode())
    except (UnicodeDecodeError, ValueError):
        return None
    return None if math.isnan(result) else result


def epoch_seconds(value: bytes) -> float | None:
    """An item as epoch seconds, read as SQLite's `epoch()` reads it (number or ISO-8601)."""
    result = number(value)
    if result is not None:
        return result
    try:
        return datetime.fromisoformat(value.decode().replace("Z", "+00:00")).timestamp()
    except (UnicodeDecodeError, ValueError, OverflowError, OSError):
        return None


def _double(value: float) -> float:
    """A double both engines accept: infinities become the largest finite doubles."""
    return max(-_MAX_DOUBLE, min(_MAX_DOUBLE, value))


def _millis(seconds: float) -> int:
    """Epoch seconds as the whole milliseconds a `date` field holds, within its range."""
    if math.isinf(seconds):
        return _MAX_DATE_MILLIS if seconds > 0 else -_MAX_DATE_MILLIS
    return max(-_MAX_DATE_MILLIS, min(_MAX_DATE_MILLIS, round(seconds * 1000)))


# --- index template and mappings --------------------------------------------------------------


def mappings(fields: Mapping[str, FieldType]) -> Body:
    """The mappings of a slice index: fixed event fields, and the namespace's typed keys."""
    return {
        "dynamic": False,
        "dynamic_templates": [
            {"items_as_keywords": {
                "path_match": "kw.*",
                "mapping": {"type": "keyword", "ignore_above": KEYWORD_MAX_CHARS},
            }},
        ],
        "properties": {
            "series_id": {"type": "keyword"},
            "event_id": {"type": "keyword"},
            "event_time": {"type": "long"},
            "items": {"type": "object", "enabled": False},
            **typed_properties(fields),
        },
    }


def typed_properties(fields: Mapping[str, FieldType]) -> Body:
    """The `kw`, `num` and `date` objects with the namespace's declared keys."""
    keyword_field = {"type": "keyword", "ignore_above": KEYWORD_MAX_CHARS}
    return {
        "kw": {"type": "object", "dynamic": True,
               "properties": {field_name(k): keyword_field for k in sorted(fields)}},
        "num": {"type": "object", "dynamic": False,
                "properties": {field_name(k): {"type": "double"}
                               for k, t in sorted(fields.items()) if t == "numeric"}},
        "date": {"type": "object", "dynamic": False,
                 "properties": {field_name(k): {"type": "date", "format": "epoch_millis"}
                                for k, t in sorted(fields.items()) if t == "date"}},
    }


def index_template(
    prefix: str,
    namespace: str,
    fields: Mapping[str, FieldType],
    *,
    refresh_seconds: float,
    shards: int,
    replicas: int,
) -> Body:
    """The composable index template every slice index of a namespace is created from."""
    return {
        "index_patterns": [index_pattern(prefix, namespace)],
        "priority": TEMPLATE_PRIORITY,
        "template": {
            "settings": {"index": {
                "number_of_shards": shards,
                "number_of_replicas": replicas,
                "refresh_interval": f"{max(1, round(refresh_seconds * 1000))}ms",
            }},
            "mappings": mappings(fields),
        },
        "_meta": {"managed_by": "data-gateway", "namespace": namespace},
    }


def added_mappings(fields: Mapping[str, FieldType]) -> Body:
    """A put-mapping body that adds newly declared keys to slice indices that already exist."""
    return {"properties": typed_properties(fields)}


# --- writes -----------------------------------------------------------------------------------


def document_id(event: StoredEvent) -> str:
    plain = f"{event.series_id}|{event.event_time}|{event.event_id}"
    if "|" not in event.series_id and len(plain.encode()) <= MAX_ID_BYTES:
        return plain
    key = json.dumps([event.series_id, event.event_time, event.event_id])
    return "#" + hashlib.sha256(key.encode()).hexdigest()


def document(event: StoredEvent, fields: Mapping[str, FieldType]) -> Body:
    """The partial document of one event; an unreadable number or date is null (unindexed)."""
    kw: Body = {}
    num: Body = {}
    date: Body = {}
    for key, value in event.items.items():
        name = field_name(key)
        kw[name] = keyword(value)
        kind = fields.get(key)
        if kind == "numeric":
            n = number(value)
            num[name] = None if n is None else _double(n)
        elif kind == "date":
            seconds = epoch_seconds(value)
            date[name] = None if seconds is None else _millis(seconds)
    doc: Body = {
        "series_id": event.series_id,
        "event_time": event.event_time,
        "event_id": event.event_id,
        "items": {k: base64.b64encode(v).decode() for k, v in event.items.items()},
        "kw": kw,
    }
    if num:
        doc["num"] = num
    if date:
        doc["date"] = date
    return doc


def bulk_body(
    prefix: str,
    namespace: str,
    layout: TimeSeriesLayout,
    fields: Mapping[str, FieldType],
    events: Sequence[StoredEvent],
) -> list[Body]:
    """Bulk actions: an upserting partial update per event, into the index of its slice."""
    actions: list[Body] = []
    for event in events:
        actions.append({"update": {
            "_index": index_name(prefix, namespace, layout.slice_of(event.event_time)),
            "_id": document_id(event),
            "retry_on_conflict": 3,
        }})
        actions.append({"doc": document(event, fields), "doc_as_upsert": True})
    return actions


def bulk_failures(response: Mapping[str, Any]) -> list[tuple[int, str]]:
    """`(status, reason)` of each failed action of a bulk response."""
    if not response.get("errors"):
        return []
    failures = []
    for item in response.get("items", []):
        for result in item.values():
            error = result.get("error")
            if error:
                reason = error if isinstance(error, str) else (
                    f"{error.get('type')}: {error.get('reason')}"
                )
                failures.append((int(result.get("status", 500)), reason))
    return failures


# --- reads ------------------------------------------------------------------------------------


def _condition(fields: Mapping[str, FieldType], cond: Condition) -> Body:
    kind = fields.get(cond.key, "keyword")
    name = field_name(cond.key)
    value: str | float | int
    if kind == "keyword":
        field, value = f"kw.{name}", keyword_of_text(str(cond.value))
    else:
        number_ = float(cond.value)
        if math.isnan(number_):
            return _MATCH_NONE
        if kind == "numeric":
            field, value = f"num.{name}", _double(number_)
        else:
            field, value = f"date.{name}", _millis(number_)
    if cond.op == "eq":
        return {"term": {field: value}}
    return {"range": {field: {cond.op: value}}}


def query(
    fields: Mapping[str, FieldType], conditions: Sequence[Condition], window: EventQuery
) -> Body:
    """Events in the window whose items satisfy every condition and equality."""
    filters: list[Body] = [{"range": {"event_time": {"gte": window.start, "lt": window.end}}}]
    for key, value in window.equals.items():
        filters.append({"term": {f"kw.{field_name(key)}": keyword(value)}})
    filters += [_condition(fields, c) for c in conditions]
    return {"bool": {"filter": filters}}


def search_body(
    fields: Mapping[str, FieldType], conditions: Sequence[Condition], window: EventQuery
) -> Body:
    """One page, newest first (time, then event id, then series), after `window.before`."""
    body: Body = {
        "size": window.limit,
        "track_total_hits": False,
        "query": query(fields, conditions, window),
        "sort": SORT,
        "_source": ["series_id", "event_time", "event_id", "items"],
    }
    if window.before is not None:
        b = window.before
        body["search_after"] = [b.event_time, b.event_id, b.series_id]
    return body


def event_from_hit(hit: Mapping[str, Any]) -> StoredEvent:
    source = hit["_source"]
    return StoredEvent(
        source["series_id"],
        int(source["event_time"]),
        source["event_id"],
        {k: base64.b64decode(v) for k, v in source["items"].items()},
    )


def distinct_body(
    fields: Mapping[str, FieldType],
    key: str,
    conditions: Sequence[Condition],
    window: EventQuery,
) -> Body:
    """The most frequent values of item `key` among matching events, ties by value.

    Exact while each slice index is one shard and a value's count ranks within the top
    `shard_size` of every slice it appears in.
    """
    return {
        "size": 0,
        "track_total_hits": False,
        "query": query(fields, conditions, window),
        "aggs": {"values": {"terms": {
            "field": f"kw.{field_name(key)}",
            "size": window.limit,
            "shard_size": max(10 * window.limit, 1000),
            "order": [{"_count": "desc"}, {"_key": "asc"}],
        }}},
    }


def distinct_values(response: Mapping[str, Any]) -> list[tuple[bytes, int]]:
    buckets = response.get("aggregations", {}).get("values", {}).get("buckets", [])
    return [(b["key"].encode("latin-1"), int(b["doc_count"])) for b in buckets]
