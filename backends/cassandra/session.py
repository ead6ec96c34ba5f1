"""The cassandra-driver bridged to asyncio: no thread per call, no blocking of the loop.

The driver runs its own I/O thread and reports each result through `ResponseFuture` callbacks.
`add_callbacks` hands every page of a result to `loop.call_soon_threadsafe`, which settles an
asyncio future the caller awaits; the next page is asked for with `start_fetching_next_page` on
the same `ResponseFuture` (its callbacks stay registered), and only when the caller wants it, so
a reader that has enough rows stops fetching.

Three limits apply to every statement:

- a deadline: each store call sets one (`call()`); every page request gets the time that is
  left as its driver timeout, and a watchdog ends the calls still running a grace period past
  their deadline (a lost callback), so nothing waits forever;
- a semaphore of `concurrency` slots: held only while one request is in flight (never across
  pages or nested calls), so fan-outs are bounded and cannot deadlock;
- error translation: driver errors leave this module as `StoreError`s (see errors.py).

A coordinator that answers "keyspace/table ... does not exist" speaks for its own schema, which
may lag the cluster's (a restarted node can lack the keyspace for minutes): the statement, or
the page of it, is sent again to the other hosts of the local datacenter by name (`host=`), at
most MAX_SCHEMA_HOSTS of them and the one that denied it last, within the call's deadline.  The
driver's retry policy is not asked: it sees only timeouts, unavailable, overloaded and server
errors, never an invalid request.  Only when every host asked denies the table does
`MissingTable` (a `StoreUnavailable`) leave here; never an empty result.

Only `connect`, `close` and the first `prepare` of each statement text use a worker thread:
those driver calls are blocking and happen once, not per call.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Awaitable, Callable, Hashable, Sequence
from contextvars import ContextVar, Token
from typing import Any, TypeVar

from cassandra import ConsistencyLevel
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import (
    EXEC_PROFILE_DEFAULT,
    Cluster,
    ExecutionProfile,
    NoHostAvailable,
    ResponseFuture,
    Session,
)
from cassandra.connection import ConnectionBusy
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
from cassandra.pool import Host
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
from .errors import MissingTable, is_driver_error, refusal, translate

Row = tuple[Any, ...]
T = TypeVar("T")
log = logging.getLogger(__name__)
GRACE_SECONDS = 1.0  # the driver's own timer fires first; ours only guards against a lost callback
BUSY_PAUSE_SECONDS = 0.01  # first pause before resending a write the driver could not queue
WATCH_SECONDS = 0.25  # how often the watchdog looks for calls past their deadline and grace
MAX_SCHEMA_HOSTS = 5  # hosts asked for a statement whose coordinator denied its table
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
        try:  # (not contextlib.suppress: this runs once per result, on the driver's thread)
            self._loop.call_soon_threadsafe(self._settle, rows, exc)
        except RuntimeError:  # the loop is closed: nobody is waiting
            return

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

    def __init__(
        self, db: Database, statement: Statement, what: str, host: Host | None = None
    ) -> None:
        self._db = db
        self._statement = statement
        self._what = what
        self._host = host  # every page from this host (no other asked), or as routed
        self._future: ResponseFuture | None = None
        self._paging_state: bytes | None = None  # where the next page starts, on any host
        self._waiter = _Waiter(asyncio.get_running_loop())
        self.done = False

    async def next(self) -> list[Row] | None:
        """The next page, or None when the result is exhausted."""
        if self.done:
            return None
        pause = BUSY_PAUSE_SECONDS
        while True:
            try:
                if self._host is not None:
                    return await self._next_once()
                return await self._db.on_any_host(self._next_once)
            except StoreUnavailable as exc:
                if not _connection_busy(exc.__cause__) or self._db.remaining() <= pause:
                    raise
                if self._future is not None and not self._future.has_more_pages:
                    self._future = None  # the first request never left: send it again
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.5)

    async def _next_once(self, host: Host | None = None) -> list[Row] | None:
        """The next page: of the request in flight, or (given `host`) asked of that host."""
        async with self._db.slots:
            remaining = self._db.remaining()
            pending = self._waiter.arm()
            try:
                if self._future is None or host is not None:
                    if self._future is not None:
                        _release(self._future)
                    self._future = self._db.session.execute_async(
                        self._statement, timeout=remaining, host=host or self._host,
                        paging_state=self._paging_state,
                    )
                    self._future.add_callbacks(self._waiter.on_page, self._waiter.on_error)
                else:
                    self._future.timeout = remaining
                    self._future.start_fetching_next_page()
            except Exception as exc:
                raise _translated(exc, self._what) from exc
            rows = await self._db.settle(pending, remaining, self._what, self._future)
        self._paging_state = self._future._paging_state
        self.done = not self._future.has_more_pages
        if self.done:
            _release(self._future)
        return list(rows or ())


class _Call:
    """`Database.call`: a deadline for one store call, and what enforces it.

    Not a timer per call (with a thousand calls in flight, their heap costs more than the rest
    of a call): the database's watchdog cancels, every WATCH_SECONDS, the calls past their
    deadline and grace, and the cancellation leaves here as `StoreTimeout` (as
    `asyncio.timeout` turns its own into `TimeoutError`).
    """

    __slots__ = ("_cancelling", "_db", "_expired", "_task", "_token", "_what", "deadline")

    def __init__(self, db: Database, what: str) -> None:
        self._db = db
        self._what = what
        self._token: Token[float | None] | None = None
        self._task: asyncio.Task[Any] | None = None
        self._cancelling = 0
        self._expired = False
        self.deadline = 0.0

    async def __aenter__(self) -> None:
        if _DEADLINE.get() is not None:  # nested: the outer call's deadline holds
            return
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a Cassandra store call must run in a task")
        self.deadline = asyncio.get_running_loop().time() + self._db.config.timeout
        self._token = _DEADLINE.set(self.deadline)
        self._task, self._cancelling = task, task.cancelling()
        self._db.watch(self)

    def expire(self) -> None:
        """Past the deadline and its grace (the watchdog's call): stop the task."""
        if self._task is not None and not self._expired:
            self._expired = True
            self._task.cancel()

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> bool:
        if self._token is None:
            return False
        token, self._token = self._token, None
        self._db.unwatch(self)
        _DEADLINE.reset(token)
        timed_out = isinstance(exc, TimeoutError)
        if (  # uncancel() balances the watchdog's cancel() whenever it made one
            self._expired
            and self._task is not None
            and self._task.uncancel() <= self._cancelling
            and kind is asyncio.CancelledError
        ):
            timed_out = True
        if timed_out:
            raise StoreTimeout(
                f"Cassandra {self._what}: no answer within {self._db.config.timeout:g}s"
            ) from exc
        return False


class Database:
    """One cluster connection: prepared statements, bounded execution, deadlines, DDL."""

    def __init__(self, config: CassandraConfig) -> None:
        self.config = config
        self._cluster: Cluster | None = None
        self._session: Session | None = None
        self._policy: DCAwareRoundRobinPolicy | None = None
        self._prepared: dict[str, PreparedStatement] = {}
        self._keyed: dict[Hashable, PreparedStatement] = {}  # the same statements, by caller's key
        self._preparing: dict[str, asyncio.Future[PreparedStatement]] = {}
        self._slots: asyncio.Semaphore | None = None
        self._calls: set[_Call] = set()  # calls in flight, for the watchdog
        self._watchdog: asyncio.TimerHandle | None = None
        self._watch_loop: asyncio.AbstractEventLoop | None = None
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
            ssl_context=cfg.ssl_context(),
            connect_timeout=cfg.connect_timeout,
            control_connection_timeout=cfg.connect_timeout,
            max_schema_agreement_wait=cfg.ddl_timeout,
            protocol_version=cfg.protocol_version,
            # Our own DDL refreshes the driver's schema metadata inline; other processes' DDL
            # need not (Schema.has asks the server), which spares every gateway a refresh per
            # slice table made anywhere, and the refresh racing `shutdown` at close.
            schema_event_refresh_window=-1,
            # Requests are small and latency-bound: send them now, not after the peer's
            # delayed ACK of the previous segment (Nagle's algorithm adds up to ~40 ms).
            sockopts=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        )
        try:
            session = await asyncio.wait_for(
                asyncio.to_thread(_connect, cluster), cfg.connect_timeout * 3
            )
        except BaseException as exc:
            await asyncio.to_thread(cluster.shutdown)
            if not isinstance(exc, Exception):
                raise
            refused = refusal(exc, cfg)
            if refused is not None:  # one line says it all: no driver error chained to it
                log.debug("Cassandra connect refused: %r", exc)
                raise refused from None
            raise _translated(exc, "connect") from exc
        session.default_fetch_size = cfg.fetch_size
        self._cluster, self._session = cluster, session
        self._slots = asyncio.Semaphore(cfg.concurrency)

    async def close(self) -> None:
        cluster, self._cluster, self._session = self._cluster, None, None
        self._prepared.clear()
        self._keyed.clear()
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

    def schema_hosts(self) -> list[Host]:
        """The hosts a statement may be sent to by name: up, of the local datacenter."""
        dc = self.config.local_dc or (self._policy.local_dc if self._policy else "")
        return [
            h for h in self.cluster.metadata.all_hosts()
            if h.is_up is not False and (not dc or h.datacenter == dc)
        ]

    async def on_any_host(self, attempt: Callable[[Host | None], Awaitable[T]]) -> T:
        """`attempt(None)` (sent where the load balancer routes it) and, while the host that
        answered denies its table ("does not exist"), `attempt(host)` with another host.

        Each other host once (at most MAX_SCHEMA_HOSTS - 1 of them), then the one that denied
        (its schema may have caught up: on a one-node cluster it is the only one); a host that
        cannot be reached is passed over.  Each attempt gets what is left of the deadline.
        """
        try:
            return await attempt(None)
        except MissingTable as exc:
            first = exc
        hosts = self.schema_hosts()
        others = [h for h in hosts if h != first.host][: MAX_SCHEMA_HOSTS - 1]
        denied = failed = 0
        for host in others + [h for h in hosts if h == first.host]:
            try:
                return await attempt(host)
            except MissingTable:
                denied += 1
            except StoreUnavailable:
                failed += 1
        error = MissingTable(
            f"{first} (asked again: {denied} more hosts denied it, {failed} did not answer)"
        )
        error.host = first.host
        raise error from first

    def table_names(self) -> set[str]:
        """Tables of the keyspace as the driver's schema metadata knows them (may lag)."""
        ks = self.cluster.metadata.keyspaces.get(self.config.keyspace)
        try:
            return set(ks.tables) if ks is not None else set()
        except RuntimeError:  # the driver's thread is refreshing it: ask the server instead
            return set()

    # --- deadlines and slots ----------------------------------------------------------------

    def call(self, what: str) -> _Call:
        """One store call: everything inside shares one deadline (nested calls keep the outer)."""
        return _Call(self, what)

    def watch(self, call: _Call) -> None:
        """Have the watchdog look after `call` until `unwatch`."""
        self._calls.add(call)
        loop = asyncio.get_running_loop()
        if self._watchdog is None or self._watch_loop is not loop:
            self._watch_loop = loop
            self._watchdog = loop.call_later(WATCH_SECONDS, self._watch)

    def unwatch(self, call: _Call) -> None:
        self._calls.discard(call)

    def _watch(self) -> None:
        """Expire the calls past their deadline and grace; look again while calls remain."""
        self._watchdog = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        for call in [c for c in self._calls if c.deadline + GRACE_SECONDS <= now]:
            self._calls.discard(call)
            call.expire()
        if self._calls:
            self._watchdog = loop.call_later(WATCH_SECONDS, self._watch)

    def remaining(self) -> float:
        """Seconds left before the current call's deadline (a full timeout outside a call)."""
        deadline = _DEADLINE.get()
        if deadline is None:
            return self.config.timeout
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise StoreTimeout(f"Cassandra: the call's {self.config.timeout:g}s deadline passed")
        return left

    @property
    def slots(self) -> asyncio.Semaphore:
        """`concurrency` slots; one is held while one request is in flight."""
        if self._slots is None:
            raise StoreUnavailable("the Cassandra store is not open")
        return self._slots

    async def settle(
        self,
        pending: asyncio.Future[Any],
        seconds: float,
        what: str,
        future: ResponseFuture | None = None,
    ) -> Any:
        """Await a driver result, bounded, with errors translated.

        Inside a store call the call's watchdog bounds the await already (the driver's
        request timeout, `seconds`, fires first); outside one, a timer of its own does.
        A `MissingTable` names the host that answered (`future`'s last).
        """
        try:
            if _DEADLINE.get() is not None:
                return await pending
            async with asyncio.timeout(seconds + GRACE_SECONDS):  # (not wait_for: see
                return await pending  # abstractions/background.py)
        except TimeoutError as exc:
            raise StoreTimeout(f"Cassandra {what}: no answer within {seconds:.3g}s") from exc
        except Exception as exc:
            error = _translated(exc, what)
            if isinstance(error, MissingTable) and future is not None and future.attempted_hosts:
                error.host = future.attempted_hosts[-1]
            raise error from exc

    # --- statements -------------------------------------------------------------------------

    def statement(self, key: Hashable) -> PreparedStatement | None:
        """The statement prepared under `key` (see `prepare`), if it has been.

        For the hottest calls: finding a statement by a key of its parts spares making its text.
        """
        return self._keyed.get(key)

    async def prepare(
        self, cql: str, *, write: bool, idempotent: bool = True, key: Hashable = None
    ) -> PreparedStatement:
        """A prepared statement for `cql` (prepared once per store; concurrent askers share).

        With `key`, `statement(key)` finds it afterwards.
        """
        found = self._prepared.get(cql)
        if found is None:
            found = await self._prepare_once(cql, write, idempotent)
        if key is not None:
            self._keyed[key] = found
        return found

    async def _prepare_once(self, cql: str, write: bool, idempotent: bool) -> PreparedStatement:
        """Prepare `cql`; concurrent askers wait for the same preparation."""
        pending = self._preparing.get(cql)
        if pending is None:
            pending = asyncio.ensure_future(self._prepare(cql, write, idempotent))
            self._preparing[cql] = pending
            pending.add_done_callback(lambda _: self._preparing.pop(cql, None))
        return await asyncio.shield(pending)

    async def _prepare(self, cql: str, write: bool, idempotent: bool) -> PreparedStatement:
        session = self.session
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.config.ddl_timeout
        pause = BUSY_PAUSE_SECONDS
        denials = 0
        while True:
            try:
                prepared = await asyncio.wait_for(
                    asyncio.to_thread(session.prepare, cql), give_up - loop.time()
                )
                break
            except TimeoutError as exc:
                raise StoreTimeout(f"Cassandra prepare: no answer for {cql!r}") from exc
            except Exception as exc:
                error = _translated(exc, f"prepare {cql!r}")
                if isinstance(error, MissingTable):
                    # `Session.prepare` takes no host, but its load balancer goes round the
                    # hosts: asking again asks (most likely) another one.
                    denials += 1
                    if denials < min(MAX_SCHEMA_HOSTS, len(self.schema_hosts()) + 1):
                        continue
                    raise MissingTable(f"{error} (and on every host asked)") from exc
                if not _connection_busy(exc) or loop.time() + pause >= give_up:
                    raise error from exc
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.5)
        prepared.consistency_level = self._write_cl if write else self._read_cl
        prepared.is_idempotent = idempotent
        self._prepared[cql] = prepared
        return prepared

    def forget(self, table: str) -> None:
        """Drop cached statements of a table that no longer exists."""
        marker = f".{table} "
        for cql in [c for c in self._prepared if marker in c]:
            del self._prepared[cql]
        for key in [k for k, p in self._keyed.items() if marker in p.query_string]:
            del self._keyed[key]

    def batch(
        self, statements: Sequence[tuple[PreparedStatement, Sequence[Any]]]
    ) -> BatchStatement:
        """An unlogged batch; callers only batch rows of one partition (one atomic mutation)."""
        batch = BatchStatement(batch_type=BatchType.UNLOGGED, consistency_level=self._write_cl)
        for prepared, values in statements:
            batch.add(prepared, values)
        batch.is_idempotent = all(p.is_idempotent for p, _ in statements)
        return batch

    def batch_of(
        self, prepared: PreparedStatement, rows: Sequence[Sequence[Any]]
    ) -> BatchStatement:
        """`batch` of one statement's rows (of one partition)."""
        batch = BatchStatement(batch_type=BatchType.UNLOGGED, consistency_level=self._write_cl)
        for values in rows:
            batch.add(prepared, values)
        batch.is_idempotent = prepared.is_idempotent
        return batch

    @staticmethod
    def bind(
        prepared: PreparedStatement, values: Sequence[Any], fetch_size: int | None = None
    ) -> BoundStatement:
        bound = prepared.bind(values)
        if fetch_size is not None:
            bound.fetch_size = fetch_size
        return bound

    def pages(self, statement: Statement, what: str, host: Host | None = None) -> Pages:
        """The rows of `statement` page by page, from `host` only when given."""
        return Pages(self, statement, what, host)

    async def rows(
        self,
        statement: Statement,
        what: str,
        limit: int | None = None,
        *,
        host: Host | None = None,
    ) -> list[Row]:
        """All rows (or the first `limit`), fetching driver pages as needed."""
        pages = self.pages(statement, what, host)
        found: list[Row] = []
        while (page := await pages.next()) is not None:
            found.extend(page)
            if limit is not None and len(found) >= limit:
                return found[:limit]
        return found

    async def run(self, statement: Statement, what: str) -> None:
        """A statement whose result is not needed (writes): one request, its first page.

        When the driver's connection is applying back-pressure (its write buffer is full, as
        with megabytes of chunks in flight), the write is sent again after a short pause until
        the call's deadline: our writes carry their own timestamps, so a resend is harmless.
        """
        pause = BUSY_PAUSE_SECONDS
        while True:
            try:
                await self.on_any_host(lambda host: self._run_once(statement, what, host))
                return
            except StoreUnavailable as exc:
                if not _connection_busy(exc.__cause__) or self.remaining() <= pause:
                    raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.5)

    async def _run_once(self, statement: Statement, what: str, host: Host | None) -> None:
        async with self.slots:
            remaining = self.remaining()
            waiter = _Waiter(asyncio.get_running_loop())
            pending = waiter.arm()
            try:
                future = self.session.execute_async(statement, timeout=remaining, host=host)
                future.add_callbacks(waiter.on_page, waiter.on_error)
            except Exception as exc:
                raise _translated(exc, what) from exc
            try:
                await self.settle(pending, remaining, what, future)
            finally:
                _release(future)

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


