"""The Mutation root: every write takes an idempotency key."""

from __future__ import annotations

from typing import Annotated

import strawberry

from subgraph.resolvers import billing, counters, kv, playback, relational, timeseries

from . import bounds
from .access import Directives
from .billing import PayInvoiceInput, PayInvoicePayload
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
from .relational import RowOperation, TransactPayload
from .timeseries import WriteEventsInput, WriteEventsPayload

INPUT = strawberry.argument(description="What to write, with its idempotency key.")


# The play counts are read as their modes read, not exactly: an exact read of an EVENTUAL
# counter folds every add since its last rollup, which for a title being watched by many at once
# is the cost its namespace chose EVENTUAL to avoid.  So the description says what it reads.
@strawberry.type(
    description="The recorded playback and both play counts, each read right after the write "
    "as its counter's `mode` reads: an ACCURATE count includes this play, an EVENTUAL one not "
    "yet."
)
class RecordPlaybackPayload:
    event: PlaybackEvent = strawberry.field(description="The event as stored.")
    profile_play_count: Counter = strawberry.field(description=bounds.PROFILE_PLAY_COUNT)
    title_play_count: Counter = strawberry.field(description=bounds.TITLE_PLAY_COUNT)


def mutation_type(access: Directives) -> type:
    """The Mutation root, its fields carrying `access(field)`'s directives."""

    @strawberry.type(
        description="Writes. Each takes an `idempotencyKey` and checks all of its input before "
        "it writes anything. Request limits as on Query."
    )
    class Mutation:
        @strawberry.mutation(
            description=(
                "Record a playback: the event into viewing history, +1 on both play counters "
                "(what they read after it: RecordPlaybackPayload)."
            ),
            directives=access("record_playback"),
        )
        async def record_playback(
            self, info: strawberry.Info, input: Annotated[RecordPlaybackInput, INPUT]
        ) -> RecordPlaybackPayload | None:
            return await playback.record_playback(info, input)

        @strawberry.mutation(
            description=f"Upsert items of a KV record: {bounds.PUT_ITEMS}",
            directives=access("put_items"),
        )
        async def put_items(
            self, info: strawberry.Info, input: Annotated[PutItemsInput, INPUT]
        ) -> KVRecord | None:
            return await kv.put_items(info, input)

        @strawberry.mutation(
            description=f"Delete keys, a key range, or a whole KV record: {bounds.DELETE_ITEMS}",
            directives=access("delete_items"),
        )
        async def delete_items(
            self, info: strawberry.Info, input: Annotated[DeleteItemsInput, INPUT]
        ) -> KVRecord | None:
            return await kv.delete_items(info, input)

        @strawberry.mutation(
            description=f"Write events to a time-series namespace: {bounds.WRITE_EVENTS}",
            directives=access("write_events"),
        )
        async def write_events(
            self, info: strawberry.Info, input: Annotated[WriteEventsInput, INPUT]
        ) -> WriteEventsPayload | None:
            return await timeseries.write_events(info, input)

        @strawberry.mutation(
            description="Add a signed delta to a counter; returns it as its `mode` reads right "
            "after the add (an EVENTUAL count does not include the add yet: CounterMode).",
            directives=access("add_count"),
        )
        async def add_count(
            self, info: strawberry.Info, input: Annotated[AddCountInput, INPUT]
        ) -> Counter | None:
            return await counters.add_count(info, input)

        @strawberry.mutation(
            description="Reset a counter to zero; returns it as its `mode` reads right after "
            "(an EVENTUAL count shows the reset only once rolled up: CounterMode).",
            directives=access("clear_count"),
        )
        async def clear_count(
            self, info: strawberry.Info, input: Annotated[ClearCountInput, INPUT]
        ) -> Counter | None:
            return await counters.clear_count(info, input)

        @strawberry.mutation(
            description="Pay (part of) an invoice (namespace `billing`): the payment and the "
            "invoice's paid amount in one transaction, once per idempotency key. Refused: "
            "INVOICE_NOT_FOUND, INVOICE_ALREADY_PAID, INVOICE_VOID, OVERPAYMENT, "
            "CURRENCY_MISMATCH.",
            directives=access("pay_invoice"),
        )
        async def pay_invoice(
            self, info: strawberry.Info, input: Annotated[PayInvoiceInput, INPUT]
        ) -> PayInvoicePayload | None:
            return await billing.pay_invoice(info, input)

        @strawberry.mutation(
            description="Apply inserts, updates and deletes to a relational namespace's "
            "tables atomically, once per idempotency key (a retry returns the first result). "
            "Refused operations: ROW_EXISTS, ROW_NOT_FOUND, CONDITION_FAILED, "
            "CONSTRAINT_VIOLATION, naming the operation; nothing is written then.",
            directives=access("transact"),
        )
        async def transact(
            self,
            info: strawberry.Info,
            namespace: Annotated[str, strawberry.argument(description="The namespace.")],
            operations: Annotated[
                list[RowOperation], strawberry.argument(description="The writes, in order.")
            ],
            idempotency_key: Annotated[
                str, strawberry.argument(description="One per logical transaction.")
            ],
        ) -> TransactPayload | None:
            return await relational.transact(info, namespace, operations, idempotency_key)

    return Mutation
