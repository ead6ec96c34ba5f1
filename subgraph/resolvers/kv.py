"""Generic KV fields: kvRecord items, putItems, deleteItems."""

from __future__ import annotations

from typing import TYPE_CHECKING

import strawberry

from abstractions.kv import Item
from subgraph.idempotency import check_key
from subgraph.loaders import ItemsQuery
from subgraph.schema import kv as kv_types
from subgraph.schema.common import page_info

from .common import check_count, check_first, context, input_bytes

if TYPE_CHECKING:
    from subgraph.schema.inputs import DeleteItemsInput, PutItemsInput


def _key(text: str) -> bytes:
    return text.encode("utf-8")


def record(info: strawberry.Info, namespace: str, id: str) -> kv_types.KVRecord:
    """A KV record, refused now if the caller may not read it (no store call yet)."""
    context(info).gateway.kv.check_read(namespace, str(id))
    return kv_types.KVRecord(namespace=namespace, id=strawberry.ID(str(id)))


async def items(
    info: strawberry.Info,
    namespace: str,
    id: str,
    first: int,
    after: str | None,
    keys: list[str] | None,
    start: str | None,
    end: str | None,
    descending: bool,
    page_bytes: int | None,
) -> kv_types.KVItemConnection:
    query = ItemsQuery(
        namespace,
        check_first(info, first),
        after,
        tuple(_key(k) for k in keys) if keys is not None else None,
        _key(start) if start is not None else None,
        _key(end) if end is not None else None,
        descending,
        page_bytes,
    )
    page = await context(info).loaders.items.load((id, query))
    return kv_types.KVItemConnection(
        edges=[
            kv_types.KVItemEdge(node=kv_types.KVItem.from_record(i), cursors=page.cursors, at=at)
            for at, i in enumerate(page.items)
        ],
        page_info=page_info(page.next_page_token, page.cursors),
    )


async def put_items(info: strawberry.Info, input: PutItemsInput) -> kv_types.KVRecord:
    ctx = context(info)
    check_key(input.idempotency_key)
    check_count(info, len(input.items), "items")
    decoded: list[Item] = []
    for item in input.items:
        value = input_bytes(item.key, item.text, item.value)
        decoded.append(Item(_key(item.key), value, item.ttl_seconds))
    ctx.gateway.kv.check_put(input.namespace, str(input.id), decoded)
    attempt = await ctx.idempotency.begin(
        "putItems", input.idempotency_key, input,
        {"namespace": input.namespace, "id": str(input.id)},
    )
    if not attempt.done:
        await ctx.gateway.kv.put_items(input.namespace, str(input.id), decoded, attempt.token)
        await ctx.idempotency.finish("putItems", input.idempotency_key, attempt)
    return kv_types.KVRecord(namespace=input.namespace, id=input.id)


async def delete_items(info: strawberry.Info, input: DeleteItemsInput) -> kv_types.KVRecord:
    ctx = context(info)
    check_key(input.idempotency_key)
    if input.keys is not None:
        check_count(info, len(input.keys), "keys")
    keys = [_key(k) for k in input.keys] if input.keys is not None else None
    start = _key(input.start) if input.start is not None else None
    end = _key(input.end) if input.end is not None else None
    ctx.gateway.kv.check_delete(input.namespace, str(input.id), keys=keys, start=start, end=end)
    attempt = await ctx.idempotency.begin(
        "deleteItems", input.idempotency_key, input,
        {"namespace": input.namespace, "id": str(input.id)},
    )
    if not attempt.done:
        await ctx.gateway.kv.delete_items(
            input.namespace, str(input.id), attempt.token, keys=keys, start=start, end=end
        )
        await ctx.idempotency.finish("deleteItems", input.idempotency_key, attempt)
    return kv_types.KVRecord(namespace=input.namespace, id=input.id)
