"""PostgreSQL aborts a transaction on a deadlock or a serialization failure; the relational
store runs it again (within the deadline) and the caller sees one success, not the abort.

Two transactions are made to collide for real: each stops after its first operation until the
other has made its own (a barrier on their first attempt), then both go on:
- crossing updates (a then b, b then a): PostgreSQL detects the deadlock and aborts one;
- at `repeatable read` (the server's default set through the URL, as an operator may), both
  update a shared row: the later one cannot serialize and is aborted.

Marked `postgres`; skipped unless SUBGRAPH_TEST_POSTGRES names a server (make test).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import backends.postgres.relational as pg
from abstractions.gateway import DataGateway
from abstractions.namespaces import Namespaces
from abstractions.tokens import PageTokens
from backends.postgres import PostgresRelational
from tests.conftest import POSTGRES, make_store

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not POSTGRES, reason="needs PostgreSQL: set SUBGRAPH_TEST_POSTGRES "
                       "(make test does)"),
]
NS = "ledger"


async def gateway_on(url: str, tmp_path: Path, namespaces: Namespaces) -> DataGateway:
    gw = DataGateway(make_store("sqlite", tmp_path), namespaces, page_tokens=PageTokens(b"t"),
                     relational=PostgresRelational(url))
    await gw.start(background=False)
    return gw


@pytest.fixture
async def read_committed(tmp_path: Path, namespaces: Namespaces) -> AsyncIterator[DataGateway]:
    gw = await gateway_on(POSTGRES or "", tmp_path, namespaces)
    yield gw
    await gw.stop()


@pytest.fixture
async def repeatable_read(tmp_path: Path, namespaces: Namespaces) -> AsyncIterator[DataGateway]:
    url = (POSTGRES or "") + ("&" if "?" in (POSTGRES or "") else "?")
    gw = await gateway_on(url + "default_transaction_isolation=repeatable%20read", tmp_path,
                          namespaces)
    yield gw
    await gw.stop()


class Collision:
    """Once armed, two transactions meet after their first operation (on their first attempt
    only); `seen` names the aborts the store retried."""

    def __init__(self) -> None:
        self.armed = False
        self.seen: list[str] = []
        self._barrier = asyncio.Barrier(2)
        self._met: set[asyncio.Task[Any] | None] = set()

    async def meet(self) -> None:
        task = asyncio.current_task()
        if self.armed and task not in self._met:
            self._met.add(task)
            await asyncio.wait_for(self._barrier.wait(), 10)


@pytest.fixture
def collide(monkeypatch: pytest.MonkeyPatch) -> Collision:
    collision = Collision()
    apply, retryable = pg.PostgresRelational._apply, pg._retryable

    async def meeting(conn: Any, index: int, op: Any, shape: Any) -> Any:
        row = await apply(conn, index, op, shape)
        if index == 0:
            await collision.meet()
        return row

    def counted(exc: BaseException) -> bool:
        if retryable(exc):
            collision.seen.append(type(exc).__name__)
            return True
        return False

    monkeypatch.setattr(pg.PostgresRelational, "_apply", staticmethod(meeting))
    monkeypatch.setattr(pg, "_retryable", counted)
    return collision


def update(account: str, balance: int) -> dict[str, Any]:
    return {"op": "update", "table": "accounts", "key": {"id": account},
            "values": {"balance": balance}}


async def balances(gw: DataGateway, *accounts: str) -> list[int]:
    rows = await gw.relational.get_rows(NS, "accounts", [{"id": a} for a in accounts])
    return [r["balance"] for r in rows if r is not None]


async def test_a_deadlock_is_retried_and_both_transactions_commit(
    read_committed: DataGateway, collide: Collision, uid: str
) -> None:
    rel = read_committed.relational
    a, b = f"{uid}-a", f"{uid}-b"
    await rel.transact(NS, [{"op": "insert", "table": "accounts",
                             "values": {"id": x, "balance": 0}} for x in (a, b)])
    collide.armed = True
    first, second = await asyncio.gather(
        rel.transact(NS, [update(a, 1), update(b, 1)], f"{uid}-1"),
        rel.transact(NS, [update(b, 2), update(a, 2)], f"{uid}-2"),
    )
    assert not first.replayed and not second.replayed
    assert collide.seen == ["DeadlockDetectedError"]
    one, two = await balances(read_committed, a, b)
    assert one == two and one in (1, 2)  # each transaction wrote both rows, wholly


async def test_a_serialization_failure_is_retried_and_both_transactions_commit(
    repeatable_read: DataGateway, collide: Collision, uid: str
) -> None:
    rel = repeatable_read.relational
    a, b, shared = f"{uid}-a", f"{uid}-b", f"{uid}-shared"
    await rel.transact(NS, [{"op": "insert", "table": "accounts",
                             "values": {"id": x, "balance": 0}} for x in (a, b, shared)])
    collide.armed = True
    await asyncio.gather(
        rel.transact(NS, [update(a, 1), update(shared, 1)], f"{uid}-1"),
        rel.transact(NS, [update(b, 2), update(shared, 2)], f"{uid}-2"),
    )
    assert collide.seen == ["SerializationError"]
    assert (await balances(repeatable_read, a, b))[:2] == [1, 2]
    [last] = await balances(repeatable_read, shared)
    assert last in (1, 2)
