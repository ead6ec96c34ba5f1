"""Generic counter fields in each mode: counter, counters, addCount, clearCount."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path
from typing import Any

import pytest

from abstractions.tokens import IdempotencyToken

from .conftest import GraphQLClient, attempt_recorded, new_gateway, wait_out_accept_window

ADD = """
mutation ($ns: String!, $name: String!, $delta: Long!, $key: String!) {
  addCount(input: {namespace: $ns, name: $name, delta: $delta, idempotencyKey: $key}) {
    namespace name count mode
  }
}
"""
CLEAR = """
mutation ($ns: String!, $name: String!, $key: String!) {
  clearCount(input: {namespace: $ns, name: $name, idempotencyKey: $key}) { count }
}
"""
READ = """
query ($ns: String!, $name: String!) { counter(namespace: $ns, name: $name) { count mode } }
"""


async def add(client: GraphQLClient, ns: str, name: str, delta: Any, key: str) -> str:
    data = await client.data(ADD, {"ns": ns, "name": name, "delta": delta, "key": key})
    return data["addCount"]["count"]


async def clear(client: GraphQLClient, ns: str, name: str, key: str) -> str:
    return (await client.data(CLEAR, {"ns": ns, "name": name, "key": key}))["clearCount"]["count"]


async def read(client: GraphQLClient, ns: str, name: str) -> str:
    return (await client.data(READ, {"ns": ns, "name": name}))["counter"]["count"]


async def test_best_effort_counter_adds_reads_and_clears(client: GraphQLClient) -> None:
    data = await client.data(ADD, {"ns": "page_views", "name": "home", "delta": 5, "key": "a"})
    assert data["addCount"] == {
        "namespace": "page_views", "name": "home", "count": "5", "mode": "BEST_EFFORT"
    }
    assert await add(client, "page_views", "home", "-2", "b") == "3"
    assert await add(client, "page_views", "home", 5, "a") == "3"  # retry of "a": no change
    assert await read(client, "page_views", "home") == "3"
    assert await clear(client, "page_views", "home", "c") == "0"
    assert await read(client, "page_views", "home") == "0"


async def test_accurate_counter_is_visible_at_once_and_retries_add_nothing(
    client: GraphQLClient,
) -> None:
    ns = "profile_plays"
    assert await add(client, ns, "p1", 3, "a") == "3"
    assert await add(client, ns, "p1", 3, "a") == "3"
    assert await add(client, ns, "p1", 4, "b") == "7"
    assert await read(client, ns, "p1") == "7"
    assert await clear(client, ns, "p1", "c") == "0"
    assert await clear(client, ns, "p1", "c") == "0"
    assert await add(client, ns, "p1", 2, "d") == "2"
    data = await client.data(READ, {"ns": ns, "name": "p1"})
    assert data["counter"] == {"count": "2", "mode": "ACCURATE"}


async def test_eventual_counter_shows_adds_after_a_rollup(client: GraphQLClient) -> None:
    ns = "title_plays"
    assert await add(client, ns, "t1", 4, "a") == "0"  # logged, not rolled up yet
    assert await add(client, ns, "t1", 4, "a") == "0"
    await wait_out_accept_window()
    await client.gateway.counters.rollup(ns, ["t1"])
    assert await read(client, ns, "t1") == "4"

    assert await clear(client, ns, "t1", "c") == "4"  # the reset is not rolled up yet either
    await wait_out_accept_window()
    await client.gateway.counters.rollup(ns, ["t1"])
    data = await client.data(READ, {"ns": ns, "name": "t1"})
    assert data["counter"] == {"count": "0", "mode": "EVENTUAL"}


async def test_counters_returns_the_names_asked_for_in_order(client: GraphQLClient) -> None:
    await add(client, "profile_plays", "x", 1, "x")
    await add(client, "profile_plays", "y", 2, "y")
    data = await client.data(
        '{ counters(namespace: "profile_plays", names: ["y", "none", "x"]) '
        "{ namespace name count mode } }"
    )
    assert data["counters"] == [
        {"namespace": "profile_plays", "name": "y", "count": "2", "mode": "ACCURATE"},
        {"namespace": "profile_plays", "name": "none", "count": "0", "mode": "ACCURATE"},
        {"namespace": "profile_plays", "name": "x", "count": "1", "mode": "ACCURATE"},
    ]


async def test_counters_rejects_more_names_than_the_limit(client: GraphQLClient) -> None:
    names = [f"n{i}" for i in range(601)]  # the fixture's max_names is 600
    errors = await client.errors(
        'query ($n: [String!]!) { counters(namespace: "page_views", names: $n) { count } }',
        {"n": names},
    )
    assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"]


async def test_namespaces_lists_each_configured_namespace_with_its_settings(
    client: GraphQLClient,
) -> None:
    data = await client.data("{ namespaces { name abstraction settings { key text } } }")
    by_name = {ns["name"]: ns for ns in data["namespaces"]}
    assert sorted(by_name) == sorted(ns.name for ns in client.gateway.namespaces)
    assert {
        "viewing_history", "title_plays", "profile_plays", "page_views", "profile_settings",
    } <= set(by_name)
    assert by_name["viewing_history"]["abstraction"] == "TIMESERIES"
    assert by_name["profile_settings"]["abstraction"] == "KV"
    title_plays = by_name["title_plays"]
    assert title_plays["abstraction"] == "COUNTER"
    settings = {s["key"]: s["text"] for s in title_plays["settings"]}
    assert settings["mode"] == "eventual"
    assert settings["accept_window_seconds"] == "0.3"
    history = {s["key"]: s["text"] for s in by_name["viewing_history"]["settings"]}
    assert history["search"] == "true"
    assert "position_seconds=numeric" in history["search_fields"]


INT64_MAX = 2**63 - 1

async def test_a_best_effort_counter_never_leaves_the_64_bit_range(client: GraphQLClient) -> None:
    assert await add(client, "page_views", "edge", str(INT64_MAX), "a") == str(INT64_MAX)
    body = await client.execute(ADD, {"ns": "page_views", "name": "edge", "delta": 1, "key": "b"})
    if "errors" in body:
        assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]
    else:
        assert int(body["data"]["addCount"]["count"]) <= INT64_MAX  # now 2**63, a rounded float


async def test_an_accurate_counter_that_would_overflow_stays_readable(
    client: GraphQLClient,
) -> None:
    assert await add(client, "profile_plays", "edge", str(INT64_MAX), "a") == str(INT64_MAX)
    body = await client.execute(
        ADD, {"ns": "profile_plays", "name": "edge", "delta": 1, "key": "b"}
    )
    if "errors" in body:  # rejecting the add is fine; "retry later" is not
        assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]
    assert await read(client, "profile_plays", "edge") == str(INT64_MAX)


INVALID_COUNTERS = {
    "empty name": {"name": ""},
    "name over 256 characters": {"name": "c" * 257},
    "unknown namespace": {"ns": "nope"},
    "kv namespace": {"ns": "profile_settings"},
}


@pytest.mark.parametrize("bad", INVALID_COUNTERS.values(), ids=INVALID_COUNTERS.keys())
async def test_an_invalid_add_counts_nothing_and_its_key_stays_free(
    client: GraphQLClient, bad: dict[str, Any]
) -> None:
    request = {"ns": "profile_plays", "name": "c", "delta": 5, "key": "fix"}
    errors = await client.errors(ADD, {**request, **bad})
    assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"]
    assert await read(client, "profile_plays", "c") == "0"
    assert not await attempt_recorded(client.gateway, "addCount", "fix")
    assert await add(client, "profile_plays", "c", 5, "fix") == "5"


@pytest.mark.parametrize("bad", INVALID_COUNTERS.values(), ids=INVALID_COUNTERS.keys())
async def test_an_invalid_clear_clears_nothing_and_its_key_stays_free(
    client: GraphQLClient, bad: dict[str, Any]
) -> None:
    assert await add(client, "profile_plays", "c", 5, "five") == "5"
    request = {"ns": "profile_plays", "name": "c", "key": "fix"}
    errors = await client.errors(CLEAR, {**request, **bad})
    assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"]
    assert await read(client, "profile_plays", "c") == "5"
    assert not await attempt_recorded(client.gateway, "clearCount", "fix")
    assert await clear(client, "profile_plays", "c", "fix") == "0"


async def test_an_overflowed_eventual_counter_is_an_error_and_its_namespace_keeps_rolling_up(
    client: GraphQLClient, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ns, many = "title_plays", """
    query ($n: [String!]!) { counters(namespace: "title_plays", names: $n) { name count } }
    """
    caplog.set_level(logging.WARNING, logger="abstractions.counter")
    assert await add(client, ns, "hit", str(INT64_MAX), "a") == "0"
    body = await client.execute(ADD, {"ns": ns, "name": "hit", "delta": INT64_MAX, "key": "b"})
    if "errors" in body:  # refusing what is known to overflow is right; accepting it, too
        assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]
        assert "'hit'" in body["errors"][0]["message"]
    # A small add through another replica, which has no reason to check it, overflows it anyway.
    replica = new_gateway(db_path)
    await replica.start(background=False)
    try:
        await replica.counters.add(ns, "hit", 1, IdempotencyToken.new())
    finally:
        await replica.stop()
    assert await add(client, ns, "other", 5, "c") == "0"

    # The background rollup keeps rolling up the namespace; the overflowed counter is an error.
    deadline = asyncio.get_running_loop().time() + 10.0
    while True:
        body = await client.execute(many, {"n": ["other", "hit"]})
        if body.get("errors"):
            break
        assert asyncio.get_running_loop().time() < deadline, body
        await asyncio.sleep(0.1)
    assert body["data"] == {"counters": [{"name": "other", "count": "5"}, None]}
    [error] = body["errors"]
    assert error["path"] == ["counters", 1]
    assert error["extensions"]["code"] == "COUNTER_OVERFLOW"
    assert "'hit'" in error["message"]
    errors = await client.errors(READ, {"ns": ns, "name": "hit"})
    assert [e["extensions"]["code"] for e in errors] == ["COUNTER_OVERFLOW"]

    assert await add(client, ns, "other", 2, "d") == "5"
    await wait_out_accept_window()
    await asyncio.sleep(1.2)  # a background pass or two more (title_plays: every 1 s)
    assert await read(client, ns, "other") == "7"
    logged = [r for r in caplog.records if r.name == "abstractions.counter"]
    assert [(r.levelno, "'hit'" in r.getMessage()) for r in logged] == [(logging.WARNING, True)]
    metrics = (await client.http.get("/metrics")).text
    assert re.search(
        r'^subgraph_abstraction_events_total\{event="rollup_overflow",'
        r'namespace="title_plays"\} 1\.0$',
        metrics, re.MULTILINE,
    ), metrics
