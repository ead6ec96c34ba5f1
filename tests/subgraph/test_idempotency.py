"""Idempotency keys: which keys are accepted, the namespace their attempts live in, and a key
sent again: the same input is a retry, another input is refused."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from abstractions.errors import Unavailable
from abstractions.gateway import DataGateway
from abstractions.kv import Item
from abstractions.namespaces import KVNamespace, NamespaceConfigError, TimeSeriesNamespace
from abstractions.tokens import IdempotencyToken, now_micros
from backends.base import StoreUnavailable
from backends.clock import advance_clock, reset_clock
from subgraph.app import Settings, open_gateway
from subgraph.idempotency import DONE, MAX_KEY_LENGTH, NAMESPACE, Idempotency

from .conftest import GraphQLClient, attempt_recorded, new_gateway

KV = 'abstraction = "kv"'


def gateway_with(tmp_path: Path, idempotency_table: str | None) -> DataGateway:
    text = f"[namespaces.profile_settings]\n{KV}\n"
    if idempotency_table is not None:
        text += f"[namespaces.{NAMESPACE}]\n{idempotency_table}\n"
    path = tmp_path / "namespaces.toml"
    path.write_text(text)
    return open_gateway(Settings(f"sqlite:///{tmp_path / 'g.db'}", str(path)))


def test_the_shipped_idempotency_namespace_is_internal(tmp_path: Path) -> None:
    gateway = gateway_with(tmp_path, None)
    assert NAMESPACE not in {ns.name for ns in gateway.namespaces}
    declared = gateway.namespaces.system().get(NAMESPACE, KVNamespace)
    assert declared.internal is True
    assert declared.default_ttl_seconds > 0


def test_a_declared_internal_idempotency_namespace_is_used_as_declared(tmp_path: Path) -> None:
    gateway = gateway_with(tmp_path, f"{KV}\ninternal = true\ndefault_ttl_seconds = 60")
    declared = gateway.namespaces.system().get(NAMESPACE, KVNamespace)
    assert declared.default_ttl_seconds == 60


@pytest.mark.parametrize("table", [
    KV, f"{KV}\ninternal = false", 'abstraction = "counter"\ninternal = true',
])
def test_a_declared_idempotency_namespace_that_is_not_internal_kv_fails_start_up(
    tmp_path: Path, table: str
) -> None:
    with pytest.raises(NamespaceConfigError, match="internal = true") as caught:
        gateway_with(tmp_path, table)
    assert str(tmp_path / "namespaces.toml") in str(caught.value)
    assert repr(NAMESPACE) in str(caught.value)


ADD = """mutation ($key: String!) {
  addCount(input: {namespace: "profile_plays", name: "p1", delta: 1, idempotencyKey: $key}) {
    count
  }
}"""
READ = '{ counter(namespace: "profile_plays", name: "p1") { count } }'


async def count(client: GraphQLClient) -> str:
    return (await client.data(READ))["counter"]["count"]


@pytest.mark.parametrize("key", [
    "", " ", " \t  ", "\n", "\u3000", "a\x00b", "key\n", "tab\there", "\x7f", "c1\x85",
    "x" * (MAX_KEY_LENGTH + 1),
], ids=repr)
async def test_a_blank_too_long_or_control_character_key_is_refused_and_writes_nothing(
    client: GraphQLClient, key: str
) -> None:
    errors = await client.errors(ADD, {"key": key})
    assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"]
    assert "idempotencyKey" in errors[0]["message"]
    assert await count(client) == "0"


LONE_SURROGATE = "lone\ud800"


@pytest.mark.parametrize("operation", ["addCount", "recordPlayback", "writeEvents"])
async def test_a_key_with_a_lone_surrogate_is_refused(
    client: GraphQLClient, operation: str
) -> None:
    # JSON may escape one (\\ud800) although UTF-8 cannot carry it; httpx will not send it.
    document, first, _ = MUTATIONS[operation]
    variables = {"input": {**first, "idempotencyKey": LONE_SURROGATE}}
    body = json.dumps({"query": document, "variables": variables})
    response = await client.http.post(
        "/graphql", content=body.encode(), headers={"content-type": "application/json"}
    )
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.parametrize("key", [
    "k", "x" * MAX_KEY_LENGTH, " padded ", "3b1f0c52-playback-1", "ключ-ü-🙂",
], ids=repr)
async def test_a_printable_key_of_1_to_128_characters_is_accepted(
    client: GraphQLClient, key: str
) -> None:
    assert (await client.data(ADD, {"key": key}))["addCount"]["count"] == "1"


# --- a key sent again: the same input is a retry, another input is refused ----------------

async def test_add_count_with_a_used_key_and_another_delta_is_refused_and_adds_nothing(
    client: GraphQLClient,
) -> None:
    variables = {"key": "k"}
    assert (await client.data(ADD, variables))["addCount"]["count"] == "1"
    other = ADD.replace("delta: 1", "delta: 100")
    errors = await client.errors(other, variables)
    assert [e["extensions"]["code"] for e in errors] == ["IDEMPOTENCY_KEY_REUSED"]
    assert "'k'" in errors[0]["message"] and "different" in errors[0]["message"]
    assert await count(client) == "1"
    assert (await client.data(ADD, variables))["addCount"]["count"] == "1"  # a retry


MUTATIONS: dict[str, tuple[str, dict[str, Any], list[dict[str, Any]]]] = {
    # operation: (document, first input, inputs that differ from it in one field each)
    "recordPlayback": (
        "mutation ($input: RecordPlaybackInput!) { recordPlayback(input: $input) "
        "{ event { id startedAt } profilePlayCount { count } } }",
        {"profileId": "p1", "titleId": "t1", "positionSeconds": 300, "durationSeconds": 120,
         "device": "tv"},
        [{"positionSeconds": 301}, {"durationSeconds": 1}, {"titleId": "t2"},
         {"profileId": "p2"}, {"device": None},
         {"startedAt": (datetime.now(UTC) - timedelta(hours=1)).isoformat()}],
    ),
    "putItems": (
        "mutation ($input: PutItemsInput!) { putItems(input: $input) { id } }",
        {"namespace": "profile_settings", "id": "r", "items": [{"key": "a", "text": "1"}]},
        [{"items": [{"key": "a", "text": "2"}]},
         {"items": [{"key": "a", "text": "1"}, {"key": "b", "text": "1"}]},
         {"items": [{"key": "a", "text": "1", "ttlSeconds": 60}]},
         {"items": [{"key": "a", "value": "MQ=="}]},
         {"id": "other"}, {"namespace": "kv_small"}],
    ),
    "deleteItems": (
        "mutation ($input: DeleteItemsInput!) { deleteItems(input: $input) { id } }",
        {"namespace": "profile_settings", "id": "r", "keys": ["a"]},
        [{"keys": ["b"]}, {"keys": ["a", "b"]}, {"keys": None},
         {"keys": None, "start": "a", "end": "b"}, {"id": "other"}],
    ),
    "writeEvents": (
        "mutation ($input: WriteEventsInput!) { writeEvents(input: $input) { eventIds } }",
        {"namespace": "events_short",
         "events": [{"seriesId": "s", "items": [{"key": "k", "text": "v"}]}]},
        [{"events": [{"seriesId": "s", "items": [{"key": "k", "text": "w"}]}]},
         {"events": [{"seriesId": "t", "items": [{"key": "k", "text": "v"}]}]},
         {"events": [{"seriesId": "s", "eventId": "e", "items": [{"key": "k", "text": "v"}]}]},
         {"mode": "FIRE_AND_FORGET"}],
    ),
    "addCount": (
        "mutation ($input: AddCountInput!) { addCount(input: $input) { count } }",
        {"namespace": "profile_plays", "name": "c", "delta": 1},
        [{"delta": 100}, {"delta": "2"}, {"name": "d"}, {"namespace": "page_views"}],
    ),
    "clearCount": (
        "mutation ($input: ClearCountInput!) { clearCount(input: $input) { count } }",
        {"namespace": "profile_plays", "name": "c"},
        [{"name": "d"}, {"namespace": "page_views"}],
    ),
}


@pytest.mark.parametrize("operation", MUTATIONS)
async def test_every_mutation_refuses_its_key_with_another_input_and_answers_a_retry(
    client: GraphQLClient, operation: str
) -> None:
    document, first, changes = MUTATIONS[operation]
    request = {**first, "idempotencyKey": "once"}
    answer = await client.data(document, {"input": request})
    for change in changes:
        errors = await client.errors(document, {"input": {**request, **change}})
        assert [e["extensions"]["code"] for e in errors] == ["IDEMPOTENCY_KEY_REUSED"], change
    assert await client.data(document, {"input": request}) == answer
    # The key is per mutation: another mutation may use it.
    other = "clearCount" if operation != "clearCount" else "addCount"
    document, first, _ = MUTATIONS[other]
    await client.data(document, {"input": {**first, "idempotencyKey": "once"}})


async def test_a_retry_is_recognised_whatever_the_offset_its_time_is_written_in(
    client: GraphQLClient,
) -> None:
    document, first, _ = MUTATIONS["recordPlayback"]
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    request = {**first, "idempotencyKey": "t", "startedAt": at.isoformat()}
    answer = await client.data(document, {"input": request})
    for written in (at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    at.astimezone(timezone(timedelta(hours=2))).isoformat()):
        retry = await client.data(document, {"input": {**request, "startedAt": written}})
        assert retry == answer


async def test_an_attempt_stored_without_a_digest_is_honoured_as_before(
    client: GraphQLClient,
) -> None:
    # What an attempt looked like before digests were kept: its facts are replayed.
    token = IdempotencyToken.new()
    legacy = {"t": token.generation_time, "n": token.nonce, "d": False,
              "f": {"namespace": "profile_plays", "name": "p1", "delta": 3}}
    await client.gateway.system_kv.put_items(
        NAMESPACE, "addCount:old", [Item(b"attempt", json.dumps(legacy).encode())],
        IdempotencyToken.new(),
    )
    other = ADD.replace("delta: 1", "delta: 100")
    assert (await client.data(other, {"key": "old"}))["addCount"]["count"] == "3"
    assert (await client.data(ADD, {"key": "old"}))["addCount"]["count"] == "3"
    assert await count(client) == "3"


# --- a retry completes exactly once, however late ---------------------------------------------

# A time series with the 30 s accept window of events_short and a month's retention, so a retry
# a day late is behind the window but within the retention.
EVENTS_LATE = TimeSeriesNamespace(
    name="events_late", seconds_per_slice=3600, seconds_per_bucket=600, event_buckets=2,
    retention_days=30, accept_window_seconds=30,
)
WRITE = MUTATIONS["writeEvents"][0]
PUT = MUTATIONS["putItems"][0]
SERIES = """query ($ns: String!, $id: ID!) {
  timeSeries(namespace: $ns, id: $id, first: 20) { edges { node { eventTime eventId
    items { text } } } }
}"""
ITEMS = """query ($id: ID!) {
  kvRecord(namespace: "profile_settings", id: $id) { items(first: 20) { edges { node {
    key text } } } }
}"""
LATE = [30, 600, 86400]


@pytest.fixture
def data_gateway(db_path: Path) -> DataGateway:
    return new_gateway(db_path, EVENTS_LATE)


@pytest.fixture
def clock() -> Iterator[Callable[[float], None]]:
    """Moves this process's clock forward (a late retry without waiting); put back after."""
    yield advance_clock
    reset_clock()


