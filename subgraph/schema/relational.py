"""Generic relational fields: `rows` (a query through an index) and `transact`."""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum

import strawberry
from strawberry.scalars import JSON

from .common import CURSOR, PageInfo, edge_cursor
from .scalars import Long


@strawberry.enum(description="How a row's column compares with a value.")
class ConditionOp(Enum):
    EQ = strawberry.enum_value("eq", description="Equal.")
    LT = strawberry.enum_value("lt", description="Less than.")
    LE = strawberry.enum_value("le", description="Less than or equal.")
    GT = strawberry.enum_value("gt", description="Greater than.")
    GE = strawberry.enum_value("ge", description="Greater than or equal.")


@strawberry.input(
    description="A condition on a column. Equalities must pin an index's leading columns; "
    "ranges may bound the next one."
)
class RowCondition:
    column: str = strawberry.field(description="The column.")
    op: ConditionOp = strawberry.field(description="The comparison.")
    operand: JSON = strawberry.field(
        description="What the column is compared with, as the column's type takes it: text, "
        "integer, decimal string, boolean, ISO-8601 timestamp with a zone."
    )


@strawberry.input(description="The order of a query: an index column after its equalities.")
class RowOrder:
    column: str | None = strawberry.field(
        default=None, description="The column to sort by (default: the index's next one)."
    )
    descending: bool = strawberry.field(default=False, description="Largest first.")


@strawberry.enum(description="What an operation of a transaction does.")
class RowOperationKind(Enum):
    INSERT = strawberry.enum_value("insert", description="Add a row; its key must be free.")
    UPDATE = strawberry.enum_value("update", description="Set columns of the row with `key`.")
    DELETE = strawberry.enum_value("delete", description="Remove the row with `key`.")


@strawberry.input(description="One write of a transaction.")
class RowOperation:
    op: RowOperationKind = strawberry.field(description="Insert, update or delete.")
    table: str = strawberry.field(description="The table.")
    key: JSON | None = strawberry.field(
        default=None, description="The primary key's columns (update, delete)."
    )
    values: JSON | None = strawberry.field(
        default=None, description="The row (insert) or the columns to set (update)."
    )
    expect: JSON | None = strawberry.field(
        default=None, description="Columns the row must hold for the write to apply."
    )
    expect_version: Long | None = strawberry.field(
        default=None, description="The version (`_version`) the row must have."
    )


@strawberry.type(description="A row and its cursor.")
class RowEdge:
    cursor: str = strawberry.field(resolver=edge_cursor, description=CURSOR)
    node: JSON = strawberry.field(
        description="The row: columns by name (decimals and timestamps as strings) and its "
        "`_version`."
    )
    cursors: strawberry.Private[Sequence[str]]
    at: strawberry.Private[int]


@strawberry.type(description="A page of rows in the index's order.")
class RowConnection:
    edges: list[RowEdge] = strawberry.field(description="The rows of this page.")
    page_info: PageInfo = strawberry.field(description="Where this page ends.")


@strawberry.type(description="What a transaction wrote.")
class TransactPayload:
    rows: list[JSON | None] = strawberry.field(
        description="Per operation, the row after it (null for a delete)."
    )
    replayed: bool = strawberry.field(
        description="True when this is the first result of an earlier request with this key."
    )
