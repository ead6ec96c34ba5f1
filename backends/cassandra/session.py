"""The cassandra-driver bridged to asyncio: no thread per call, no blocking of the loop.

The driver runs its own I/O thread and reports each result through `ResponseFuture` callbacks.
`add_callbacks` hands every page of a result to `loop.call_soon_threadsafe`, which settles an
asyncio future the caller awaits; the next page is asked for with `start_fetching_next_page` on
the same `ResponseFuture` (its callbacks stay registered), and only when the caller wants it, so
a reader that has enough rows stops fetching.

Three limits apply to every statement:

- a deadline: each store call sets one (`call()`); every page request gets the time that is
  left as its driver timeout, and the await is bounded too, so nothing waits forever;
- a semaphore of `concurrency` slots: held only while one request is in flight (never across
  pages or nested calls), so fan-outs are bounded and cannot deadlock;
- error translation: driver errors leave this module as `StoreError`s (see errors.py).

Only `connect`, `close` and the first `prepare` of each statement text use a worker thread:
those driver calls are blocking and happen once, not per call.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from contextvars import ContextVar
from typing import Any

from cassandra import ConsistencyLevel
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import (
    EXEC_PROFILE_DEFAULT,
    Cluster,
    ExecutionProfile,
    ResponseFuture,
    Session,
)
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
from cassandra.query import (
    BatchStatement,
    BatchType,
    BoundStatement,
    PreparedStatement,
    SimpleStatement,
    Statement,
    tuple_factory,
)

from backends.base import StoreError, StoreTimeout, StoreUnavailable

from .config import CassandraConfig
from .errors import is_driver_error, translate

Row = tuple[Any, ...]
GRACE_SECONDS = 1.0  # the driver's own timer fires first; ours only guards against a lost callback
_DEADLINE: ContextVar[float | None] = ContextVar("cassandra_deadline", default=None)


class _Waiter:
    """Moves one `ResponseFuture`'s page results from the driver's thread onto the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._current: asyncio.Future[Any] | None = None

    def arm(self) -> asyncio.Future[Any]:
        """A fresh future for the next page; armed before the request is sent."""
        self._current = self._loop.create_future()
        return self._current

    def on_page(self, rows: Any) -> None:
        self._post(rows, None)

    def on_error(self, exc: BaseException) -> None:
        self._post(None, exc)

    def _post(self, rows: Any, exc: BaseException | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            self._loop.call_soon_threadsafe(self._settle, rows, exc)

    def _settle(self, rows: Any, exc: BaseException | None) -> None:
        future = self._current
        if future is None or future.done():  # the caller gave up (deadline, cancellation)
            return
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(rows)


class Pages:
    """The rows of one statement, one driver page per `next()`, fetched only on demand."""

    def __init__(self, db: Database, statement: Statement, what: str) -> None:
        self._db = db
        self._statement = statement
        self._what = what
        self._future: ResponseFuture | None = None
        self._waiter = _Waiter(asyncio.get_running_loop())
        self.done = False

    async def next(self) -> list[Row] | None:
        """The next page, or None when the result is exhausted."""
        if self.done:
            return None
        async with self._db.slot():
            remaining = self._db.remaining()
            pending = self._waiter.arm()
            try:
                if self._future is None:
                    self._future = self._db.session.execute_async(
                        self._statement, timeout=remaining
                    )
                    self._future.add_callbacks(self._waiter.on_page, self._waiter.on_error)
                else:
                    self._future.timeout = remaining
                    self._future.start_fetching_next_page()
            except Exception as exc:
                raise _translated(exc, self._what) from exc
            rows = await self._db.settle(pending, remaining, self._what)
        self.done = not self._future.has_more_pages
        return list(rows or ())


class Database:
    """One cluster connection: prepared statements, bounded execution, deadlines, DDL."""

    def __init__(self, config: CassandraConfig) -> None:
        self.config = config
        self._cluster: Cluster | None = None
        self._session: Session | None = None
        self._policy: DCAwareRoundRobinPolicy | None = None
        self._prepared: dict[str, PreparedStatement] = {}
        self._preparing: dict[str, asyncio.Future[PreparedStatement]] = {}
        self._slots: asyncio.Semaphore | None = None
        self._read_cl = ConsistencyLevel.name_to_value[config.read_consistency]
        self._write_cl = ConsistencyLevel.name_to_value[config.write_consistency]

    # --- lifecycle --------------------------------------------------------------------------

    async def connect(self) -> None:
        cfg = self.config
        self._policy = DCAwareRoundRobinPolicy(local_dc=cfg.local_dc or "")
        profile = ExecutionProfile(
            load_balancing_policy=TokenAwarePolicy(self._policy),
            consistency_level=self._write_cl,
            request_timeout=cfg.timeout,
            row_factory=tuple_factory,
        )
        auth = None
        if cfg.username is not None:
            auth = PlainTextAuthProvider(cfg.username, cfg.password or "")
        cluster = Cluster(
            contact_points=cfg.contact_points,
            port=cfg.port,
            execution_profiles={EXEC_PROFILE_DEFAULT: profile},
            auth_provider=auth,
            connect_timeout=cfg.connect_timeout,
            control_connection_timeout=cfg.connect_timeout,
            max_schema_agreement_wait=cfg.ddl_timeout,
            protocol_version=cfg.protocol_version,
            # Our own DDL refreshes the driver's schema metadata inline; other processes' DDL
            # need not (Schema.has asks the server), which spares every gateway a refresh per
            # slice table made anywhere, and the refresh racing `shutdown` at close.
            schema_event_refresh_window=-1,
        )
        try:
            session = await asyncio.wait_for(
                asyncio.to_thread(cluster.connect), cfg.connect_timeout * 3
            )
        except BaseException as exc:
            await asyncio.to_thread(cluster.shutdown)
            if isinstance(exc, Exception):
                raise _translated(exc, "connect") from exc
            raise
        session.default_fetch_size = cfg.fetch_size
        self._cluster, self._session = cluster, session
        self._slots = asyncio.Semaphore(cfg.concurrency)

    async def close(self) -> None:
        cluster, self._cluster, self._session = self._cluster, None, None
        self._prepared.clear()
        if cluster is not None:
            await asyncio.to_thread(cluster.shutdown)

    @property
    def session(self) -> Session:
        if self._session is None:
            raise StoreUnavailable("the Cassandra store is not open")
        return self._session

    @property
    def cluster(self) -> Cluster:
        if self._cluster is None:
            raise StoreUnavailable("the Cassandra store is not open")
        return self._cluster

    def local_dc(self) -> str:
        """The datacenter this store reads and writes in (given, or that of the contacts)."""
        if self.config.local_dc:
            return self.config.local_dc
        if self._policy is not None and self._policy.local_dc:
            return self._policy.local_dc
        dcs = {h.datacenter for h in self.cluster.metadata.all_hosts() if h.datacenter}
        if len(dcs) != 1:
            raise StoreError(f"the cluster has datacenters {sorted(dcs)}: set local_dc")
        return dcs.pop()

    def table_names(self) -> set[str]:
        """Tables of the keyspace as the driver's schema metadata knows them (may lag)."""
        ks = self.cluster.metadata.keyspaces.get(self.config.keyspace)
        try:
            return set(ks.tables) if ks is not None else set()
        except RuntimeError:  # the driver's thread is refreshing it: ask the server instead
            return set()

    # --- deadlines and slots ----------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def call(self, what: str) -> AsyncIterator[None]:
        """One store call: everything inside shares one deadline (nested calls keep the outer)."""
        if _DEADLINE.get() is not None:
            yield
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.timeout
        token = _DEADLINE.set(deadline)
        try:
            async with asyncio.timeout_at(deadline + GRACE_SECONDS):
                yield
        except TimeoutError as exc:
            raise StoreTimeout(
                f"Cassandra {what}: no answer within {self.config.timeout:g}s"
            ) from exc
        finally:
            _DEADLINE.reset(token)

    def remaining(self) -> float:
        """Seconds left before the current call's deadline (a full timeout outside a call)."""
        deadline = _DEADLINE.get()
        if deadline is None:
            return self.config.timeout
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise StoreTimeout(f"Cassandra: the call's {self.config.timeout:g}s deadline passed")
        return left

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """One of `concurrency` in-flight requests."""
        if self._slots is None:
            raise StoreUnavailable("the Cassandra store is not open")
        async with self._slots:
            yield

    async def settle(self, pending: asyncio.Future[Any], seconds: float, what: str) -> Any:
        """Await a driver result, bounded, with errors translated."""
        try:
            return await asyncio.wait_for(pending, seconds + GRACE_SECONDS)
        except TimeoutError as exc:
            raise StoreTimeout(f"Cassandra {what}: no answer within {seconds:.3g}s") from exc
        except Exception as exc:
            raise _translated(exc, what) from exc

    # --- statements -------------------------------------------------------------------------

    async def prepare(self, cql: str, *, write: bool, idempotent: bool = True) -> PreparedStatement:
        """A prepared statement for `cql` (prepared once per store; concurrent askers share)."""
        found = self._prepared.get(cql)
        if found is not None:
            return found
        pending = self._preparing.get(cql)
        if pending is None:
            pending = asyncio.ensure_future(self._prepare(cql, write, idempotent))
            self._preparing[cql] = pending
            pending.add_done_callback(lambda _: self._preparing.pop(cql, None))
        return await asyncio.shield(pending)

    async def _prepare(self, cql: str, write: bool, idempotent: bool) -> PreparedStatement:
        session = self.session
        try:
            prepared = await asyncio.wait_for(
                asyncio.to_thread(session.prepare, cql), self.config.ddl_timeout
            )
        except TimeoutError as exc:
            raise StoreTimeout(f"Cassandra prepare: no answer for {cql!r}") from exc
        except Exception as exc:
            raise _translated(exc, f"prepare {cql!r}") from exc
        prepared.consistency_level = self._write_cl if write else self._read_cl
        prepared.is_idempotent = idempotent
        self._prepared[cql] = prepared
        return prepared

    def forget(self, table: str) -> None:
        """Drop cached statements of a table that no longer exists."""
        marker = f".{table} "
        for cql in [c for c in self._prepared if marker in c]:
            del self._prepared[cql]

    def batch(
        self, statements: Sequence[tuple[PreparedStatement, Sequence[Any]]]
    ) -> BatchStatement:
        """An unlogged batch; callers only batch rows of one partition (one atomic mutation)."""
        batch = BatchStatement(batch_type=BatchType.UNLOGGED, consistency_level=self._write_cl)
        for prepared, values in statements:
            batch.add(prepared, values)
        batch.is_idempotent = all(p.is_idempotent for p, _ in statements)
        return batch

    @staticmethod
    def bind(
        prepared: PreparedStatement, values: Sequence[Any], fetch_size: int | None = None
    ) -> BoundStatement:
        bound = prepared.bind(values)
        if fetch_size is not None:
            bound.fetch_size = fetch_size
        return bound

    def pages(self, statement: Statement, what: str) -> Pages:
        return Pages(self, statement, what)

    async def rows(self, statement: Statement, what: str, limit: int | None = None) -> list[Row]:
        """All rows (or the first `limit`), fetching driver pages as needed."""
        pages = self.pages(statement, what)
        found: list[Row] = []
        while (page := await pages.next()) is not None:
            found.extend(page)
            if limit is not None and len(found) >= limit:
                return found[:limit]
        return found

    async def run(self, statement: Statement, what: str) -> None:
        """A statement whose result is not needed (writes)."""
        await self.pages(statement, what).next()

    async def ddl(self, cql: str) -> None:
        """A schema change, answered only once the cluster agrees on the new schema."""
        waiter = _Waiter(asyncio.get_running_loop())
        pending = waiter.arm()
        timeout = self.config.ddl_timeout
        try:
            future = self.session.execute_async(SimpleStatement(cql), timeout=timeout)
            future.add_callbacks(waiter.on_page, waiter.on_error)
        except Exception as exc:
            raise _translated(exc, "schema change") from exc
        await self.settle(pending, timeout, f"schema change {cql[:60]!r}")
        if not future.is_schema_agreed:
            raise StoreUnavailable(
                f"Cassandra schema change did not reach agreement within {timeout:g}s: {cql[:80]}"
            )


def _translated(exc: Exception, what: str) -> Exception:
    """Driver errors become store errors; programming errors (a bad bind) stay what they are."""
    if isinstance(exc, StoreError | TimeoutError) or is_driver_error(exc):
        return translate(exc, what)
    return exc
