"""The Mutation root: every write takes an idempotency key."""

from __future__ import annotations

from typing import Annotated

import strawberry

from subgraph.resolvers import counters, kv, playback, timeseries

from .access import Directives
from .counter import Counter
from .inputs import (
    AddCountInput,
    ClearCountInput,
    DeleteItemsInput,
    PutItemsInput,
    RecordPlaybackInput,
)
from .kv import KVRecord
from .playback import PlaybackEvent
from .timeseries import WriteEventsInput, WriteEventsPayload

INPUT = strawberry.argument(description="What to write, with its idempotency key.")


@strawberry.type(description="The recorded playback and both play counters after it.")
class RecordPlaybackPayload:
    event: PlaybackEvent = strawberry.field(description="The event as stored.")
    profile_play_count: Counter = strawberry.field(description="The profile's play count.")
    title_play_count: Counter = strawberry.field(description="The title's play count.")


def mutation_type(access: Directives) -> type:
    """The Mutation root, its fields carrying `access(field)`'s directives."""

    @strawberry.type(description="Writes.")
    class Mutation:
        @strawberry.mutation(
            description=(
                "Record a playback: the event into viewing history, +1 on both play counters."
            ),
            directives=access("record_playback"),
        )
        async def record_playback(
            self, info: strawberry.Info, input: Annotated[RecordPlaybackInput, INPUT]
        ) -> RecordPlaybackPayload | None:
            return await playback.record_playback(info, input)

        @strawberry.mutation(
            description="Upsert items of a KV record.",
            directives=access("put_items"),
        )
        async def put_items(
            self, info: strawberry.Info, input: Annotated[PutItemsInput, INPUT]
        ) -> KVRecord | None:
            return await kv.put_items(info, input)

        @strawberry.mutation(
            description="Delete keys, a key range, or a whole KV record.",
            directives=access("delete_items"),
        )
        async def delete_items(
            self, info: strawberry.Info, input: Annotated[DeleteItemsInput, INPUT]
        ) -> KVRecord | None:
            return await kv.delete_items(info, input)

        @strawberry.mutation(
            description="Write events to a time-series namespace.",
            directives=access("write_events"),
        )
        async def write_events(
            self, info: strawberry.Info, input: Annotated[WriteEventsInput, INPUT]
        ) -> WriteEventsPayload | None:
            return await timeseries.write_events(info, input)

        @strawberry.mutation(
            description="Add a signed delta to a counter; returns it after the add.",
            directives=access("add_count"),
        )
        async def add_count(
            self, info: strawberry.Info, input: Annotated[AddCountInput, INPUT]
        ) -> Counter | None:
            return await counters.add_count(info, input)

        @strawberry.mutation(
            description="Reset a counter to zero.",
            directives=access("clear_count"),
        )
        async def clear_count(
            self, info: strawberry.Info, input: Annotated[ClearCountInput, INPUT]
        ) -> Counter | None:
            return await counters.clear_count(info, input)

    return Mutation
