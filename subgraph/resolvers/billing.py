"""Billing over the relational namespace `billing`: Account's invoices and balance, payInvoice.

payInvoice reads the invoice, checks the payment against it, then writes the payment and the
invoice's new paid amount in one transaction conditional on the invoice's version (optimistic
concurrency): of concurrent payments of one invoice, each applies to the invoice as the one
before it left it, or re-reads and is judged again.  The idempotency key is claimed in that
same transaction, bound to the input; a retry returns the first result (from the claim, or,
when the invoice looks paid to it, from a look-up of the key before refusing).
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from typing import Any

import strawberry

from abstractions.errors import ClientError, InvalidArgument, NotFound, Unavailable
from abstractions.relational import ConditionFailed
from subgraph.idempotency import check_key
from subgraph.loaders import BILLING, InvoicesQuery
from subgraph.schema import billing as types
from subgraph.schema.common import page_info

from .common import check_first, context

CONTENDED_SECONDS = 5.0  # how long a payment re-reads an invoice others keep changing


class InvoiceNotFound(NotFound):
    code = "INVOICE_NOT_FOUND"


class InvoiceAlreadyPaid(ClientError):
    code = "INVOICE_ALREADY_PAID"


class InvoiceVoid(ClientError):
    code = "INVOICE_VOID"


class Overpayment(ClientError):
    code = "OVERPAYMENT"


class CurrencyMismatch(ClientError):
    code = "CURRENCY_MISMATCH"


async def invoices(
    info: strawberry.Info, account_id: str, status: types.InvoiceStatus | None, first: int,
    after: str | None,
) -> types.InvoiceConnection:
    query = InvoicesQuery(status.value if status else None, check_first(info, first))
    page = await context(info).loaders.invoices.load((account_id, query, after))
    edges = [types.InvoiceEdge(node=types.Invoice.from_row(row), cursors=page.cursors, at=at)
             for at, row in enumerate(page.rows)]
    return types.InvoiceConnection(
        edges=edges, page_info=page_info("more" if page.has_next_page else None, page.cursors)
    )


async def balance_cents(info: strawberry.Info, account_id: str) -> int:
    return await context(info).loaders.balances.load(account_id)


def _payload(rows: list[dict[str, Any] | None]) -> types.PayInvoicePayload:
    payment, invoice = rows
    assert payment is not None and invoice is not None
    return types.PayInvoicePayload(payment=types.Payment.from_row(payment),
                                   invoice=types.Invoice.from_row(invoice))


def _judge(input: types.PayInvoiceInput, amount: int, invoice: dict[str, Any] | None) -> None:
    """Refuse a payment the invoice cannot take, each refusal with its own code."""
    if invoice is None:
        raise InvoiceNotFound(f"no invoice {input.invoice_id!r} in account {input.account_id!r}")
    if invoice["status"] == "void":
        raise InvoiceVoid("the invoice is void: it cannot be paid")
    if invoice["status"] == "paid":
        raise InvoiceAlreadyPaid("the invoice is paid already")
    if input.currency is not None and input.currency != invoice["currency"]:
        raise CurrencyMismatch(f"the invoice is in {invoice['currency']}, the payment in "
                               f"{input.currency}")
    open_cents = invoice["amount_cents"] - invoice["paid_cents"]
    if amount > open_cents:
        raise Overpayment(f"the invoice has {open_cents} cents open, less than {amount}")


async def pay_invoice(
    info: strawberry.Info, input: types.PayInvoiceInput
) -> types.PayInvoicePayload:
    check_key(input.idempotency_key)
    ctx = context(info)
    rel = ctx.gateway.relational
    assert rel is not None
    rel.check_write(BILLING)
    amount = int(input.amount_cents)
    if amount <= 0:
        raise InvalidArgument("amountCents must be more than 0")
    subject = ctx.gateway.caller.subject
    key = (f"payInvoice@{subject}:" if subject else "payInvoice:") + input.idempotency_key
    request = {"account": str(input.account_id), "invoice": str(input.invoice_id),
               "amount": amount, "currency": input.currency}
    payment_id = "pay_" + hashlib.sha256(key.encode()).hexdigest()[:24]
    give_up = time.monotonic() + CONTENDED_SECONDS
    # No look-up of the key first: the transaction claims it (and a retry of a payment made
    # gets that payment's result from there), and a refusal looks for it before answering.
    while True:
        invoice_key = {"account_id": str(input.account_id), "invoice_id": str(input.invoice_id)}
        invoice = (await rel.get_rows(BILLING, "invoices", [invoice_key], for_write=True))[0]
        try:
            _judge(input, amount, invoice)
        except ClientError:
            # A request with this key may have paid it since the look-up above: its result.
            done = await rel.recorded(BILLING, key, request=request)
            if done is not None:
                return _payload(done.rows)
            raise
        assert invoice is not None
        now = datetime.now(UTC)
        paid = invoice["paid_cents"] + amount
        full = paid == invoice["amount_cents"]
        operations = [
            {"op": "insert", "table": "payments", "values": {
                "account_id": invoice_key["account_id"], "payment_id": payment_id,
                "invoice_id": invoice_key["invoice_id"], "amount_cents": amount,
                "created_at": now}},
            {"op": "update", "table": "invoices", "key": invoice_key,
             "values": {"paid_cents": paid, "status": "paid" if full else "open",
                        "paid_at": now if full else None},
             "expect_version": invoice["_version"]},
        ]
        try:
            result = await rel.transact(BILLING, operations, key, request=request)
        except ConditionFailed:
            if time.monotonic() > give_up:
                raise Unavailable("the invoice kept changing; retry later") from None
            continue  # someone else paid in between: judge this payment again
        return _payload(result.rows)
