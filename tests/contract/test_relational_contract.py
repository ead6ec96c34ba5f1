"""The Relational contract: every relational store (SQLite, PostgreSQL) behaves the same.

Runs over `rel_gateway` (tests/conftest.py): SQLite always, PostgreSQL when
SUBGRAPH_TEST_POSTGRES names one.  The namespace `ledger` is in tests/namespaces.toml; rows are
keyed by `uid` because PostgreSQL's tables are shared by the session.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from abstractions.errors import (
    ClientError,
    IdempotencyKeyReused,
    InvalidArgument,
    InvalidPageToken,
    NamespaceError,
    TooLarge,
)
from abstractions.gateway import DataGateway
from abstractions.namespaces import NamespaceConfigError, Namespaces, parse_namespaces
from abstractions.relational import (
    Condition,
    ConditionFailed,
    ConstraintViolation,
    RowExists,
    RowNotFound,
)
from abstractions.relational_schema import TableConfigError
from abstractions.tokens import PageTokens
from tests.conftest import make_relational, make_store

NS = "ledger"


def entry(book: str, entry_id: int, **values: Any) -> dict[str, Any]:
    return {"op": "insert", "table": "entries", "values": {"book": book, "entry_id": entry_id,
                                                            **values}}


async def test_every_type_round_trips_exactly(rel_gateway: DataGateway, uid: str) -> None:
    rel = rel_gateway.relational
    at = datetime(2026, 3, 29, 1, 30, 0, 123456, tzinfo=timezone(timedelta(hours=-7, minutes=-30)))
    doc = {"a": [1, 2.5, None, True, "ünï"], "b": {"nested": {"x": 12345678901234567}}}
    await rel.transact(NS, [
        entry(uid, 1, kind="debit", amount="-123456789.0001", at=at.isoformat(), flag=True,
              doc=doc, note="snow ☃ and \u2028 line"),
        entry(uid, 2, amount=Decimal("99999999999999.9999"), at=at, flag=False, doc="text"),
        entry(uid, 3),
        entry(uid, 2**63 - 1, amount=7, doc=[]),
        entry(uid, -(2**63), amount="0.5", doc=0),
    ])
    rows = await rel.get_rows(NS, "entries", [
        {"book": uid, "entry_id": i} for i in (1, 2, 3, 2**63 - 1, -(2**63), 99)
    ])
    one, two, three, big, small, missing = rows
    assert missing is None
    assert one["amount"] == Decimal("-123456789.0001") and str(one["amount"]) == "-123456789.0001"
    assert one["at"] == at and one["at"].utcoffset() == timedelta(0)
    assert one["doc"] == doc and one["flag"] is True and one["kind"] == "debit"
    assert one["note"] == "snow ☃ and \u2028 line" and one["_version"] == 1
    assert two["amount"] == Decimal("99999999999999.9999") and two["flag"] is False
    assert two["doc"] == "text"
    assert three["amount"] is None and three["doc"] is None and three["at"] is None
    assert big["entry_id"] == 2**63 - 1 and str(big["amount"]) == "7.0000" and big["doc"] == []
    assert small["entry_id"] == -(2**63) and str(small["amount"]) == "0.5000" and small["doc"] == 0


async def test_rows_by_many_keys_are_one_store_call(
    rel_gateway: DataGateway, uid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rel = rel_gateway.relational
    await rel.transact(NS, [entry(uid, i, amount=i) for i in range(50)])
    calls = 0
    inner = rel.store.rel_get

    async def counted(*args: Any) -> Any:
        nonlocal calls
        calls += 1
        return await inner(*args)

    monkeypatch.setattr(rel.store, "rel_get", counted)
    keys = [{"book": uid, "entry_id": i} for i in reversed(range(60))]
    rows = await rel.get_rows(NS, "entries", keys)
    assert calls == 1
    assert [r and r["entry_id"] for r in rows] == [None] * 10 + list(reversed(range(50)))


async def test_query_by_index_with_equality_range_and_order(
    rel_gateway: DataGateway, uid: str
) -> None:
    rel = rel_gateway.relational
    base = datetime(2026, 1, 1, tzinfo=UTC)
    await rel.transact(NS, [
        entry(uid, i, kind="debit" if i % 2 else "credit", amount=i * 10,
              at=(base + timedelta(hours=i)).isoformat())
        for i in range(10)
    ])
    page = await rel.query(NS, "entries", [
        Condition("book", "eq", uid),
        Condition("at", "ge", (base + timedelta(hours=3)).isoformat()),
        Condition("at", "lt", (base + timedelta(hours=7)).isoformat()),
    ])
    assert [r["entry_id"] for r in page.rows] == [3, 4, 5, 6] and not page.has_next_page
    page = await rel.query(NS, "entries", [Condition("book", "eq", uid),
                                           Condition("kind", "eq", "debit")],
                           descending=True)
    assert [r["entry_id"] for r in page.rows] == [9, 7, 5, 3, 1]
    page = await rel.query(NS, "entries", [
        Condition("book", "eq", uid), Condition("kind", "eq", "credit"),
        Condition("amount", "gt", "20"),
    ])
    assert [r["amount"] for r in page.rows] == [Decimal(40), Decimal(60), Decimal(80)]
    by_key = await rel.query(NS, "entries", [Condition("book", "eq", uid),
                                             Condition("entry_id", "lt", 3)])
    assert [r["entry_id"] for r in by_key.rows] == [0, 1, 2]


async def test_pages_have_no_gaps_or_repeats_under_concurrent_inserts(
    rel_gateway: DataGateway, uid: str
) -> None:
    rel = rel_gateway.relational
    await rel.transact(NS, [entry(uid, i * 10) for i in range(40)])
    seen: list[int] = []
    after = None
    inserted = 0

    async def insert_more() -> None:
        nonlocal inserted
        for i in range(40):
            await rel.transact(NS, [entry(uid, i * 10 + 5)])
            inserted += 1
            await asyncio.sleep(0)

    writer = asyncio.create_task(insert_more())
    while True:
        page = await rel.query(NS, "entries", [Condition("book", "eq", uid)], first=7,
                               after=after)
        seen.extend(r["entry_id"] for r in page.rows)
        if not page.has_next_page:
            break
        after = page.end_cursor
    await writer
    assert seen == sorted(set(seen))  # in order, no repeats
    assert set(range(0, 400, 10)) <= set(seen)  # nothing present throughout was skipped


async def test_a_cursor_only_pages_its_own_query(rel_gateway: DataGateway, uid: str) -> None:
    rel = rel_gateway.relational
    await rel.transact(NS, [entry(uid, i) for i in range(3)])
    page = await rel.query(NS, "entries", [Condition("book", "eq", uid)], first=1)
    assert page.end_cursor
    with pytest.raises(InvalidPageToken):
        await rel.query(NS, "entries", [Condition("book", "eq", uid + "x")], first=1,
                        after=page.end_cursor)
    with pytest.raises(InvalidPageToken):
        await rel.query(NS, "entries", [Condition("book", "eq", uid)], first=1,
                        after=page.end_cursor[:-2] + "AA")


async def test_conditional_updates_and_deletes(rel_gateway: DataGateway, uid: str) -> None:
    rel = rel_gateway.relational
    key = {"book": uid, "entry_id": 1}
    await rel.transact(NS, [entry(uid, 1, amount=5, note="a")])
    done = await rel.transact(NS, [{"op": "update", "table": "entries", "key": key,
                                    "values": {"amount": 6}, "expect": {"note": "a"},
                                    "expect_version": 1}])
    assert done.rows[0] is not None
    assert done.rows[0]["amount"] == "6.0000" and done.rows[0]["_version"] == 2
    with pytest.raises(ConditionFailed) as failed:
        await rel.transact(NS, [{"op": "update", "table": "entries", "key": key,
                                 "values": {"amount": 7}, "expect_version": 1}])
    assert failed.value.code == "CONDITION_FAILED"
    with pytest.raises(ConditionFailed):
        await rel.transact(NS, [{"op": "delete", "table": "entries", "key": key,
                                 "expect": {"note": "b"}}])
    with pytest.raises(ConditionFailed):  # expected null, it is "a"
        await rel.transact(NS, [{"op": "delete", "table": "entries", "key": key,
                                 "expect": {"note": None}}])
    with pytest.raises(RowNotFound) as missing:
        await rel.transact(NS, [{"op": "update", "table": "entries",
                                 "key": {"book": uid, "entry_id": 2}, "values": {"amount": 1}}])
    assert missing.value.code == "ROW_NOT_FOUND"
    with pytest.raises(RowExists) as exists:
        await rel.transact(NS, [entry(uid, 1)])
    assert exists.value.code == "ROW_EXISTS"
    gone = await rel.transact(NS, [{"op": "delete", "table": "entries", "key": key,
                                    "expect_version": 2}])
    assert gone.rows == [None]
    assert await rel.get_rows(NS, "entries", [key]) == [None]


async def test_a_failing_operation_leaves_nothing(rel_gateway: DataGateway, uid: str) -> None:
    rel = rel_gateway.relational
    await rel.transact(NS, [entry(uid, 1, amount=1)])
    for bad in (
        entry(uid, 1),  # exists
        {"op": "update", "table": "entries", "key": {"book": uid, "entry_id": 9},
         "values": {"amount": 1}},  # missing
        {"op": "update", "table": "entries", "key": {"book": uid, "entry_id": 1},
         "values": {"amount": 1}, "expect_version": 5},  # condition
    ):
        with pytest.raises(ClientError):
            await rel.transact(NS, [
                entry(uid, 2, amount=2),
                {"op": "update", "table": "entries", "key": {"book": uid, "entry_id": 1},
                 "values": {"amount": 100}},
                {"op": "insert", "table": "accounts", "values": {"id": uid, "balance": 1}},
                bad,
            ], idempotency_key=f"{uid}-{bad['op']}-{len(bad)}")
    rows = await rel.get_rows(NS, "entries", [{"book": uid, "entry_id": i} for i in (1, 2)])
    assert rows[0] is not None and rows[0]["amount"] == Decimal(1) and rows[0]["_version"] == 1
    assert rows[1] is None
    assert await rel.get_rows(NS, "accounts", [{"id": uid}]) == [None]
    # the failed attempts did not claim their keys: the same key now applies
    done = await rel.transact(NS, [entry(uid, 2)], idempotency_key=f"{uid}-insert-3")
    assert not done.replayed


async def test_an_idempotency_key_applies_once_and_replays_its_result(
    rel_gateway: DataGateway, uid: str
) -> None:
    rel = rel_gateway.relational
    await rel.transact(NS, [{"op": "insert", "table": "accounts",
                             "values": {"id": uid, "balance": 10}}])
    add = [{"op": "update", "table": "accounts", "key": {"id": uid},
            "values": {"balance": 15}, "expect": {"balance": 10}}]
    first = await rel.transact(NS, add, idempotency_key=f"{uid}-k")
    again = await rel.transact(NS, add, idempotency_key=f"{uid}-k")
    assert not first.replayed and again.replayed and again.rows == first.rows
    concurrent = await asyncio.gather(*(
        rel.transact(NS, add, idempotency_key=f"{uid}-k") for _ in range(10)))
    assert all(r.rows == first.rows for r in concurrent)
    row = (await rel.get_rows(NS, "accounts", [{"id": uid}]))[0]
    assert row is not None and row["balance"] == 15 and row["_version"] == 2
    with pytest.raises(IdempotencyKeyReused) as reused:
        await rel.transact(NS, [{"op": "delete", "table": "accounts", "key": {"id": uid}}],
                           idempotency_key=f"{uid}-k")
    assert reused.value.code == "IDEMPOTENCY_KEY_REUSED"
    recorded = await rel.recorded(NS, f"{uid}-k")
    assert recorded is not None and recorded.rows == first.rows


async def test_of_twenty_concurrent_writers_on_one_version_exactly_one_wins(
    rel_gateway: DataGateway, uid: str
) -> None:
    rel = rel_gateway.relational
    await rel.transact(NS, [{"op": "insert", "table": "accounts",
                             "values": {"id": uid, "balance": 0}}])

    async def attempt(i: int) -> str:
        try:
            await rel.transact(NS, [
                {"op": "update", "table": "accounts", "key": {"id": uid},
                 "values": {"balance": i + 1}, "expect_version": 1},
                entry(uid, i, note="winner"),
            ], idempotency_key=f"{uid}-{i}")
        except ConditionFailed:
            return "lost"
        return "won"

    outcomes = await asyncio.gather(*(attempt(i) for i in range(20)))
    assert outcomes.count("won") == 1
    page = await rel.query(NS, "entries", [Condition("book", "eq", uid)])
    assert len(page.rows) == 1
    row = (await rel.get_rows(NS, "accounts", [{"id": uid}]))[0]
    assert row is not None and row["_version"] == 2
    assert row["balance"] == page.rows[0]["entry_id"] + 1


@pytest.mark.parametrize(
    ("operations", "error", "code"),
    [
        ([], InvalidArgument, "BAD_USER_INPUT"),
        ([{"op": "upsert", "table": "entries"}], InvalidArgument, "BAD_USER_INPUT"),
        ([{"op": "insert", "table": "nope", "values": {}}], InvalidArgument, "BAD_USER_INPUT"),
        ([entry("b", 1, colour="red")], InvalidArgument, "BAD_USER_INPUT"),
        ([entry("b", "1")], InvalidArgument, "BAD_USER_INPUT"),
        ([entry("b", True)], InvalidArgument, "BAD_USER_INPUT"),
        ([entry("b", 2**63)], InvalidArgument, "BAD_USER_INPUT"),
        ([entry("b", 1, amount=1.5)], InvalidArgument, "BAD_USER_INPUT"),
        ([entry("b", 1, amount="0.00001")], InvalidArgument, "BAD_USER_INPUT"),
        ([entry("b", 1, amount="NaN")], InvalidArgument, "BAD_USER_INPUT"),
        ([entry("b", 1, amount="1" * 16)], InvalidArgument, "BAD_USER_INPUT"),
        ([entry("b", 1, amount="-1000000001")], ConstraintViolation, "CONSTRAINT_VIOLATION"),
        ([entry("b", 1, at="2026-01-01T00:00:00")], InvalidArgument, "BAD_USER_INPUT"),
        ([entry("b", 1, at="yesterday")], InvalidArgument, "BAD_USER_INPUT"),
        ([entry("b", 1, flag="yes")], InvalidArgument, "BAD_USER_INPUT"),
        ([entry("b", 1, doc=float("nan"))], InvalidArgument, "BAD_USER_INPUT"),
        ([entry("b", 1, kind="refund")], ConstraintViolation, "CONSTRAINT_VIOLATION"),
        ([entry("b", 1, note="nul\x00")], InvalidArgument, "BAD_USER_INPUT"),
        ([{"op": "insert", "table": "entries", "values": {"book": "b"}}],
         ConstraintViolation, "CONSTRAINT_VIOLATION"),
        ([{"op": "insert", "table": "accounts", "values": {"id": "a"}}],
         ConstraintViolation, "CONSTRAINT_VIOLATION"),
        ([{"op": "insert", "table": "accounts", "values": {"id": "a", "balance": -1}}],
         ConstraintViolation, "CONSTRAINT_VIOLATION"),
        ([{"op": "update", "table": "accounts", "key": {"id": "a"},
           "values": {"id": "b"}}], InvalidArgument, "BAD_USER_INPUT"),
        ([{"op": "update", "table": "accounts", "key": {"nope": "a"}}],
         InvalidArgument, "BAD_USER_INPUT"),
        ([{"op": "delete", "table": "accounts", "key": {"id": "a"}, "expect_version": 0}],
         InvalidArgument, "BAD_USER_INPUT"),
        ([{"op": "delete", "table": "accounts", "key": {"id": "a"}, "values": {"balance": 1}}],
         InvalidArgument, "BAD_USER_INPUT"),
        ([entry("b", i) for i in range(101)], TooLarge, "BAD_USER_INPUT"),
    ],
)
async def test_a_bad_transaction_is_refused_with_its_code(
    rel_gateway: DataGateway, operations: list[dict[str, Any]], error: type, code: str
) -> None:
    with pytest.raises(error) as refused:
        await rel_gateway.relational.transact(NS, operations)
    assert refused.value.code == code


@pytest.mark.parametrize(
    ("where", "kwargs"),
    [
        ([Condition("kind", "eq", "debit")], {}),  # no index starts with kind
        ([Condition("book", "eq", "b"), Condition("note", "eq", "x")], {}),
        ([Condition("book", "eq", "b"), Condition("at", "gt", "2026-01-01T00:00:00Z"),
          Condition("amount", "gt", "1")], {}),
        ([Condition("book", "eq", "b"), Condition("doc", "eq", 1)], {}),
        ([Condition("book", "like", "b")], {}),
        ([Condition("book", "eq", None)], {}),
        ([Condition("nope", "eq", 1)], {}),
        ([Condition("book", "eq", "b")], {"first": 0}),
        ([Condition("book", "eq", "b")], {"first": 1001}),
        ([Condition("book", "eq", "b")], {"order_by": "note"}),
    ],
)
async def test_a_bad_query_is_refused_with_its_code(
    rel_gateway: DataGateway, where: list[Condition], kwargs: dict[str, Any]
) -> None:
    with pytest.raises(InvalidArgument) as refused:
        await rel_gateway.relational.query(NS, "entries", where, **kwargs)
    assert refused.value.code == "BAD_USER_INPUT"


async def test_other_namespaces_are_not_relational(rel_gateway: DataGateway) -> None:
    with pytest.raises(NamespaceError):
        await rel_gateway.relational.get_rows("kv_small", "t", [])
    with pytest.raises(NamespaceError):
        await rel_gateway.relational.get_rows("internal_kv", "t", [])
    with pytest.raises(NamespaceError):
        await rel_gateway.relational.get_rows("nope", "t", [])


def _schema(ns: str, extra: str = "", key: str = '["id"]', n: str = '"int64"') -> Namespaces:
    import tomllib

    text = (f'[namespaces.{ns}]\nabstraction = "relational"\n[namespaces.{ns}.tables.t]\n'
            f'primary_key = {key}\ncolumns.id = {{ type = "text" }}\n'
            f'columns.n = {{ type = {n}, not_null = true }}\n{extra}')
    return parse_namespaces(tomllib.loads(text), "test.toml")


async def test_tables_grow_additively_and_destructive_changes_are_refused(
    relational_backend: str, tmp_path: Path, uid: str
) -> None:
    ns = f"m{uid}"

    async def start(namespaces: Namespaces) -> DataGateway:
        store = make_store("sqlite", tmp_path)
        gw = DataGateway(store, namespaces, page_tokens=PageTokens(b"t"),
                         relational=make_relational(relational_backend, store))
        try:
            await gw.start(background=False)
        except BaseException:
            await gw.stop()
            raise
        return gw

    gw = await start(_schema(ns))
    await gw.relational.transact(ns, [{"op": "insert", "table": "t",
                                       "values": {"id": "a", "n": 1}}])
    await gw.stop()
    grown = _schema(ns, 'columns.note = { type = "text" }\nindexes = { by_n = ["n"] }\n')
    gw = await start(grown)
    row = (await gw.relational.get_rows(ns, "t", [{"id": "a"}]))[0]
    assert row is not None and row["note"] is None
    page = await gw.relational.query(ns, "t", [Condition("n", "eq", 1)])
    assert [r["id"] for r in page.rows] == ["a"]
    await gw.stop()
    for refused, words in (
        (_schema(ns), "'note'"),  # dropping a column
        (_schema(ns, 'columns.note = { type = "int64" }\n'), "'note'"),  # retyping
        (_schema(ns, 'columns.note = { type = "text" }\n', key='["id", "n"]'), "primary key"),
        (_schema(ns, 'columns.note = { type = "text" }\ncolumns.x = { type = "bool", '
                     "not_null = true }\n"), "'x'"),
        (_schema(ns, 'columns.note = { type = "text", not_null = true }\n'), "'note'"),
    ):
        with pytest.raises(TableConfigError) as error:
            await start(refused)
        assert words in str(error.value) and "test.toml" in str(error.value)
        assert f"namespace {ns!r}" in str(error.value) and "table 't'" in str(error.value)


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ('primary_key = ["id"]\ncolumns.id = { type = "uuid" }', "column 'id'"),
        ('primary_key = ["nope"]\ncolumns.id = { type = "text" }', "'nope'"),
        ('primary_key = ["id"]\ncolumns.id = { type = "text", scale = 2 }', "scale"),
        ('primary_key = ["id"]\ncolumns.id = { type = "decimal", scale = 30 }', "scale"),
        ('primary_key = ["id"]\ncolumns.id = { type = "json" }', "json"),
        ('primary_key = ["id"]\ncolumns.id = { type = "text", min = 1 }', "min"),
        ('primary_key = ["id"]\ncolumns.id = { type = "text" }\nindexes = { i = ["x"] }',
         "index 'i'"),
        ('primary_key = ["id"]\ncolumns._id = { type = "text" }', "_id"),
        ('columns.id = { type = "text" }', "primary_key"),
    ],
)
def test_a_bad_table_declaration_names_where(table: str, words: str) -> None:
    import tomllib

    text = f'[namespaces.ns]\nabstraction = "relational"\n[namespaces.ns.tables.t]\n{table}\n'
    with pytest.raises(NamespaceConfigError) as error:
        parse_namespaces(tomllib.loads(text), "bad.toml")
    message = str(error.value)
    assert "bad.toml" in message and "namespace 'ns'" in message and "table 't'" in message
    assert words in message


async def test_many_queries_of_one_shape_are_one_store_call_and_page_alike(
    rel_gateway: DataGateway, uid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rel = rel_gateway.relational
    books = [f"{uid}-{b}" for b in range(6)]
    await rel.transact(NS, [entry(book, i, kind="debit" if i % 2 else "credit", amount=i)
                            for b, book in enumerate(books) for i in range(b + 2)])
    wheres = [[Condition("book", "eq", book), Condition("kind", "eq", "debit")]
              for book in books]
    alone = [await rel.query(NS, "entries", w, first=2, descending=True) for w in wheres]
    calls = 0
    inner = rel.store.rel_query_many

    async def counted(*args: Any) -> Any:
        nonlocal calls
        calls += 1
        return await inner(*args)

    monkeypatch.setattr(rel.store, "rel_query_many", counted)
    together = await rel.query_many(NS, "entries", wheres, first=2, descending=True)
    assert calls == 1
    assert [p.rows for p in together] == [p.rows for p in alone]
    assert [p.has_next_page for p in together] == [False, False, False, False, True, True]
    # second pages, some from a cursor and some from the start: still one call
    cursors = [p.end_cursor if p.has_next_page else None for p in together]
    second = await rel.query_many(NS, "entries", wheres, first=2, descending=True,
                                  after=cursors)
    assert calls == 2
    for book, first_page, page in zip(books, together, second, strict=True):
        if first_page.has_next_page:
            ids = [r["entry_id"] for r in first_page.rows + page.rows]
            expected = sorted((i for i in range(books.index(book) + 2) if i % 2), reverse=True)
            assert ids == expected[:4]
        else:
            assert page.rows == first_page.rows


async def test_a_query_shape_seen_before_still_checks_every_value(
    relational_backend: str, tmp_path: Path, uid: str
) -> None:
    """Plans are kept per shape (columns and ops): a later query of that shape, on another
    table or with other values, is still checked against its own table's columns."""
    import tomllib

    a, b = f"a{uid}", f"b{uid}"
    text = "".join(
        f'[namespaces.{ns}]\nabstraction = "relational"\n[namespaces.{ns}.tables.t]\n'
        f'primary_key = ["id"]\nindexes = {{ by_n = ["n"] }}\n'
        f'columns.id = {{ type = "text" }}\ncolumns.n = {{ type = "{kind}" }}\n'
        for ns, kind in ((a, "int64"), (b, "text"))
    )
    store = make_store("sqlite", tmp_path)
    gw = DataGateway(store, parse_namespaces(tomllib.loads(text), "test.toml"),
                     page_tokens=PageTokens(b"t"),
                     relational=make_relational(relational_backend, store))
    await gw.start(background=False)
    try:
        rel = gw.relational
        await rel.transact(a, [{"op": "insert", "table": "t", "values": {"id": "x", "n": 5}}])
        await rel.transact(b, [{"op": "insert", "table": "t", "values": {"id": "y", "n": "5"}}])

        def by_n(value: Any) -> list[Condition]:
            return [Condition("n", "eq", value)]

        assert [r["id"] for r in (await rel.query(a, "t", by_n(5))).rows] == ["x"]
        assert [r["id"] for r in (await rel.query(b, "t", by_n("5"))).rows] == ["y"]
        for ns, wrong in ((b, 5), (a, "5"), (a, None), (a, True)):
            with pytest.raises(InvalidArgument):
                await rel.query(ns, "t", by_n(wrong))
            with pytest.raises(InvalidArgument):  # the second of a batch, too
                await rel.query_many(ns, "t", [by_n(5 if ns == a else "5"), by_n(wrong)])
        pages = await rel.query_many(a, "t", [by_n(5), by_n(6)])
        assert [[r["id"] for r in p.rows] for p in pages] == [["x"], []]
    finally:
        await gw.stop()


