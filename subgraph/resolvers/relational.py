"""The generic relational fields: `rows` and `transact`, through the caller's view."""

from __future__ import annotations

from typing import Any

import strawberry

from abstractions.relational import Condition, to_json
from subgraph.idempotency import check_key
from subgraph.schema import relational as types
from subgraph.schema.common import page_info

from .common import check_first, context


async def rows(
    info: strawberry.Info, namespace: str, table: str, where: list[types.RowCondition] | None,
    order_by: types.RowOrder | None, first: int, after: str | None,
) -> types.RowConnection:
    ctx = context(info)
    rel = ctx.gateway.relational
    assert rel is not None
    conditions = [Condition(c.column, c.op.value, c.operand) for c in where or ()]
    page = await rel.query(
        namespace, table, conditions, order_by=order_by.column if order_by else None,
        descending=bool(order_by and order_by.descending), first=check_first(info, first),
        after=after,
    )
    spec = ctx.gateway.namespaces.lookup(namespace).tables[table]  # type: ignore[union-attr]
    edges = [types.RowEdge(node=to_json(spec, row), cursors=page.cursors, at=at)
             for at, row in enumerate(page.rows)]
    return types.RowConnection(
        edges=edges, page_info=page_info("more" if page.has_next_page else None, page.cursors)
    )


async def transact(
    info: strawberry.Info, namespace: str, operations: list[types.RowOperation],
    idempotency_key: str,
) -> types.TransactPayload:
    check_key(idempotency_key)
    ctx = context(info)
    rel = ctx.gateway.relational
    assert rel is not None
    ops: list[dict[str, Any]] = []
    for op in operations:
        raw: dict[str, Any] = {"op": op.op.value, "table": op.table}
        for name in ("key", "values", "expect"):
            if getattr(op, name) is not None:
                raw[name] = getattr(op, name)
        if op.expect_version is not None:
            raw["expect_version"] = int(op.expect_version)
        ops.append(raw)
    subject = ctx.gateway.caller.subject
    key = (f"transact@{subject}:" if subject else "transact:") + idempotency_key
    result = await rel.transact(namespace, ops, key)
    return types.TransactPayload(rows=result.rows, replayed=result.replayed)
