"""Relational billing: `Account.invoices` for 100 accounts, and `payInvoice` throughput, on
SQLite and PostgreSQL, beside the driver issuing the same SQL directly.

- **invoices**: `_entities` of 100 Account representations selecting `invoices(first: 10)`,
  through the real schema (end to end, in process), and the store call alone
  (`Relational.query_many`, what the request's one batch costs).  The raw figure replays the
  statements that very batch sent, recorded from the driver (asyncpg's `fetch`; SQLite's trace
  callback), with the driver alone: asyncpg on one pooled connection, `sqlite3` in this thread.
- **payInvoice**: `CONCURRENCY` clients each paying 1 cent of their own invoices with fresh
  idempotency keys, through the schema; the raw figure runs the same statements per payment
  with the driver directly (read the invoice, then one transaction: insert the payment,
  update the invoice conditional on its version, claim the key with the result; SQLite looks
  the key up first inside its transaction, as its backend does).

PostgreSQL is the one `SUBGRAPH_BENCH_POSTGRES` (or `SUBGRAPH_TEST_POSTGRES`) names, else the
one `scripts/services start postgres` runs (and this benchmark stops it again if it started
it).  Target (issue 16): at most 1.25x the raw driver.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

from abstractions.access import Caller
from abstractions.gateway import DataGateway
from abstractions.namespaces import load_namespaces
from abstractions.relational import Condition
from abstractions.tokens import PageTokens
from backends.sqlite import SQLiteStore
from subgraph.context import Context
from subgraph.limits import Limits
from subgraph.schema import build_schema

from . import Options
from .rawreads import SQLiteRecorder, SQLiteReplay
from .report import Table, Target, fmt
from .timing import median, ratio, summary, timed

NAME = "relational_billing"
ACCOUNTS = 100
INVOICES_EACH = 10
CONCURRENCY = 8
TARGET = 1.25
REPO = Path(__file__).resolve().parents[1]
QUERY = """
query($reps: [_Any!]!) {
  _entities(representations: $reps) {
    ... on Account { id invoices(first: 10) { edges { node { id amountCents status issuedAt } }
                                              pageInfo { hasNextPage endCursor } } }
  }
}
"""
PAY = """
mutation($input: PayInvoiceInput!) {
  payInvoice(input: $input) { payment { id } invoice { paidCents status } }
}
"""


def run(options: Options) -> dict[str, Any]:
    return asyncio.run(_run(options))


@contextmanager
def _postgres() -> Any:
    url = os.environ.get("SUBGRAPH_BENCH_POSTGRES") or os.environ.get("SUBGRAPH_TEST_POSTGRES")
    if url:
        yield url
        return
    services = str(REPO / "scripts" / "services")
    running = "running" in subprocess.run([services, "status"], capture_output=True,
                                          text=True, check=False).stdout.split("postgres:")[-1]
    started = subprocess.run([services, "start", "postgres"], capture_output=True, text=True,
                             check=False)
    if started.returncode != 0:
        yield None
        return
    try:
        yield started.stdout.strip()
    finally:
        if not running:
            subprocess.run([services, "stop", "postgres"], capture_output=True, check=False)


async def _run(options: Options) -> dict[str, Any]:
    figures: dict[str, Any] = {"backends": {}}
    with tempfile.TemporaryDirectory(prefix="bench-relational-") as tmp, _postgres() as pg:
        figures["backends"]["sqlite"] = await _backend("sqlite", Path(tmp), None, options)
        if pg:
            figures["backends"]["postgres"] = await _backend("postgres", Path(tmp), pg, options)
        else:
            figures["postgres_skipped"] = "PostgreSQL could not be started"
    return figures


def _gateway(kind: str, tmp: Path, url: str | None) -> DataGateway:
    from backends.postgres import PostgresRelational

    store = SQLiteStore(tmp / f"{kind}.db")
    return DataGateway(store, load_namespaces(), page_tokens=PageTokens(b"bench"),
                       relational=PostgresRelational(url) if url else None)


async def _backend(kind: str, tmp: Path, url: str | None, options: Options) -> dict[str, Any]:
    prefix = f"b{int(time.time() * 1000) % 10**9}"
    recorder = SQLiteRecorder()
    # Patched throughout: the store opens its reader connections on first use.
    with recorder.patched():
        gateway = _gateway(kind, tmp, url)
        await gateway.start(background=False)
        try:
            accounts = [f"{prefix}-{i:03d}" for i in range(ACCOUNTS)]
            await _seed(gateway, accounts)
            out = {"invoices": await _invoices(gateway, accounts, kind, url, tmp, recorder,
                                               options)}
            out["pay_invoice"] = await _payments(gateway, accounts, kind, url, tmp, options)
            return out
        finally:
            await gateway.stop()


async def _seed(gateway: DataGateway, accounts: list[str]) -> None:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    ops = [{"op": "insert", "table": "invoices", "values": {
        "account_id": a, "invoice_id": f"inv-{i:02d}", "amount_cents": 10**9,
        "paid_cents": 0, "currency": "EUR", "status": "open",
        "issued_at": base + timedelta(days=i)}} for a in accounts for i in range(INVOICES_EACH)]
    for start in range(0, len(ops), 100):
        await gateway.relational.transact("billing", ops[start:start + 100])


async def _invoices(
    gateway: DataGateway, accounts: list[str], kind: str, url: str | None, tmp: Path,
    recorder: SQLiteRecorder, options: Options,
) -> dict[str, Any]:
    limits = Limits(max_cost=10**9)
    schema = build_schema(limits)
    admin = Caller.unchecked()

    async def graphql(_: int) -> None:
        # Fresh representations each time: resolving an entity takes `__typename` out of it.
        reps = [{"__typename": "Account", "id": a} for a in accounts]
        result = await schema.execute(QUERY, variable_values={"reps": reps},
                                      context_value=Context.create(gateway, limits, admin))
        assert result.errors is None, result.errors

    wheres = [[Condition("account_id", "eq", a)] for a in accounts]

    async def store_call(_: int) -> None:
        await gateway.relational.query_many("billing", "invoices", wheres,
                                            order_by="issued_at", descending=True, first=10)

    runs, warmup = options.pick(40, 8), options.pick(5, 2)
    end_to_end = await timed(graphql, warmup=warmup, runs=runs)
    abstraction = await timed(store_call, warmup=warmup, runs=runs)
    raw_call = await _raw_invoices(gateway, kind, url, tmp, recorder, store_call)
    raw = await timed(lambda _: raw_call(), warmup=warmup, runs=runs)
    return {"graphql": summary(end_to_end), "store_call": summary(abstraction),
            "raw": summary(raw),
            "store_call_vs_raw": ratio(median(abstraction), median(raw)),
            "graphql_vs_raw": ratio(median(end_to_end), median(raw))}


async def _raw_invoices(
    gateway: DataGateway, kind: str, url: str | None, tmp: Path, recorder: SQLiteRecorder,
    call: Callable[[int], Awaitable[None]],
) -> Callable[[], Awaitable[object]]:
    """The batch's own statements, recorded from the driver, replayed with it alone."""
    if kind == "sqlite":
        recorder.clear()
        recorder.recording = True
        await call(0)
        recorder.recording = False
        replay = SQLiteReplay(tmp / f"{kind}.db", recorder.recorded())
        return replay.run
    import asyncpg

    seen: list[tuple[str, tuple]] = []
    fetch = asyncpg.connection.Connection.fetch

    async def recording(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        seen.append((query, args))
        return await fetch(self, query, *args, **kwargs)

    with mock.patch.object(asyncpg.connection.Connection, "fetch", recording):
        await call(0)
    (sql, args), = seen
    conn = await asyncpg.connect(url)
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads,
                              schema="pg_catalog")
    _RAW.append(conn)
    return lambda: conn.fetch(sql, *args)


