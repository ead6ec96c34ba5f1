"""Mutation inputs."""

from __future__ import annotations

from datetime import datetime

import strawberry

from .scalars import Long

IDEMPOTENCY = (
    "One key per logical write; a retry with the same key and input changes nothing. The key "
    "with another input is refused (IDEMPOTENCY_KEY_REUSED)."
)


@strawberry.input(description="A playback that started.")
class RecordPlaybackInput:
    profile_id: strawberry.ID = strawberry.field(description="Who watched.")
    title_id: strawberry.ID = strawberry.field(description="What was watched.")
    started_at: datetime | None = strawberry.field(
        default=None, description="When playback started (default: now)."
    )
    position_seconds: int = strawberry.field(description="Playback position reached, seconds.")
    duration_seconds: int = strawberry.field(description="Seconds watched.")
    device: str | None = strawberry.field(default=None, description="The device.")
    idempotency_key: str = strawberry.field(description=IDEMPOTENCY)


@strawberry.input(description="An item to put: give its value as text or as base64.")
class KVItemInput:
    key: str = strawberry.field(description="The item key (UTF-8).")
    text: str | None = strawberry.field(default=None, description="The value as text.")
    value: str | None = strawberry.field(default=None, description="The value as base64.")
    ttl_seconds: int | None = strawberry.field(
        default=None, description="Expire the item after this many seconds."
    )


@strawberry.input(description="Items to upsert into one KV record.")
class PutItemsInput:
    namespace: str = strawberry.field(description="The KV namespace.")
    id: strawberry.ID = strawberry.field(description="The record id.")
    items: list[KVItemInput] = strawberry.field(description="The items.")
    idempotency_key: str = strawberry.field(description=IDEMPOTENCY)


@strawberry.input(
    description="What to delete from a KV record: keys, a key range, or (neither) the record."
)
class DeleteItemsInput:
    namespace: str = strawberry.field(description="The KV namespace.")
    id: strawberry.ID = strawberry.field(description="The record id.")
    keys: list[str] | None = strawberry.field(default=None, description="Delete these keys.")
    start: str | None = strawberry.field(default=None, description="Range start (inclusive).")
    end: str | None = strawberry.field(default=None, description="Range end (exclusive).")
    idempotency_key: str = strawberry.field(description=IDEMPOTENCY)


@strawberry.input(description="A signed delta for a counter.")
class AddCountInput:
    namespace: str = strawberry.field(description="The counter namespace.")
    name: str = strawberry.field(description="The counter.")
    delta: Long = strawberry.field(default=1, description="The signed amount to add.")
    idempotency_key: str = strawberry.field(description=IDEMPOTENCY)


@strawberry.input(description="A counter to reset to zero.")
class ClearCountInput:
    namespace: str = strawberry.field(description="The counter namespace.")
    name: str = strawberry.field(description="The counter.")
    idempotency_key: str = strawberry.field(description=IDEMPOTENCY)
