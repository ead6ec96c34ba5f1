"""One SQLite file in WAL mode, used from asyncio without blocking the loop.

All writes go through one writer thread (SQLite allows one writer at a time anyway, and a single
writer never waits on its own lock); reads run on a small pool of reader threads, each with its
own connection, which WAL lets proceed while a write commits: one at a time, a second only
beside a slow read (`readers.py`: two threads decoding rows at once spend their time handing
each other the GIL).
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from backends.base import StoreError, StoreUnavailable

from . import packed
from .readers import ReaderPool
from .schema import SCHEMA, SCHEMA_VERSION

BUSY_SECONDS = 30.0


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL, waiting out other connections' locks.

    Changing the journal mode can fail with "database is locked" at once, without SQLite's busy
    handler waiting (two processes opening one new file together): retried here, in the
    worker thread the connection belongs to, for as long as any statement would wait.
    """
    deadline = time.monotonic() + BUSY_SECONDS
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)

T = TypeVar("T")
READERS = 2
SPILL_SECONDS = 0.1  # a read running this long lets the next one start on another reader


def _to_real(value: bytes | str | None) -> float | None:
    """A stored value as a number, or NULL when it is not one (for numeric search)."""
    if value is None:
        return None
    try:
        text = value.decode() if isinstance(value, bytes) else value
        number = float(text)
    except (UnicodeDecodeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _to_epoch(value: bytes | str | None) -> float | None:
    """A stored ISO-8601 or epoch-seconds value as epoch seconds (for date search)."""
    from datetime import datetime

    number = _to_real(value)
    if number is not None or value is None:
        return number
    try:
        text = value.decode() if isinstance(value, bytes) else value
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except (UnicodeDecodeError, ValueError):
        return None


class SQLiteDB:
    """Connections, threads and schema; the store mixins call `read` and `write`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._writer: ThreadPoolExecutor | None = None
        self._readers: ReaderPool | None = None
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=BUSY_SECONDS, isolation_level=None,
                                   check_same_thread=False)
            _use_wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.create_function("num", 1, _to_real, deterministic=True)
            conn.create_function("epoch", 1, _to_epoch, deterministic=True)
            packed.register(conn)
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self._readers = ReaderPool(READERS, SPILL_SECONDS)
        await self.write(self._migrate)

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        # Statement by statement: executescript() would commit the surrounding transaction.
        for statement in SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            conn.execute(
                "INSERT INTO meta(key, value) VALUES ('schema_version', ?)", (SCHEMA_VERSION,)
            )
        elif int(row[0]) > SCHEMA_VERSION:
            raise StoreError(
                f"database schema version {row[0]} is newer than this code ({SCHEMA_VERSION})"
            )
        elif int(row[0]) < SCHEMA_VERSION:  # the statements above made its new tables
            if int(row[0]) < 3:  # 3's ts_events: filled from the item rows
                packed.backfill(conn)
            conn.execute(
                "UPDATE meta SET value = ? WHERE key = 'schema_version'", (SCHEMA_VERSION,)
            )

    async def close(self) -> None:
        for pool in (self._writer, self._readers):
            if pool is not None:
                pool.shutdown(wait=True)
        self._writer = self._readers = None
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()

    async def ping(self) -> None:
        await self.read(lambda conn: conn.execute("SELECT 1").fetchone())

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` in one immediate transaction on the writer thread."""

        def run() -> T:
            conn = self._connect()
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

        return await self._run(self._writer, run)

    async def read(
        self, fn: Callable[[sqlite3.Connection], T], *, snapshot: bool = True
    ) -> T:
        """Run `fn` on a reader thread, inside one read transaction (a consistent snapshot);
        without it when `fn` runs one statement (`snapshot=False`), which reads one snapshot
        by itself: two statements (BEGIN, COMMIT) fewer."""

        def run() -> T:
            conn = self._connect()
            if not snapshot:
                return fn(conn)
            conn.execute("BEGIN")
            try:
                return fn(conn)
            finally:
                conn.execute("COMMIT")

        return await self._run(self._readers, run)

    async def select(
        self, sql: str, params: Sequence[object], decode: Callable[[list[Any]], T]
    ) -> T:
        """One statement on a reader thread, its rows decoded there."""
        return await self.read(
            lambda conn: decode(conn.execute(sql, params).fetchall()), snapshot=False
        )

    async def _run(self, pool: Executor | None, fn: Callable[[], T]) -> T:
        if pool is None:
            raise StoreUnavailable("the SQLite store is not open")
        try:
            future = asyncio.get_running_loop().run_in_executor(pool, fn)
        except RuntimeError as exc:  # the executor is shutting down
            raise StoreUnavailable(f"SQLite: {exc}") from exc
        try:
            return await future
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"SQLite: {exc}") from exc
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite: {exc}") from exc