_RAW: list[Any] = []


async def _payments(
    gateway: DataGateway, accounts: list[str], kind: str, url: str | None, tmp: Path,
    options: Options,
) -> dict[str, Any]:
    limits = Limits()
    schema = build_schema(limits)
    admin = Caller.unchecked()
    per_client = options.pick(150, 40)
    counter = iter(range(10**9))

    async def client(c: int) -> None:
        for n in range(per_client):
            account = accounts[(c * per_client + n) % len(accounts)]
            body = {"accountId": account, "invoiceId": f"inv-{c % INVOICES_EACH:02d}",
                    "amountCents": 1,
                    "idempotencyKey": f"{accounts[0]}-{next(counter)}"}
            result = await schema.execute(PAY, variable_values={"input": body},
                                          context_value=Context.create(gateway, limits, admin))
            assert result.errors is None, result.errors

    start = time.perf_counter()
    await asyncio.gather(*(client(c) for c in range(CONCURRENCY)))
    ours = CONCURRENCY * per_client / (time.perf_counter() - start)
    raw = await _raw_payments(kind, url, tmp, accounts, per_client)
    for conn in _RAW:
        await conn.close()
    _RAW.clear()
    return {"payments_per_second": round(ours, 1), "raw_per_second": round(raw, 1),
            "concurrency": CONCURRENCY, "payments": CONCURRENCY * per_client,
            "raw_vs_ours": ratio(raw, ours)}


