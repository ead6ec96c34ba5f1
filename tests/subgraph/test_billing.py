"""Billing through GraphQL: Account's invoices and balance, payInvoice, and the generic
relational fields, over SQLite and (when SUBGRAPH_TEST_POSTGRES is set) PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from abstractions.access import Caller
from abstractions.gateway import DataGateway
from abstractions.namespaces import load_namespaces
from abstractions.relational import Condition
from abstractions.tokens import PageTokens
from backends.sqlite import SQLiteStore
from tests.conftest import RELATIONAL_BACKENDS, make_relational
from tests.subgraph.conftest import SECRET, SchemaRunner, subgraph_namespaces

BILLING = load_namespaces().lookup("billing")
BASE = datetime(2026, 5, 1, tzinfo=UTC)

INVOICES = """
query($reps: [_Any!]!, $status: InvoiceStatus, $first: Int!, $after: String) {
  _entities(representations: $reps) {
    ... on Account {
      id
      invoices(status: $status, first: $first, after: $after) {
        edges { cursor node { id accountId amountCents paidCents currency status issuedAt paidAt } }
        pageInfo { hasNextPage endCursor }
      }
      balanceCents
    }
  }
}
"""
PAY = """
mutation($input: PayInvoiceInput!) {
  payInvoice(input: $input) {
    payment { id accountId invoiceId amountCents createdAt }
    invoice { id amountCents paidCents status paidAt }
  }
}
"""


@pytest.fixture(params=RELATIONAL_BACKENDS)
def data_gateway(request: pytest.FixtureRequest, db_path: Path) -> DataGateway:
    store = SQLiteStore(db_path)
    return DataGateway(store, subgraph_namespaces(BILLING), page_tokens=PageTokens(SECRET),  # type: ignore[arg-type]
                       relational=make_relational(request.param, store))


@pytest.fixture
def accounts() -> list[str]:
    prefix = uuid.uuid4().hex[:8]
    return [f"acct-{prefix}-{i:03d}" for i in range(30)]


def invoice(account: str, number: int, cents: int, status: str = "open", currency: str = "EUR",
            paid: int = 0) -> dict[str, Any]:
    return {"op": "insert", "table": "invoices", "values": {
        "account_id": account, "invoice_id": f"inv-{number}", "amount_cents": cents,
        "paid_cents": paid, "currency": currency, "status": status,
        "issued_at": BASE + timedelta(days=number), "paid_at": None}}


async def seed(gateway: DataGateway, accounts: list[str]) -> None:
    for n, account in enumerate(accounts):
        await gateway.relational.transact("billing", [
            invoice(account, i, 1000 + i, "paid" if i == 1 else "void" if i == 2 else "open",
                    paid=1000 + i if i == 1 else 0)
            for i in range(n % 5 + 1)
        ])


async def payments_of(execute: SchemaRunner, account: str, first: int) -> Any:
    return await execute.gateway.relational.query(
        "billing", "payments", [Condition("account_id", "eq", account)], first=first)


def reps(accounts: list[str]) -> list[dict[str, str]]:
    return [{"__typename": "Account", "id": a} for a in accounts]


def counting(gateway: DataGateway, monkeypatch: pytest.MonkeyPatch, *names: str) -> dict:
    counts = dict.fromkeys(names, 0)
    store = gateway.relational.store
    for name in names:
        inner = getattr(store, name)

        def wrap(inner: Any = inner, name: str = name) -> Any:
            async def counted(*args: Any, **kwargs: Any) -> Any:
                counts[name] += 1
                return await inner(*args, **kwargs)
            return counted

        monkeypatch.setattr(store, name, wrap())
    return counts


async def test_account_invoices_and_balances_cost_one_store_call_per_field_shape(
    execute: SchemaRunner, accounts: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed(execute.gateway, accounts)
    counts = counting(execute.gateway, monkeypatch, "rel_query_many", "rel_sums", "rel_get")
    result = await execute.execute(INVOICES, {"reps": reps(accounts), "first": 2})
    assert result.errors is None, result.errors
    assert counts == {"rel_query_many": 1, "rel_sums": 1, "rel_get": 0}
    entities = result.data["_entities"]
    for n, entity in enumerate(entities):
        count = n % 5 + 1
        ids = [e["node"]["id"] for e in entity["invoices"]["edges"]]
        assert ids == [f"inv-{i}" for i in reversed(range(count))][:2]
        assert entity["invoices"]["pageInfo"]["hasNextPage"] == (count > 2)
        open_total = sum(1000 + i for i in range(count) if i not in (1, 2))
        assert entity["balanceCents"] == str(open_total)
    # second pages, with each account's own cursor, in one more store call
    after = entities[4]["invoices"]["pageInfo"]["endCursor"]
    page = await execute.execute(INVOICES, {"reps": reps([accounts[4]]), "first": 2,
                                            "after": after})
    assert [e["node"]["id"] for e in page.data["_entities"][0]["invoices"]["edges"]] == [
        "inv-2", "inv-1"]
    opened = await execute.execute(INVOICES, {"reps": reps([accounts[4]]), "first": 10,
                                              "status": "OPEN"})
    edges = opened.data["_entities"][0]["invoices"]["edges"]
    assert [e["node"]["id"] for e in edges] == ["inv-4", "inv-3", "inv-0"]
    assert edges[0]["node"]["issuedAt"] == "2026-05-05T00:00:00+00:00"
    assert edges[0]["node"]["status"] == "OPEN" and edges[0]["node"]["paidAt"] is None
    # an edge's cursor resumes right after it
    middle = await execute.execute(INVOICES, {"reps": reps([accounts[4]]), "first": 10,
                                              "status": "OPEN", "after": edges[0]["cursor"]})
    assert [e["node"]["id"] for e in middle.data["_entities"][0]["invoices"]["edges"]] == [
        "inv-3", "inv-0"]


async def test_pay_invoice_in_parts_then_in_full(
    execute: SchemaRunner, accounts: list[str]
) -> None:
    account = accounts[0]
    await execute.gateway.relational.transact("billing", [invoice(account, 7, 1000)])
    key = {"accountId": account, "invoiceId": "inv-7"}
    first = await execute.execute(PAY, {"input": {
        **key, "amountCents": "400", "idempotencyKey": f"{account}-p1", "currency": "EUR"}})
    assert first.errors is None, first.errors
    paid = first.data["payInvoice"]
    assert paid["payment"]["amountCents"] == "400" and paid["payment"]["invoiceId"] == "inv-7"
    assert paid["invoice"] == {"id": "inv-7", "amountCents": "1000", "paidCents": "400",
                               "status": "OPEN", "paidAt": None}
    second = await execute.execute(PAY, {"input": {**key, "amountCents": 600,
                                                   "idempotencyKey": f"{account}-p2"}})
    assert second.errors is None, second.errors
    invoice_after = second.data["payInvoice"]["invoice"]
    assert invoice_after["status"] == "PAID" and invoice_after["paidCents"] == "1000"
    assert invoice_after["paidAt"] is not None
    balance = await execute.execute(INVOICES, {"reps": reps([account]), "first": 1})
    assert balance.data["_entities"][0]["balanceCents"] == "0"
    payments = await payments_of(execute, account, 10)
    assert sorted(r["amount_cents"] for r in payments.rows
                  if r["account_id"] == account) == [400, 600]


@pytest.mark.parametrize(
    ("setup", "payment", "code"),
    [
        ({}, {"invoiceId": "inv-missing"}, "INVOICE_NOT_FOUND"),
        ({"status": "paid", "paid": 500}, {}, "INVOICE_ALREADY_PAID"),
        ({"status": "void"}, {}, "INVOICE_VOID"),
        ({}, {"amountCents": 501}, "OVERPAYMENT"),
        ({"paid": 100}, {"amountCents": 401}, "OVERPAYMENT"),
        ({}, {"currency": "USD"}, "CURRENCY_MISMATCH"),
        ({}, {"amountCents": 0}, "BAD_USER_INPUT"),
        ({}, {"amountCents": -5}, "BAD_USER_INPUT"),
        ({}, {"idempotencyKey": ""}, "BAD_USER_INPUT"),
    ],
)
async def test_a_refused_payment_has_its_code_and_writes_nothing(
    execute: SchemaRunner, accounts: list[str], setup: dict[str, Any],
    payment: dict[str, Any], code: str,
) -> None:
    account = accounts[0]
    await execute.gateway.relational.transact("billing", [invoice(account, 1, 500, **setup)])
    body = {"accountId": account, "invoiceId": "inv-1", "amountCents": 100,
            "idempotencyKey": f"{account}-k", **payment}
    result = await execute.execute(PAY, {"input": body})
    assert result.data == {"payInvoice": None}
    assert [e.extensions["code"] for e in result.errors] == [code]
    rows = await payments_of(execute, account, 100)
    assert [r for r in rows.rows if r["account_id"] == account] == []
    row = (await execute.gateway.relational.get_rows(
        "billing", "invoices", [{"account_id": account, "invoice_id": "inv-1"}]))[0]
    assert row is not None and row["_version"] == 1


async def test_of_twenty_concurrent_payments_of_one_invoice_exactly_one_succeeds(
    execute: SchemaRunner, accounts: list[str]
) -> None:
    account = accounts[0]
    await execute.gateway.relational.transact("billing", [invoice(account, 1, 2500)])
    results = await asyncio.gather(*(
        execute.execute(PAY, {"input": {"accountId": account, "invoiceId": "inv-1",
                                        "amountCents": 2500,
                                        "idempotencyKey": f"{account}-k{i}"}})
        for i in range(20)
    ))
    won = [r for r in results if r.errors is None]
    assert len(won) == 1
    assert {r.errors[0].extensions["code"] for r in results if r.errors} == {
        "INVOICE_ALREADY_PAID"}
    payments = await payments_of(execute, account, 100)
    assert len([r for r in payments.rows if r["account_id"] == account]) == 1


async def test_a_retried_payment_returns_the_first_result(
    execute: SchemaRunner, accounts: list[str]
) -> None:
    account = accounts[0]
    await execute.gateway.relational.transact("billing", [invoice(account, 1, 900)])
    body = {"accountId": account, "invoiceId": "inv-1", "amountCents": 900,
            "idempotencyKey": f"{account}-once"}
    first, *retries = await asyncio.gather(*(
        execute.execute(PAY, {"input": body}) for _ in range(5)))
    assert first.errors is None
    for retry in retries:
        assert retry.errors is None and retry.data == first.data
    later = await execute.execute(PAY, {"input": body})
    assert later.data == first.data
    reused = await execute.execute(PAY, {"input": {**body, "amountCents": 899}})
    assert [e.extensions["code"] for e in reused.errors] == ["IDEMPOTENCY_KEY_REUSED"]


async def test_billing_follows_the_namespace_access_policy(
    execute: SchemaRunner, accounts: list[str]
) -> None:
    account = accounts[0]
    await execute.gateway.relational.transact("billing", [invoice(account, 1, 900)])
    reader = Caller(subject="r", scopes=frozenset({"billing:read"}), authenticated=True)
    stranger = Caller(subject="s", scopes=frozenset({"kv:read"}), authenticated=True)
    seen = await execute.execute(INVOICES, {"reps": reps([account]), "first": 5}, reader)
    assert seen.errors is None and seen.data["_entities"][0]["balanceCents"] == "900"
    refused = await execute.execute(INVOICES, {"reps": reps([account]), "first": 5}, stranger)
    assert refused.data["_entities"][0]["balanceCents"] is None
    assert refused.data["_entities"][0]["invoices"] is None
    assert {e.extensions["code"] for e in refused.errors} == {"FORBIDDEN"}
    pay = {"accountId": account, "invoiceId": "inv-1", "amountCents": 1,
           "idempotencyKey": f"{account}-x"}
    denied = await execute.execute(PAY, {"input": pay}, reader)
    assert [e.extensions["code"] for e in denied.errors] == ["FORBIDDEN"]
    writer = Caller(subject="w", scopes=frozenset({"billing:write"}), authenticated=True)
    allowed = await execute.execute(PAY, {"input": pay}, writer)
    assert allowed.errors is None


ROWS = """
query($ns: String!, $table: String!, $where: [RowCondition!], $order: RowOrder, $first: Int!,
      $after: String) {
  rows(namespace: $ns, table: $table, where: $where, orderBy: $order, first: $first,
       after: $after) {
    edges { cursor node }
    pageInfo { hasNextPage endCursor }
  }
}
"""
TRANSACT = """
mutation($ns: String!, $ops: [RowOperation!]!, $key: String!) {
  transact(namespace: $ns, operations: $ops, idempotencyKey: $key) { rows replayed }
}
"""


async def test_generic_rows_and_transact(execute: SchemaRunner, accounts: list[str]) -> None:
    account = accounts[0]
    ops = [{"op": "INSERT", "table": "invoices", "values": {
        "account_id": account, "invoice_id": f"g{i}", "amount_cents": 100 + i, "paid_cents": 0,
        "currency": "EUR", "status": "open", "issued_at": f"2026-06-0{i + 1}T12:00:00+02:00"}}
        for i in range(3)]
    t1 = {"ns": "billing", "ops": ops, "key": f"{account}-t1"}
    done = await execute.execute(TRANSACT, t1)
    assert done.errors is None, done.errors
    assert done.data["transact"]["replayed"] is False
    assert done.data["transact"]["rows"][0]["issued_at"] == "2026-06-01T10:00:00+00:00"
    again = await execute.execute(TRANSACT, t1)
    assert again.data["transact"] == {**done.data["transact"], "replayed": True}
    where = [{"column": "account_id", "op": "EQ", "operand": account},
             {"column": "issued_at", "op": "GE", "operand": "2026-06-02T00:00:00Z"}]
    page = await execute.execute(ROWS, {"ns": "billing", "table": "invoices", "where": where,
                                        "order": {"column": "issued_at", "descending": True},
                                        "first": 1})
    assert page.errors is None, page.errors
    assert [e["node"]["invoice_id"] for e in page.data["rows"]["edges"]] == ["g2"]
    after = page.data["rows"]["pageInfo"]["endCursor"]
    rest = await execute.execute(ROWS, {"ns": "billing", "table": "invoices", "where": where,
                                        "order": {"column": "issued_at", "descending": True},
                                        "first": 5, "after": after})
    assert [e["node"]["invoice_id"] for e in rest.data["rows"]["edges"]] == ["g1"]
    conflict = await execute.execute(TRANSACT, {"ns": "billing", "ops": ops[:1],
                                                "key": f"{account}-t2"})
    assert [e.extensions["code"] for e in conflict.errors] == ["ROW_EXISTS"]
    stale = await execute.execute(TRANSACT, {"ns": "billing", "key": f"{account}-t3", "ops": [
        {"op": "UPDATE", "table": "invoices", "key": {"account_id": account, "invoice_id": "g0"},
         "values": {"status": "void"}, "expectVersion": 7}]})
    assert [e.extensions["code"] for e in stale.errors] == ["CONDITION_FAILED"]
    bad = await execute.execute(ROWS, {"ns": "billing", "table": "invoices", "first": 5,
                                       "where": [{"column": "status", "op": "EQ",
                                                  "operand": "open"}]})
    assert [e.extensions["code"] for e in bad.errors] == ["BAD_USER_INPUT"]
    unknown = await execute.execute(ROWS, {"ns": "kv_small", "table": "t", "first": 5})
    assert [e.extensions["code"] for e in unknown.errors] == ["BAD_USER_INPUT"]
    stranger = Caller(subject="s", scopes=frozenset({"kv:read"}), authenticated=True)
    denied = await execute.execute(ROWS, {"ns": "billing", "table": "invoices", "first": 5},
                                   stranger)
    assert [e.extensions["code"] for e in denied.errors] == ["FORBIDDEN"]
    denied = await execute.execute(TRANSACT, {"ns": "billing", "ops": ops,
                                              "key": f"{account}-t9"},
                                   stranger)
    assert [e.extensions["code"] for e in denied.errors] == ["FORBIDDEN"]