async def test_sums_group_rows_in_one_call(rel_gateway: DataGateway, uid: str) -> None:
    rel = rel_gateway.relational
    await rel.transact(NS, [
        entry(f"{uid}-a", 1, kind="debit", amount="1.25"),
        entry(f"{uid}-a", 2, kind="debit", amount="2.5"),
        entry(f"{uid}-a", 3, kind="credit", amount="100"),
        entry(f"{uid}-b", 1, kind="debit", amount="-4"),
    ])
    sums = await rel.sums(NS, "entries", "book", [f"{uid}-a", f"{uid}-b", f"{uid}-c"],
                          ["amount", "entry_id"], {"kind": "debit"})
    assert sums == {f"{uid}-a": (Decimal("3.75"), 3), f"{uid}-b": (Decimal(-4), 1),
                    f"{uid}-c": (Decimal(0), 0)}


async def test_an_idempotency_key_past_its_retention_is_forgotten(
    rel_gateway: DataGateway, uid: str
) -> None:
    from abstractions.tokens import now_micros

    rel = rel_gateway.relational
    await rel.transact(NS, [entry(uid, 1)], idempotency_key=f"{uid}-old")
    assert await rel.recorded(NS, f"{uid}-old") is not None
    assert await rel.store.rel_forget(NS, now_micros() - 3600 * 10**6) >= 0
    assert await rel.recorded(NS, f"{uid}-old") is not None  # within its retention
    assert await rel.store.rel_forget(NS, now_micros() + 1) >= 1
    assert await rel.recorded(NS, f"{uid}-old") is None
    # once forgotten, the key is new again: the same insert now meets its own row
    with pytest.raises(RowExists):
        await rel.transact(NS, [entry(uid, 1)], idempotency_key=f"{uid}-old")