def fail_once(monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> None:
    """`owner.name` raises `Unavailable` on its next call, then works again."""
    real = getattr(owner, name)
    failed: list[bool] = []

    async def failing(*args: Any, **kwargs: Any) -> Any:
        if not failed:
            failed.append(True)
            raise Unavailable("injected: the store went away")
        return await real(*args, **kwargs)

    monkeypatch.setattr(owner, name, failing)


def lose_first_attempt(
    client: GraphQLClient, monkeypatch: pytest.MonkeyPatch, how: str, write: tuple[object, str]
) -> None:
    """After the attempt is claimed, its write fails ("failed"), or the write is done and the
    answer lost ("unanswered": the attempt is never marked done, the client sees an error)."""
    if how == "failed":
        fail_once(monkeypatch, *write)
    else:
        fail_once(monkeypatch, Idempotency, "finish")


async def events_of(client: GraphQLClient, ns: str, series: str) -> list[tuple[str, str, str]]:
    page = (await client.data(SERIES, {"ns": ns, "id": series}))["timeSeries"]
    return [(e["node"]["eventTime"], e["node"]["eventId"], e["node"]["items"][0]["text"])
            for e in page["edges"]]


def micros(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1_000_000)


@pytest.mark.parametrize("late", LATE)
@pytest.mark.parametrize("how", ["failed", "unanswered"])
async def test_write_events_retried_late_after_a_lost_attempt_applies_exactly_once(
    client: GraphQLClient, monkeypatch: pytest.MonkeyPatch, clock: Callable[[float], None],
    late: int, how: str,
) -> None:
    given = datetime.now(UTC) - timedelta(seconds=5)
    request = {"namespace": "events_late", "idempotencyKey": "late", "events": [
        {"seriesId": "s", "items": [{"key": "k", "text": "no time"}]},
        {"seriesId": "s", "eventTime": given.isoformat(), "items": [{"key": "k", "text": "given"}]},
    ]}
    lose_first_attempt(client, monkeypatch, how, (client.gateway.timeseries, "write_events"))
    before = now_micros()
    [error] = await client.errors(WRITE, {"input": request})
    after = now_micros()
    assert error["extensions"]["code"] == "UNAVAILABLE"
    clock(late)
    answer = await client.data(WRITE, {"input": request})
    written = await events_of(client, "events_late", "s")
    assert sorted(text for _, _, text in written) == ["given", "no time"]
    [untimed] = [e for e in written if e[2] == "no time"]
    assert before <= micros(untimed[0]) <= after  # the first attempt's time, not the retry's
    assert await client.data(WRITE, {"input": request}) == answer
    assert await events_of(client, "events_late", "s") == written


async def test_a_replay_older_than_the_retention_completes_and_writes_nothing(
    client: GraphQLClient, monkeypatch: pytest.MonkeyPatch, clock: Callable[[float], None],
) -> None:
    # events_short keeps about 2 minutes: retention would have dropped a timely write by now.
    request = {"namespace": "events_short", "idempotencyKey": "gone",
               "events": [{"seriesId": "s", "items": [{"key": "k", "text": "v"}]}]}
    lose_first_attempt(client, monkeypatch, "failed", (client.gateway.timeseries, "write_events"))
    await client.errors(WRITE, {"input": request})
    clock(600)
    assert (await client.data(WRITE, {"input": request}))["writeEvents"]["eventIds"]
    assert await events_of(client, "events_short", "s") == []
    assert client.gateway.events.get("timeseries_replay_expired_events:events_short") == 1


async def test_a_late_write_that_is_not_a_retry_is_still_refused(
    client: GraphQLClient, clock: Callable[[float], None],
) -> None:
    given = datetime.now(UTC) - timedelta(seconds=40)
    request = {"namespace": "events_late", "idempotencyKey": "new", "events": [
        {"seriesId": "s", "eventTime": given.isoformat(), "items": [{"key": "k", "text": "v"}]},
    ]}
    [error] = await client.errors(WRITE, {"input": request})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "accept window" in error["message"]
    assert not await attempt_recorded(client.gateway, "writeEvents", "new")


@pytest.mark.parametrize("late", LATE)
@pytest.mark.parametrize("how", ["failed", "unanswered"])
async def test_put_items_retried_late_after_a_lost_attempt_applies_exactly_once(
    client: GraphQLClient, monkeypatch: pytest.MonkeyPatch, clock: Callable[[float], None],
    late: int, how: str,
) -> None:
    request = {"namespace": "profile_settings", "id": "r", "idempotencyKey": "late",
               "items": [{"key": "lang", "text": "en"}]}
    lose_first_attempt(client, monkeypatch, how, (client.gateway.kv, "put_items"))
    await client.errors(PUT, {"input": request})
    clock(late)
    await client.data(PUT, {"input": request})
    record = {"id": "r"}
    assert (await client.data(ITEMS, record))["kvRecord"]["items"]["edges"] == [
        {"node": {"key": "lang", "text": "en"}}
    ]
    # Done now: a second retry writes nothing, so it cannot undo a later write.
    later = {**request, "idempotencyKey": "later", "items": [{"key": "lang", "text": "fr"}]}
    await client.data(PUT, {"input": later})
    await client.data(PUT, {"input": request})
    assert (await client.data(ITEMS, record))["kvRecord"]["items"]["edges"] == [
        {"node": {"key": "lang", "text": "fr"}}
    ]


async def test_a_late_put_items_retry_loses_to_a_newer_write_by_someone_else(
    client: GraphQLClient, monkeypatch: pytest.MonkeyPatch, clock: Callable[[float], None],
) -> None:
    request = {"namespace": "profile_settings", "id": "r", "idempotencyKey": "first",
               "items": [{"key": "lang", "text": "en"}]}
    lose_first_attempt(client, monkeypatch, "failed", (client.gateway.kv, "put_items"))
    await client.errors(PUT, {"input": request})
    newer = {**request, "idempotencyKey": "newer", "items": [{"key": "lang", "text": "fr"}]}
    await client.data(PUT, {"input": newer})
    clock(600)
    await client.data(PUT, {"input": request})  # accepted: its write is older, and loses
    assert (await client.data(ITEMS, {"id": "r"}))["kvRecord"]["items"]["edges"] == [
        {"node": {"key": "lang", "text": "fr"}}
    ]


# --- fire and forget: a retry writes again what was lost ---------------------------------------


async def test_a_fire_and_forget_write_lost_before_its_flush_is_written_by_its_retry(
    client: GraphQLClient, monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = client.gateway.store
    real_write = store.ts_write
    down = True

    async def ts_write(*args: Any, **kwargs: Any) -> None:
        if down:
            raise StoreUnavailable("injected: the store is down for the flush")
        await real_write(*args, **kwargs)

    monkeypatch.setattr(store, "ts_write", ts_write)
    request = {"namespace": "events_short", "idempotencyKey": "faf", "mode": "FIRE_AND_FORGET",
               "events": [{"seriesId": "f", "items": [{"key": "k", "text": "v"}]}]}
    answer = await client.data(WRITE, {"input": request})  # buffered: accepted
    dropped = "timeseries_dropped_events:events_short"
    await wait_until(lambda: client.gateway.events.get(dropped) == 1)
    down = False
    assert await client.data(WRITE, {"input": request}) == answer
    await wait_until(lambda: client.gateway.events.get(
        "timeseries_flushed_events:events_short") == 1)
    [(_, _, text)] = await events_of(client, "events_short", "f")
    assert text == "v"
    await wait_until_done(client, "writeEvents", "faf")
    assert await client.data(WRITE, {"input": request}) == answer  # done: nothing buffered
    await asyncio.sleep(0.1)
    assert client.gateway.events.get("timeseries_flushed_events:events_short") == 1


async def test_a_fire_and_forget_attempt_is_done_only_once_flushed(
    client: GraphQLClient, monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = client.gateway.store
    real_write = store.ts_write
    release = asyncio.Event()

    async def ts_write(*args: Any, **kwargs: Any) -> None:
        await release.wait()
        await real_write(*args, **kwargs)

    monkeypatch.setattr(store, "ts_write", ts_write)
    request = {"namespace": "events_short", "idempotencyKey": "slow", "mode": "FIRE_AND_FORGET",
               "events": [{"seriesId": "g", "items": [{"key": "k", "text": "v"}]}]}
    try:
        await client.data(WRITE, {"input": request})
        await asyncio.sleep(0.1)  # several flush intervals: the flush waits on the store
        assert not await attempt_done(client.gateway, "writeEvents", "slow")
    finally:
        release.set()  # (else stopping the gateway would wait for the flush forever)
    await wait_until_done(client, "writeEvents", "slow")


async def attempt_done(gateway: DataGateway, operation: str, key: str) -> bool:
    page = await gateway.system_kv.get_items(NAMESPACE, f"{operation}:{key}")
    return DONE in {item.key for item in page.items}


async def wait_until_done(client: GraphQLClient, operation: str, key: str) -> None:
    deadline = asyncio.get_running_loop().time() + 3
    while not await attempt_done(client.gateway, operation, key):
        assert asyncio.get_running_loop().time() < deadline, "the attempt was never marked done"
        await asyncio.sleep(0.02)


async def wait_until(condition: Callable[[], bool], seconds: float = 3) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("operation", ["writeEvents", "recordPlayback"])
async def test_a_time_past_the_year_9999_in_utc_is_refused_not_an_internal_error(
    client: GraphQLClient, operation: str
) -> None:
    # Checked after the input is digested: the digest must not overflow on it.
    document, first, _ = MUTATIONS[operation]
    when = "9999-12-31T23:59:59-14:00"
    if operation == "writeEvents":
        first = {**first, "events": [{**first["events"][0], "eventTime": when}]}
    else:
        first = {**first, "startedAt": when}
    errors = await client.errors(document, {"input": {**first, "idempotencyKey": "y10k"}})
    assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"]