async def _raw_payments(
    kind: str, url: str | None, tmp: Path, accounts: list[str], per_client: int
) -> float:
    now = datetime.now(UTC)
    if kind == "postgres":
        import asyncpg

        pool = await asyncpg.create_pool(url, min_size=CONCURRENCY, max_size=CONCURRENCY)

        async def pay(account: str, invoice: str, key: str) -> None:
            async with pool.acquire() as conn:
                row = await conn.fetchrow(
                    'SELECT paid_cents, _version FROM "r_billing__invoices" WHERE '
                    '("account_id", "invoice_id") IN (SELECT * FROM unnest($1::text[], '
                    '$2::text[]))', [account], [invoice])
            async with pool.acquire() as conn, conn.transaction():
                await conn.fetchrow(
                    'INSERT INTO "r_billing__payments" ("account_id", "payment_id", '
                    '"invoice_id", "amount_cents", "created_at", _version) VALUES '
                    "($1, $2, $3, $4, $5, 1) ON CONFLICT DO NOTHING RETURNING *",
                    account, key, invoice, 1, now)
                await conn.fetchrow(
                    'UPDATE "r_billing__invoices" SET "paid_cents" = $1, "status" = $2, '
                    '"paid_at" = $3, _version = _version + 1 WHERE "account_id" = $4 AND '
                    '"invoice_id" = $5 AND _version = $6 RETURNING *',
                    row[0] + 1, "open", None, account, invoice, row[1])
                await conn.fetchval(
                    "INSERT INTO rel_idempotency(namespace, key, digest, result, created) "
                    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING 1",
                    "billing", key, "d", "[]", 0)

        try:
            return await _throughput(pay, accounts, per_client)
        finally:
            await pool.close()
    conn = sqlite3.connect(tmp / f"{kind}.db", isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA synchronous=NORMAL")
    lock = asyncio.Lock()

    def pay_sync(account: str, invoice: str, key: str) -> None:
        row = conn.execute('SELECT paid_cents, _version FROM "r_billing__invoices" WHERE '
                           '("account_id", "invoice_id") IN (VALUES (?, ?))',
                           (account, invoice)).fetchone()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("SELECT digest, result FROM rel_idempotency WHERE namespace = ? AND key "
                     "= ?", ("billing", key)).fetchall()
        conn.execute('INSERT INTO "r_billing__payments" ("account_id", "payment_id", '
                     '"invoice_id", "amount_cents", "created_at", _version) VALUES '
                     "(?, ?, ?, ?, ?, 1) ON CONFLICT DO NOTHING RETURNING *",
                     (account, key, invoice, 1, 0)).fetchall()
        conn.execute('UPDATE "r_billing__invoices" SET "paid_cents" = ?, "status" = ?, '
                     '"paid_at" = ?, _version = _version + 1 WHERE "account_id" = ? AND '
                     '"invoice_id" = ? AND _version = ? RETURNING *',
                     (row[0] + 1, "open", None, account, invoice, row[1])).fetchall()
        conn.execute("INSERT INTO rel_idempotency(namespace, key, digest, result, created) "
                     "VALUES (?, ?, ?, ?, ?)", ("billing", key, "d", "[]", 0))
        conn.execute("COMMIT")

    async def pay(account: str, invoice: str, key: str) -> None:
        async with lock:  # one writer, as the backend's writer thread
            await asyncio.to_thread(pay_sync, account, invoice, key)

    try:
        return await _throughput(pay, accounts, per_client)
    finally:
        conn.close()


async def _throughput(
    pay: Callable[[str, str, str], Awaitable[None]], accounts: list[str], per_client: int
) -> float:
    async def client(c: int) -> None:
        for n in range(per_client):
            account = accounts[(c * per_client + n) % len(accounts)]
            await pay(account, f"inv-{(c + 5) % INVOICES_EACH:02d}", f"raw-{c}-{n}-{time.time()}")

    start = time.perf_counter()
    await asyncio.gather(*(client(c) for c in range(CONCURRENCY)))
    return CONCURRENCY * per_client / (time.perf_counter() - start)


def tables(figures: dict[str, Any]) -> list[Table]:
    rows, pays = [], []
    for kind, f in figures["backends"].items():
        inv = f["invoices"]
        rows.append([kind, fmt(inv["graphql"]["median_ms"]), fmt(inv["store_call"]["median_ms"]),
                     fmt(inv["raw"]["median_ms"]), fmt(inv["store_call_vs_raw"], 2, "x"),
                     fmt(inv["graphql_vs_raw"], 2, "x")])
        p = f["pay_invoice"]
        pays.append([kind, fmt(p["payments_per_second"], 0), fmt(p["raw_per_second"], 0),
                     fmt(p["raw_vs_ours"], 2, "x")])
    notes = [figures["postgres_skipped"]] if "postgres_skipped" in figures else []
    return [
        Table(f"{NAME}: Account.invoices(first: 10) for {ACCOUNTS} accounts (median ms)",
              ["backend", "GraphQL", "store call", "raw driver", "store/raw", "GraphQL/raw"],
              rows, notes),
        Table(f"{NAME}: payInvoice, {CONCURRENCY} concurrent clients (payments/s)",
              ["backend", "payInvoice", "raw driver", "raw/ours"], pays),
    ]


def targets(figures: dict[str, Any]) -> list[Target]:
    out = []
    for kind, f in figures["backends"].items():
        r = f["invoices"]["store_call_vs_raw"]
        out.append(Target(f"{kind}: Account.invoices store call vs raw driver",
                          f"<= {TARGET}x", fmt(r, 2, "x"), r is not None and r <= TARGET))
        p = f["pay_invoice"]["raw_vs_ours"]
        out.append(Target(f"{kind}: payInvoice throughput, raw driver vs ours",
                          f"<= {TARGET}x", fmt(p, 2, "x"), p is not None and p <= TARGET))
    return out