class _ConnectReports(logging.Filter):
    """The driver's reports of a failed connect, made one line each while a store connects.

    The driver logs each host it could not reach with a traceback, then the whole failure
    again with another; the store raises that failure itself, as one error that says what to
    fix (errors.refusal).  So, from the threads inside `_connect` only: the whole failure
    (`NoHostAvailable`) is not logged, and a host's failure keeps its message, without the
    traceback (a host that failed while another answered is still worth a line).
    """

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[int] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.thread not in self.threads or not record.exc_info:
            return True
        error = record.exc_info[1]
        if isinstance(error, NoHostAvailable):
            return False
        record.msg = f"{record.getMessage()} {type(error).__name__}: {error}"
        record.args = None
        record.exc_info = record.exc_text = None
        return True


_CONNECT_REPORTS = _ConnectReports()
logging.getLogger("cassandra.cluster").addFilter(_CONNECT_REPORTS)


def _connect(cluster: Cluster) -> Session:
    """`cluster.connect()` (blocking: run in a worker thread), its failures logged briefly."""
    thread = threading.get_ident()
    _CONNECT_REPORTS.threads.add(thread)
    try:
        return cluster.connect()
    finally:
        _CONNECT_REPORTS.threads.discard(thread)


def _release(future: ResponseFuture) -> None:
    """Let a finished request go as soon as nobody holds it.

    The driver keeps a request's (cancelled) timer on its `ResponseFuture`, and the timer's
    callback is a method of that future: a reference cycle, so the future, its message and the
    rows of its last page wait for the garbage collector instead of going when the caller is
    done.  At a few thousand requests a second those collections (each sweeping the young
    generation full of rows) cost more than decoding the rows.  Dropping the timer breaks the
    cycle.  Only a finished request (its result or error set, so its timer cancelled, and no
    page to come) is released: the driver cancels a request's timer through `_timer`, and a
    timer that fired after its request had finished would take the stream id of whichever
    request uses it by then.  A request given up on while in flight keeps its timer.
    """
    if future._event.is_set():
        future._timer = None


def _connection_busy(exc: BaseException | None) -> bool:
    """The driver refused to queue more on every connection: back-pressure, not an outage."""
    errors = getattr(exc, "errors", None)
    if isinstance(exc, ConnectionBusy):
        return True
    return isinstance(errors, dict) and bool(errors) and all(
        isinstance(e, ConnectionBusy) for e in errors.values()
    )


def _translated(exc: Exception, what: str) -> Exception:
    """Driver errors become store errors; programming errors (a bad bind) stay what they are."""
    if isinstance(exc, StoreError | TimeoutError) or is_driver_error(exc):
        return translate(exc, what)
    return exc
