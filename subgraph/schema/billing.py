"""Billing (the relational namespace `billing`): invoices, payments and their connection."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import Enum
from typing import Annotated, Any

import strawberry

from .common import CURSOR, PageInfo, edge_cursor
from .scalars import Long


@strawberry.enum(description="Where an invoice stands.")
class InvoiceStatus(Enum):
    OPEN = strawberry.enum_value("open", description="Issued, not fully paid.")
    PAID = strawberry.enum_value("paid", description="Fully paid.")
    VOID = strawberry.enum_value("void", description="Cancelled: it cannot be paid.")


def _time(value: Any) -> datetime | None:
    """A timestamp from a row: a datetime (read) or its ISO text (a transaction's result)."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


@strawberry.type(description="An invoice of an account.")
class Invoice:
    id: strawberry.ID = strawberry.field(description="The invoice's id, unique in its account.")
    account_id: strawberry.ID = strawberry.field(description="The account it bills.")
    amount_cents: Long = strawberry.field(description="What it bills, in cents.")
    paid_cents: Long = strawberry.field(description="What was paid of it so far, in cents.")
    currency: str = strawberry.field(description="ISO 4217 code of its amounts.")
    status: InvoiceStatus = strawberry.field(description="Open, paid or void.")
    issued_at: datetime = strawberry.field(description="When it was issued.")
    paid_at: datetime | None = strawberry.field(description="When it was fully paid.")

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Invoice:
        return cls(
            id=strawberry.ID(row["invoice_id"]), account_id=strawberry.ID(row["account_id"]),
            amount_cents=Long(row["amount_cents"]), paid_cents=Long(row["paid_cents"]),
            currency=row["currency"], status=InvoiceStatus(row["status"]),
            issued_at=_time(row["issued_at"]),  # type: ignore[arg-type]
            paid_at=_time(row["paid_at"]),
        )


@strawberry.type(description="A payment towards an invoice.")
class Payment:
    id: strawberry.ID = strawberry.field(description="The payment's id, unique in its account.")
    account_id: strawberry.ID = strawberry.field(description="The account that paid.")
    invoice_id: strawberry.ID = strawberry.field(description="The invoice it pays.")
    amount_cents: Long = strawberry.field(description="What it paid, in cents.")
    created_at: datetime = strawberry.field(description="When it was made.")

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Payment:
        return cls(
            id=strawberry.ID(row["payment_id"]), account_id=strawberry.ID(row["account_id"]),
            invoice_id=strawberry.ID(row["invoice_id"]), amount_cents=Long(row["amount_cents"]),
            created_at=_time(row["created_at"]),  # type: ignore[arg-type]
        )


@strawberry.type(description="An invoice and its cursor.")
class InvoiceEdge:
    cursor: str = strawberry.field(resolver=edge_cursor, description=CURSOR)
    node: Invoice = strawberry.field(description="The invoice.")
    cursors: strawberry.Private[Sequence[str]]
    at: strawberry.Private[int]


@strawberry.type(description="A page of an account's invoices, newest first.")
class InvoiceConnection:
    edges: list[InvoiceEdge] = strawberry.field(description="The invoices of this page.")
    page_info: PageInfo = strawberry.field(description="Where this page ends.")


@strawberry.input(description="A payment of (part of) an invoice, once per idempotency key.")
class PayInvoiceInput:
    account_id: strawberry.ID = strawberry.field(description="The invoice's account.")
    invoice_id: strawberry.ID = strawberry.field(description="The invoice to pay.")
    amount_cents: Long = strawberry.field(
        description="What to pay, in cents: more than 0, at most what is still open."
    )
    idempotency_key: str = strawberry.field(
        description="One per logical payment: a retry with it returns the first result."
    )
    currency: Annotated[str | None, strawberry.argument()] = strawberry.field(
        default=None, description="The payment's currency; refused unless it is the invoice's."
    )


@strawberry.type(description="The payment made and the invoice after it.")
class PayInvoicePayload:
    payment: Payment = strawberry.field(description="The payment as stored.")
    invoice: Invoice = strawberry.field(description="The invoice after the payment.")
