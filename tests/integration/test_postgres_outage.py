"""PostgreSQL stopped under load: payments fail with UNAVAILABLE, and none is left half-done.

The test starts its own PostgreSQL (scripts/services, in a run dir of its own on a free port,
so the session's server is not disturbed), pays invoices from several concurrent clients
through GraphQL, stops the server in the middle and starts it again.  While it is down every
failure must be UNAVAILABLE (never an internal error, never a wrong answer); afterwards every
failed payment is retried with its own idempotency key, and each invoice's paid amount must
equal the sum of its payments, each payment made exactly once.

Marked `postgres`; skipped unless SUBGRAPH_TEST_POSTGRES says PostgreSQL is there (make test).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from abstractions.gateway import DataGateway
from abstractions.namespaces import load_namespaces
from abstractions.relational import Condition
from abstractions.tokens import PageTokens
from backends.postgres import PostgresRelational
from backends.sqlite import SQLiteStore
from subgraph.limits import Limits
from tests.conftest import POSTGRES
from tests.subgraph.conftest import SECRET, SchemaRunner, subgraph_namespaces

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not POSTGRES, reason="needs PostgreSQL: set SUBGRAPH_TEST_POSTGRES "
                       "(make test does)"),
]

REPO = Path(__file__).resolve().parents[2]
PAY = """
mutation($input: PayInvoiceInput!) {
  payInvoice(input: $input) { payment { id amountCents } invoice { paidCents } }
}
"""
CLIENTS = 6
PAYMENTS_EACH = 40
CENTS = 7


@dataclass
class Server:
    env: dict[str, str]
    url: str

    def services(self, *args: str) -> str:
        done = subprocess.run([str(REPO / "scripts" / "services"), *args], env=self.env,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server() -> Iterator[Server]:
    """A PostgreSQL of this test's own (the run dir must be readable by the server's user,
    so it is under the repository's .run, not the root-only pytest tmp dir)."""
    run = REPO / ".run" / f"outage-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "DATA_GATEWAY_RUN_DIR": str(run),
           "DATA_GATEWAY_POSTGRES_PORT": str(_free_port())}
    probe = Server(env, "")
    probe.url = probe.services("start", "postgres")
    try:
        yield probe
    finally:
        subprocess.run([str(REPO / "scripts" / "services"), "stop", "postgres", "--wipe"],
                       env=env, capture_output=True, timeout=120, check=False)
        shutil.rmtree(run, ignore_errors=True)


@pytest.fixture
async def runner(server: Server, tmp_path: Path) -> AsyncIterator[SchemaRunner]:
    store = SQLiteStore(tmp_path / "g.db")
    gateway = DataGateway(store, subgraph_namespaces(load_namespaces().lookup("billing")),  # type: ignore[arg-type]
                          page_tokens=PageTokens(SECRET),
                          relational=PostgresRelational(server.url))
    await gateway.start(background=False)
    try:
        yield SchemaRunner(gateway, Limits())
    finally:
        await gateway.stop()


async def test_a_stopped_postgres_is_unavailable_and_leaves_nothing_partial(
    server: Server, runner: SchemaRunner
) -> None:
    rel = runner.gateway.relational
    accounts = [f"outage-{i}" for i in range(CLIENTS)]
    await rel.transact("billing", [
        {"op": "insert", "table": "invoices", "values": {
            "account_id": a, "invoice_id": "big", "amount_cents": 10**9, "paid_cents": 0,
            "currency": "EUR", "status": "open", "issued_at": "2026-01-01T00:00:00Z"}}
        for a in accounts
    ])
    codes: list[str] = []
    failed: list[dict[str, Any]] = []
    succeeded = 0
    stopped = asyncio.Event()

    async def client(account: str) -> None:
        nonlocal succeeded
        for n in range(PAYMENTS_EACH):
            body = {"accountId": account, "invoiceId": "big", "amountCents": CENTS,
                    "idempotencyKey": f"{account}-{n}"}
            result = await runner.execute(PAY, {"input": body})
            if result.errors:
                codes.extend(e.extensions["code"] for e in result.errors)
                failed.append(body)
            else:
                succeeded += 1
            if n == PAYMENTS_EACH // 3:
                await stopped.wait()

    async def outage() -> None:
        await asyncio.sleep(0.3)
        await asyncio.to_thread(server.services, "stop", "postgres")
        stopped.set()
        await asyncio.sleep(1.0)  # payments keep coming while it is down
        await asyncio.to_thread(server.services, "start", "postgres")

    await asyncio.gather(outage(), *(client(a) for a in accounts))
    assert failed, "the outage should have failed some payments"
    assert set(codes) == {"UNAVAILABLE"}, codes
    # every failed payment, retried with its key once the server is back, applies once
    for body in failed:
        for _ in range(50):
            result = await runner.execute(PAY, {"input": body})
            if not result.errors:
                break
            assert [e.extensions["code"] for e in result.errors] == ["UNAVAILABLE"]
            await asyncio.sleep(0.2)
        assert not result.errors, result.errors
    rows = await rel.get_rows("billing", "invoices",
                              [{"account_id": a, "invoice_id": "big"} for a in accounts])
    for account, row in zip(accounts, rows, strict=True):
        page = await rel.query("billing", "payments", [Condition("account_id", "eq", account)],
                               first=1000)
        assert len(page.rows) == PAYMENTS_EACH, account
        assert row is not None and row["paid_cents"] == sum(p["amount_cents"] for p in page.rows)
        assert row["paid_cents"] == PAYMENTS_EACH * CENTS

