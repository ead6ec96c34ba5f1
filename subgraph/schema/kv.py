"""Key-Value records and items, with bytes as base64 (`value`) and as plain text (`text`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import strawberry

from abstractions.kv import Item
from subgraph.resolvers import kv as kv_resolvers

from . import bounds
from .common import CURSOR, PageInfo, edge_cursor
from .demand import PAGE
from .scalars import TEXT, VALUE, as_text, b64encode


@strawberry.type(description="One item of a KV record: a key and its value.")
class KVItem:
    key: str = strawberry.field(description="The item key (UTF-8).")
    value: str = strawberry.field(description=VALUE)
    text: str | None = strawberry.field(description=TEXT)
    ttl_seconds: int | None = strawberry.field(description="Seconds until the item expires.")

    @classmethod
    def from_record(cls, item: Item) -> KVItem:
        return cls(
            key=item.key.decode("utf-8", errors="replace"),
            value=b64encode(item.value),
            text=as_text(item.value),
            ttl_seconds=item.ttl_seconds,
        )


@strawberry.type(description="A KV item and its cursor.")
class KVItemEdge:
    cursor: str = strawberry.field(resolver=edge_cursor, description=CURSOR)
    node: KVItem = strawberry.field(description="The item.")
    cursors: strawberry.Private[Sequence[str]]
    at: strawberry.Private[int]


@strawberry.type(description="A page of items in key order.")
class KVItemConnection:
    edges: list[KVItemEdge] = strawberry.field(description="The items of this page.")
    page_info: PageInfo = strawberry.field(description="Where this page ends.")


@strawberry.type(description="A KV record: a sorted map of items under one id.")
class KVRecord:
    namespace: str = strawberry.field(description="The KV namespace.")
    id: strawberry.ID = strawberry.field(description="The record id.")

    @strawberry.field(
        description="Items of the record: all, by keys, or by key range; a page ends at `first` "
        "items or at about `pageBytes` bytes.",
        directives=[PAGE],
    )
    async def items(
        self,
        info: strawberry.Info,
        first: Annotated[int, strawberry.argument(description=bounds.KV_FIRST)] = 20,
        after: Annotated[str | None, strawberry.argument(description=bounds.AFTER)] = None,
        keys: Annotated[
            list[str] | None, strawberry.argument(description=bounds.KV_KEYS)
        ] = None,
        start: Annotated[
            str | None, strawberry.argument(description="Range start (inclusive).")
        ] = None,
        end: Annotated[
            str | None, strawberry.argument(description="Range end (exclusive): after `start`.")
        ] = None,
        descending: Annotated[
            bool, strawberry.argument(description="Reverse key order.")
        ] = False,
        page_bytes: Annotated[
            int | None, strawberry.argument(description=bounds.PAGE_BYTES)
        ] = None,
    ) -> KVItemConnection:
        return await kv_resolvers.items(
            info, self.namespace, str(self.id), first, after, keys, start, end, descending,
            page_bytes,
        )
