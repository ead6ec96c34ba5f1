"""The raw driver's time for the reads a request makes: recorded from the store, replayed raw.

The statements are not written out by hand: they are recorded while the real gateway serves
one request, so they stay the backend's own whatever it becomes (a new query shape, one round
trip per batch), and are then replayed with the driver alone, with none of our layers:

- SQLite: every connection the backend opens gets a trace callback (`sqlite3.connect` is
  wrapped while the recording gateway lives), which sees each statement with its parameters
  written in (SQLite's expanded SQL).  The replay runs each connection's statements in order,
  transactions included, on one plain `sqlite3` connection in the calling thread, fetching
  every row: no thread hand-off, no decoding into objects.  Python's statement cache holds the
  texts, as the backend's holds its parametrised ones.
- Cassandra: a request-init listener on the store's session sees every statement sent (a paged
  read is one statement).  The replay binds the same serialized values to the same CQL prepared
  on a raw `cassandra-driver` session connected like the store's (`store_cassandra.RawDriver`),
  and sends them all at once, at most the store's concurrency in flight, each read whole: the
  rounds the backend needs one after another (the slice list, then bucket groups) are not
  waited for, so this is the floor of the driver's time for those reads.

Only reads are replayed: a recording that holds a write fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from unittest import mock

READ_PREFIXES = ("SELECT", "WITH", "VALUES", "BEGIN", "COMMIT", "END", "ROLLBACK")
_connect = sqlite3.connect  # the replay's own connection is never traced


class SQLiteRecorder:
    """Statements of every SQLite connection opened while `patched()` is active, per connection,
    while `recording` is on."""

    def __init__(self) -> None:
        self.recording = False
        self._lock = threading.Lock()
        self._by_connection: dict[int, list[str]] = {}

    @contextlib.contextmanager
    def patched(self) -> Iterator[None]:
        connect = sqlite3.connect

        def traced(*args: Any, **kwargs: Any) -> sqlite3.Connection:
            conn = connect(*args, **kwargs)
            with self._lock:
                statements = self._by_connection.setdefault(len(self._by_connection), [])

            def trace(sql: str) -> None:
                if self.recording:
                    statements.append(sql)

            conn.set_trace_callback(trace)
            return conn

        with mock.patch.object(sqlite3, "connect", traced):
            yield

    def clear(self) -> None:
        with self._lock:
            for statements in self._by_connection.values():
                statements.clear()

    def sent(self) -> str:
        """How many statements were recorded (for a request that failed)."""
        with self._lock:
            n = sum(len(statements) for statements in self._by_connection.values())
        return f"{n} SQLite statements"

    def recorded(self) -> list[list[str]]:
        """The reads of each connection that made any, PRAGMAs left out."""
        with self._lock:
            sequences = [
                [s for s in statements if not s.lstrip().upper().startswith("PRAGMA")]
                for statements in self._by_connection.values()
            ]
        sequences = [s for s in sequences if s]
        for sequence in sequences:
            for statement in sequence:
                if not statement.lstrip().upper().startswith(READ_PREFIXES):
                    raise RuntimeError(f"the read path wrote: {statement[:200]}")
        if not sequences:
            raise RuntimeError("no SQLite statement was recorded (does the backend still open "
                               "its connections with sqlite3.connect?)")
        return sequences


class SQLiteReplay:
    """The recorded statements on one plain connection to the same file."""

    def __init__(self, path: Path, sequences: Sequence[Sequence[str]]) -> None:
        self.sequences = sequences
        self.statements = sum(
            1 for seq in sequences for s in seq if not _is_transaction_control(s)
        )
        self._conn = _connect(path, isolation_level=None, check_same_thread=False,
                              cached_statements=max(128, 2 * self.statements))

    async def run(self) -> int:
        """Every statement, every row fetched, in this thread; returns the number of rows."""
        rows = 0
        for sequence in self.sequences:
            for statement in sequence:
                rows += len(self._conn.execute(statement).fetchall())
        return rows

    def close(self) -> None:
        self._conn.close()


def _is_transaction_control(statement: str) -> bool:
    return statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "END", "ROLLBACK"))


class CassandraRecorder:
    """The statements a Cassandra session sends while `recording` is on."""

    def __init__(self, session: Any) -> None:
        self.recording = False
        self.statements: list[Any] = []
        self._session = session
        session.add_request_init_listener(self._seen)

    def _seen(self, response_future: Any) -> None:
        if self.recording:
            self.statements.append(response_future.query)

    def clear(self) -> None:
        self.statements.clear()

    def sent(self) -> str:
        """How many statements were recorded, by table (for a request that failed)."""
        tables = Counter(
            _cql(s).partition(" FROM ")[2].split(" ", 1)[0] or "?" for s in self.statements
        )
        by_table = ", ".join(f"{t} {n}" for t, n in tables.most_common(5))
        return f"{len(self.statements)} CQL statements ({by_table})"

    def close(self) -> None:
        self._session.remove_request_init_listener(self._seen)

    def recorded(self) -> list[Any]:
        for statement in self.statements:
            text = _cql(statement)
            if not text.lstrip().upper().startswith("SELECT"):
                raise RuntimeError(f"the read path wrote: {text[:200]}")
        if not self.statements:
            raise RuntimeError("no CQL statement was recorded")
        return list(self.statements)


def _cql(statement: Any) -> str:
    prepared = getattr(statement, "prepared_statement", None)
    if prepared is not None:
        return str(prepared.query_string)
    return str(getattr(statement, "query_string", statement))


class CassandraReplay:
    """The recorded statements, bound afresh on a raw driver session (`RawDriver`)."""

    def __init__(self, driver: Any, recorded: Sequence[Any]) -> None:
        self.driver = driver
        self.recorded = recorded
        self.statements = len(recorded)
        self._bound: list[Any] = []

    async def prepare(self) -> None:
        from cassandra.query import BoundStatement, SimpleStatement

        for statement in self.recorded:
            if getattr(statement, "prepared_statement", None) is None:
                self._bound.append(SimpleStatement(_cql(statement),
                                                   consistency_level=statement.consistency_level))
                continue
            prepared = await self.driver.prepare(_cql(statement), write=False)
            bound = BoundStatement(prepared)
            bound.values = list(statement.values)
            if statement.consistency_level is not None:
                bound.consistency_level = statement.consistency_level
            self._bound.append(bound)

    async def run(self) -> int:
        """Every statement at once (bounded by the driver's slots); returns the rows read."""
        found = await asyncio.gather(*(self.driver.run(b) for b in self._bound))
        return sum(len(rows) for rows in found)
