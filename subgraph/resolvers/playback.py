"""Viewing history and play counts of the Profile and Title entities, and recordPlayback."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import TYPE_CHECKING, Any

import strawberry

from abstractions.errors import InvalidArgument
from abstractions.namespaces import CounterNamespace
from abstractions.timeseries import Event
from abstractions.tokens import now_micros
from subgraph.idempotency import check_key
from subgraph.loaders import SeriesQuery
from subgraph.schema import counter as counter_types
from subgraph.schema import playback as playback_types
from subgraph.schema.common import page_info

from .common import check_first, context, interval

if TYPE_CHECKING:
    from subgraph.schema.inputs import RecordPlaybackInput
    from subgraph.schema.mutations import RecordPlaybackPayload

HISTORY = "viewing_history"
PROFILE_PLAYS = "profile_plays"
TITLE_PLAYS = "title_plays"


async def viewing_history(
    info: strawberry.Info,
    profile_id: str,
    first: int,
    after: str | None,
    since: datetime | None,
    until: datetime | None,
    title_id: str | None,
) -> playback_types.PlaybackEventConnection:
    start, end = interval(since, until)
    equals = ((playback_types.KEY_TITLE, str(title_id).encode()),) if title_id else ()
    query = SeriesQuery(HISTORY, check_first(info, first), after, start, end, equals)
    page = await context(info).loaders.series.load((profile_id, query))
    return playback_types.PlaybackEventConnection(
        edges=playback_types.edges_of(page.cursors, page.events),
        page_info=page_info(page.next_page_token, page.cursors),
    )


async def play_count(info: strawberry.Info, namespace: str, name: str) -> counter_types.Counter:
    count = await context(info).loaders.counts.load((name, namespace))
    return counter_of(info, namespace, name, count)


def counter_of(
    info: strawberry.Info, namespace: str, name: str, count: int
) -> counter_types.Counter:
    ns = context(info).gateway.namespaces.get(namespace, CounterNamespace)
    return counter_types.Counter(
        namespace=namespace, name=name, count=count, mode=counter_types.CounterMode(ns.mode)
    )


async def record_playback(
    info: strawberry.Info, input: RecordPlaybackInput
) -> RecordPlaybackPayload:
    """Write the event and add 1 to both play counters, once per idempotency key.

    All three writes are checked before the first, so an invalid request writes nothing.
    """
    from subgraph.schema.mutations import RecordPlaybackPayload

    ctx = context(info)
    gw = ctx.gateway
    check_key(input.idempotency_key)
    if input.position_seconds < 0 or input.duration_seconds < 0:
        raise InvalidArgument("positionSeconds and durationSeconds must not be negative")
    started = (
        playback_types.datetime_to_micros(input.started_at)
        if input.started_at is not None else now_micros()
    )
    facts = {
        "profile": str(input.profile_id), "title": str(input.title_id), "started": started,
        "position": input.position_seconds, "duration": input.duration_seconds,
        "device": input.device,
    }
    event = _playback_event(facts, input.idempotency_key)
    # The counters are derived from the history event: a caller who may write this profile's
    # history may make its +1s (namespaces' `derived_from`).
    origin = (HISTORY, event.series_id)
    gw.timeseries.check_write(HISTORY, [event.series_id])
    gw.counters.check_add(PROFILE_PLAYS, event.series_id, 1, derived_from=origin)
    gw.counters.check_add(TITLE_PLAYS, str(facts["title"]), 1, derived_from=origin)
    attempt = await ctx.idempotency.begin(
        "recordPlayback", input.idempotency_key, input, facts,
        check=lambda replay: gw.timeseries.check_events(HISTORY, [event], replay=replay),
    )
    # A retry replays the first attempt exactly: same event, same counter tokens.
    facts = attempt.facts
    event = _playback_event(facts, input.idempotency_key)
    profile_count = title_count = None
    if not attempt.done:
        await gw.timeseries.write_events(HISTORY, [event], replay=attempt.retry)
        token = attempt.token  # the recorded attempt's: a retry replays it however late
        profile_count = await gw.counters.add_and_get(
            PROFILE_PLAYS, event.series_id, 1, token, replay=True, derived_from=origin
        )
        title_count = await gw.counters.add_and_get(
            TITLE_PLAYS, str(facts["title"]), 1, token, replay=True, derived_from=origin
        )
        await ctx.idempotency.finish("recordPlayback", input.idempotency_key, attempt)
    if profile_count is None or title_count is None:
        profile_count = await gw.counters.get(PROFILE_PLAYS, event.series_id, after_write=origin)
        title_count = await gw.counters.get(TITLE_PLAYS, str(facts["title"]), after_write=origin)
    return RecordPlaybackPayload(
        event=playback_types.PlaybackEvent.from_record(event),
        profile_play_count=counter_of(info, PROFILE_PLAYS, event.series_id, profile_count),
        title_play_count=counter_of(info, TITLE_PLAYS, str(facts["title"]), title_count),
    )


def _playback_event(facts: dict[str, Any], idempotency_key: str) -> Event:
    """The viewing-history event of a playback; its id comes from the key, so retries match."""
    event_id = hashlib.sha256(f"recordPlayback:{idempotency_key}".encode()).hexdigest()[:32]
    items = {
        playback_types.KEY_TITLE: str(facts["title"]).encode(),
        playback_types.KEY_POSITION: str(facts["position"]).encode(),
        playback_types.KEY_DURATION: str(facts["duration"]).encode(),
    }
    if facts["device"] is not None:
        items[playback_types.KEY_DEVICE] = str(facts["device"]).encode()
    return Event(str(facts["profile"]), int(facts["started"]), event_id, items)
