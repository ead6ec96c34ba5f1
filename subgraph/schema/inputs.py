"""Mutation inputs."""

from __future__ import annotations

from datetime import datetime

import strawberry

from . import bounds
from .scalars import TEXT_IN, VALUE_IN, Long

IDEMPOTENCY = bounds.IDEMPOTENCY_KEY


@strawberry.input(description="A playback that started.")
class RecordPlaybackInput:
    profile_id: strawberry.ID = strawberry.field(description=bounds.PROFILE_ID)
    title_id: strawberry.ID = strawberry.field(description=bounds.TITLE_ID)
    started_at: datetime | None = strawberry.field(default=None, description=bounds.STARTED_AT)
    position_seconds: int = strawberry.field(
        description="Playback position reached, seconds: 0 or more."
    )
    duration_seconds: int = strawberry.field(description="Seconds watched: 0 or more.")
    device: str | None = strawberry.field(default=None, description=bounds.DEVICE)
    idempotency_key: str = strawberry.field(description=IDEMPOTENCY)


@strawberry.input(description="An item to put: its value as `text` or as base64 `value`.")
class KVItemInput:
    key: str = strawberry.field(description=bounds.KV_KEY)
    text: str | None = strawberry.field(default=None, description=f"{TEXT_IN} Stored as UTF-8.")
    value: str | None = strawberry.field(default=None, description=VALUE_IN)
    ttl_seconds: int | None = strawberry.field(default=None, description=bounds.TTL)


@strawberry.input(description="Items to upsert into one KV record.")
class PutItemsInput:
    namespace: str = strawberry.field(description="The KV namespace.")
    id: strawberry.ID = strawberry.field(description=bounds.KV_ID)
    items: list[KVItemInput] = strawberry.field(description=f"The items: {bounds.PUT_ITEMS}")
    idempotency_key: str = strawberry.field(description=IDEMPOTENCY)


@strawberry.input(
    description="What to delete from a KV record: keys, a key range, or (neither) the record."
)
class DeleteItemsInput:
    namespace: str = strawberry.field(description="The KV namespace.")
    id: strawberry.ID = strawberry.field(description=bounds.KV_ID)
    keys: list[str] | None = strawberry.field(default=None, description=bounds.DELETE_KEYS)
    start: str | None = strawberry.field(default=None, description="Range start (inclusive).")
    end: str | None = strawberry.field(
        default=None, description="Range end (exclusive): after `start`."
    )
    idempotency_key: str = strawberry.field(description=IDEMPOTENCY)


@strawberry.input(description="A signed delta for a counter.")
class AddCountInput:
    namespace: str = strawberry.field(description="The counter namespace.")
    name: str = strawberry.field(description=bounds.COUNTER_NAME)
    delta: Long = strawberry.field(
        default=1,
        description="The signed amount to add; refused when the count would leave the signed "
        "64-bit range.",
    )
    idempotency_key: str = strawberry.field(description=IDEMPOTENCY)


@strawberry.input(description="A counter to reset to zero.")
class ClearCountInput:
    namespace: str = strawberry.field(description="The counter namespace.")
    name: str = strawberry.field(description=bounds.COUNTER_NAME)
    idempotency_key: str = strawberry.field(description=IDEMPOTENCY)
