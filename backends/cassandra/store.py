"""What the KV, TimeSeries and Counter parts of the Cassandra store share: lifecycle and helpers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterable, Sequence
from typing import Any, Self, TypeVar

from cassandra.query import PreparedStatement, Statement

from .config import CassandraConfig, parse_url
from .schema import Schema
from .session import Database

log = logging.getLogger(__name__)
T = TypeVar("T")
BATCH_BYTES = 1024 * 1024  # well under Cassandra's largest mutation (half a commitlog segment)
BATCH_ROWS = 200


class CassandraBase:
    """Connection and schema; the store mixins prepare and run statements through `db`."""

    def __init__(self, config: CassandraConfig) -> None:
        self.config = config
        self.db = Database(config)
        self.schema = Schema(self.db)
        self._background: set[asyncio.Task[Any]] = set()
        self._ahead_pending: set[str] = set()  # slice tables being made ahead of time
        self._indexed: set[tuple[str, str, int]] = set()  # counter log buckets known listed
        # counter log buckets being listed now, and whether that worked
        self._indexing: dict[tuple[str, str, int], asyncio.Future[bool]] = {}

    @classmethod
    def from_url(cls, url: str) -> Self:
        """A store (not yet opened) for `cassandra://host[,host...][:port]/keyspace?...`."""
        return cls(parse_url(url))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"

    @property
    def ks(self) -> str:
        return self.config.keyspace

    async def open(self) -> None:
        """Connect, then create the keyspace and its shared tables when missing."""
        await self.db.connect()
        try:
            await self.schema.create_keyspace()
        except BaseException:
            await self.db.close()
            raise

    async def close(self) -> None:
        """Finish background schema work, then disconnect."""
        await self.wait_background()
        await self.db.close()

    async def wait_background(self) -> None:
        """Wait for schema work started in the background (slices made ahead of time)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def ping(self) -> None:
        async with self.db.call("ping"):
            stmt = await self.db.prepare("SELECT release_version FROM system.local", write=False)
            await self.db.rows(self.db.bind(stmt, []), "ping")

    # --- helpers for the parts --------------------------------------------------------------

    def in_background(self, work: Awaitable[Any]) -> None:
        """Run `work` without waiting for it; `close` waits for it, failures are only logged."""
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(_log_failure)

    async def each(self, works: Iterable[Awaitable[T]]) -> list[T]:
        """Run awaitables concurrently (the database's slots bound what is in flight).

        A single awaitable is awaited in place: no task for it.
        """
        works = list(works)
        if len(works) == 1:
            return [await works[0]]
        return list(await asyncio.gather(*works))

    async def write_rows(
        self,
        prepared: PreparedStatement,
        rows: Sequence[Sequence[Any]],
        size: int,
        what: str,
    ) -> None:
        """Write rows of ONE partition: unlogged batches (one mutation each) of bounded size."""
        statements = self.partition_batches(prepared, rows, size)
        if len(statements) == 1:
            await self.db.run(statements[0], what)
        else:
            await self.each(self.db.run(s, what) for s in statements)

    def partition_batches(
        self, prepared: PreparedStatement, rows: Sequence[Sequence[Any]], size: int
    ) -> list[Statement]:
        """Rows of one partition cut into batches of at most BATCH_ROWS rows and BATCH_BYTES.

        `size` is the index of the row's largest value, whose length is what is counted.
        """
        if rows and len(rows) <= BATCH_ROWS and (
            sum(len(row[size]) for row in rows) + 64 * len(rows) <= BATCH_BYTES
        ):
            return [self._group(prepared, rows)]  # one batch, the common case
        statements: list[Statement] = []
        group: list[Sequence[Any]] = []
        used = 0
        for row in rows:
            weight = len(row[size]) + 64
            if group and (used + weight > BATCH_BYTES or len(group) >= BATCH_ROWS):
                statements.append(self._group(prepared, group))
                group, used = [], 0
            group.append(row)
            used += weight
        if group:
            statements.append(self._group(prepared, group))
        return statements

    def _group(self, prepared: PreparedStatement, group: Sequence[Sequence[Any]]) -> Statement:
        if len(group) == 1:
            return self.db.bind(prepared, group[0])
        return self.db.batch_of(prepared, group)


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning(
            "background Cassandra schema work failed: %s", task.exception()
        )
