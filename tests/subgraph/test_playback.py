"""recordPlayback: the event, both play counters, and idempotency by key."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from .conftest import GraphQLClient, SchemaRunner, attempt_recorded, wait_out_accept_window

RECORD = """
mutation ($input: RecordPlaybackInput!) {
  recordPlayback(input: $input) {
    event {
      id profile { id } title { id } startedAt positionSeconds durationSeconds device
    }
    profilePlayCount { namespace name count mode }
    titlePlayCount { namespace name count mode }
  }
}
"""

HISTORY = """
query ($id: ID!) {
  _entities(representations: [{__typename: "Profile", id: $id}]) {
    ... on Profile {
      viewingHistory {
        edges { node { id title { id } startedAt positionSeconds durationSeconds device } }
      }
      playCount { count }
    }
  }
}
"""


def playback(key: str, **overrides: Any) -> dict[str, Any]:
    base = {
        "profileId": "p1", "titleId": "t1", "positionSeconds": 300, "durationSeconds": 120,
        "device": "tv", "idempotencyKey": key,
    }
    return {**base, **overrides}


def iso(moment: datetime) -> str:
    return moment.isoformat()


async def record(client: GraphQLClient, **fields: Any) -> dict[str, Any]:
    return (await client.data(RECORD, {"input": fields}))["recordPlayback"]


async def history(client: GraphQLClient, profile: str = "p1") -> dict[str, Any]:
    return (await client.data(HISTORY, {"id": profile}))["_entities"][0]


async def title_plays(client: GraphQLClient, title: str = "t1") -> str:
    data = await client.data(
        'query ($n: String!) { counter(namespace: "title_plays", name: $n) { count } }',
        {"n": title},
    )
    return data["counter"]["count"]


async def test_record_playback_writes_the_event_and_returns_it_with_both_counters(
    client: GraphQLClient,
) -> None:
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    out = await record(client, **playback("k1", startedAt=iso(started)))
    event = out["event"]
    assert event["profile"] == {"id": "p1"}
    assert event["title"] == {"id": "t1"}
    assert datetime.fromisoformat(event["startedAt"]) == started
    assert (event["positionSeconds"], event["durationSeconds"], event["device"]) == (300, 120, "tv")
    assert out["profilePlayCount"] == {
        "namespace": "profile_plays", "name": "p1", "count": "1", "mode": "ACCURATE"
    }
    # title_plays is eventual: the add is logged, not yet rolled up.
    assert out["titlePlayCount"] == {
        "namespace": "title_plays", "name": "t1", "count": "0", "mode": "EVENTUAL"
    }

    profile = await history(client)
    assert profile["playCount"] == {"count": "1"}
    assert [e["node"] for e in profile["viewingHistory"]["edges"]] == [{
        "id": event["id"], "title": {"id": "t1"}, "startedAt": event["startedAt"],
        "positionSeconds": 300, "durationSeconds": 120, "device": "tv",
    }]


async def test_viewing_history_lists_recorded_playbacks_newest_first(
    client: GraphQLClient,
) -> None:
    now = datetime.now(UTC)
    await record(client, **playback("old", titleId="t1", startedAt=iso(now - timedelta(hours=2))))
    await record(client, **playback("new", titleId="t2", startedAt=iso(now - timedelta(hours=1)),
                                    device=None))
    await record(client, **playback("mid", titleId="t3",
                                    startedAt=iso(now - timedelta(minutes=90))))
    edges = (await history(client))["viewingHistory"]["edges"]
    assert [(e["node"]["title"]["id"], e["node"]["device"]) for e in edges] == [
        ("t2", None), ("t3", "tv"), ("t1", "tv"),
    ]


async def test_title_play_count_becomes_visible_after_a_rollup(client: GraphQLClient) -> None:
    await record(client, **playback("k1"))
    await record(client, **playback("k2", profileId="p2"))
    await wait_out_accept_window()
    await client.gateway.counters.rollup("title_plays", ["t1"])
    assert await title_plays(client) == "2"


async def test_title_plays_stay_at_the_last_rollup_until_the_next_one(
    execute: SchemaRunner,
) -> None:
    # Straight through the schema, with no background rollup: only an explicit one folds adds in.
    read = '{ counter(namespace: "title_plays", name: "t1") { count } }'
    recorded = await execute.execute(RECORD, {"input": playback("k1")})
    assert recorded.errors is None
    await wait_out_accept_window()
    assert (await execute.execute(read)).data == {"counter": {"count": "0"}}
    await execute.gateway.counters.rollup("title_plays", ["t1"])
    assert (await execute.execute(read)).data == {"counter": {"count": "1"}}


async def test_the_same_idempotency_key_changes_nothing_and_returns_the_same_event(
    client: GraphQLClient,
) -> None:
    first = await record(client, **playback("once"))
    await wait_out_accept_window()
    await client.gateway.counters.rollup("title_plays", ["t1"])
    retry = await record(client, **playback("once"))
    assert retry["event"] == first["event"]
    assert retry["profilePlayCount"]["count"] == "1"
    assert retry["titlePlayCount"]["count"] == "1"

    # The key sent with another input is not a retry: it is refused, and writes nothing.
    errors = await client.errors(RECORD, {"input": playback("once", positionSeconds=999,
                                                            titleId="t9")})
    assert [e["extensions"]["code"] for e in errors] == ["IDEMPOTENCY_KEY_REUSED"]

    await wait_out_accept_window()
    await client.gateway.counters.rollup("title_plays", ["t1", "t9"])
    profile = await history(client)
    assert [e["node"]["id"] for e in profile["viewingHistory"]["edges"]] == [first["event"]["id"]]
    assert profile["playCount"] == {"count": "1"}
    assert await title_plays(client) == "1"
    assert await title_plays(client, "t9") == "0"


async def test_concurrent_attempts_with_one_idempotency_key_record_one_playback(
    client: GraphQLClient,
) -> None:
    outs = await asyncio.gather(*(record(client, **playback("hedged")) for _ in range(3)))
    assert len({o["event"]["id"] for o in outs}) == 1
    profile = await history(client)
    assert len(profile["viewingHistory"]["edges"]) == 1
    assert profile["playCount"] == {"count": "1"}


async def test_a_different_idempotency_key_records_another_playback(
    client: GraphQLClient,
) -> None:
    first = await record(client, **playback("a"))
    second = await record(client, **playback("b"))
    assert second["event"]["id"] != first["event"]["id"]
    assert second["profilePlayCount"]["count"] == "2"
    profile = await history(client)
    assert len(profile["viewingHistory"]["edges"]) == 2
    assert profile["playCount"] == {"count": "2"}


async def test_started_at_defaults_to_now(client: GraphQLClient) -> None:
    before = datetime.now(UTC)
    out = await record(client, **playback("now"))
    after = datetime.now(UTC)
    started = datetime.fromisoformat(out["event"]["startedAt"])
    assert before - timedelta(milliseconds=1) <= started <= after


async def test_record_playback_rejects_negative_seconds_and_writes_nothing(
    client: GraphQLClient,
) -> None:
    errors = await client.errors(RECORD, {"input": playback("neg", positionSeconds=-1)})
    assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"]
    profile = await history(client)
    assert profile["viewingHistory"]["edges"] == []
    assert profile["playCount"] == {"count": "0"}


def days_ago(days: float) -> str:
    return iso(datetime.now(UTC) - timedelta(days=days))


INVALID_PLAYBACKS = {
    "empty title": {"titleId": ""},
    "title over 256 characters": {"titleId": "t" * 257},
    "empty profile": {"profileId": ""},
    "profile over 256 characters": {"profileId": "p" * 257},
    "device over the item limit": {"device": "d" * (64 * 1024 + 1)},
    "started before the accept window": {"startedAt": days_ago(8)},
    "started in the future": {"startedAt": days_ago(-1 / 24)},
    "negative position": {"positionSeconds": -1},
}


@pytest.mark.parametrize("bad", INVALID_PLAYBACKS.values(), ids=INVALID_PLAYBACKS.keys())
async def test_an_invalid_playback_writes_nothing_and_its_key_stays_free(
    client: GraphQLClient, bad: dict[str, Any]
) -> None:
    errors = await client.errors(RECORD, {"input": playback("fix", **bad)})
    assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"]
    profile = await history(client)
    assert profile["viewingHistory"]["edges"] == []
    assert profile["playCount"] == {"count": "0"}
    assert not await attempt_recorded(client.gateway, "recordPlayback", "fix")

    # The corrected request, with the same key, is a first attempt: it applies once.
    out = await record(client, **playback("fix"))
    assert out["profilePlayCount"]["count"] == "1"
    edges = (await history(client))["viewingHistory"]["edges"]
    assert [e["node"]["title"] for e in edges] == [{"id": "t1"}]
