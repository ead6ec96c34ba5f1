"""Who is asking: the Caller a request carries into the abstractions.

The HTTP layer turns a verified token into a `Caller` (subgraph/auth.py); the abstractions decide
from it and the namespace's policy whether it may read or write (`Access`, below).  A Caller
holds only what the token granted: its scopes (the standard `scope` claim) and the profiles it
owns (the `profile_ids` claim).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .errors import Forbidden
from .metrics import CallCounter
from .namespaces import (
    CounterNamespace,
    KVNamespace,
    N,
    Namespace,
    Namespaces,
    RelationalNamespace,
    TimeSeriesNamespace,
)

if TYPE_CHECKING:
    from .analytics import Aggregate, Analytics, Group
    from .counter import Count, Counters
    from .kv import Item, ItemPage, KeyValue
    from .relational import Relational, RowPage, TransactResult
    from .timeseries import Event, EventPage, TimeSeries
    from .tokens import IdempotencyToken

ADMIN_SCOPE = "gateway:admin"


@dataclass(frozen=True, slots=True)
class Caller:
    """The identity and grants of one request.

    `unrestricted`: the server runs without authentication (`--auth none`, loopback only), so
    every public namespace is open to it, as before access control existed.  Internal
    namespaces stay unreachable whoever asks.
    """

    subject: str | None = None
    scopes: frozenset[str] = frozenset()
    profile_ids: frozenset[str] = frozenset()
    authenticated: bool = False
    unrestricted: bool = False

    @classmethod
    def unchecked(cls) -> Caller:
        """The caller of a server running without authentication."""
        return cls(authenticated=False, unrestricted=True)

    @classmethod
    def anonymous(cls) -> Caller:
        """A request without a token: it may reach only what is public (the SDL)."""
        return cls()

    @classmethod
    def from_claims(cls, claims: dict[str, object]) -> Caller:
        """The Caller of verified token claims: `sub`, `scope` (space-separated) and
        `profile_ids` (array of strings); claims of another shape grant nothing."""
        scope = claims.get("scope")
        scopes = frozenset(scope.split()) if isinstance(scope, str) else frozenset()
        owned = claims.get("profile_ids")
        profile_ids = (
            frozenset(p for p in owned if isinstance(p, str))
            if isinstance(owned, list) else frozenset()
        )
        subject = claims.get("sub")
        return cls(
            subject=subject if isinstance(subject, str) else None,
            scopes=scopes,
            profile_ids=profile_ids,
            authenticated=True,
        )

    @property
    def admin(self) -> bool:
        return self.unrestricted or ADMIN_SCOPE in self.scopes


READ, WRITE = "read", "write"
Operation = Literal["read", "write"]
DERIVED = "derived"


def scopes_for(ns: Namespace, operation: Operation) -> tuple[str, ...]:
    """The scopes any one of which grants `operation` on `ns` (besides `gateway:admin`)."""
    given = ns.read_scopes if operation == READ else ns.write_scopes
    return given if given is not None else (f"{ns.name}:{operation}",)


class Access:
    """Decides, once per record, whether a Caller may read or write a namespace's data.

    The order: internal namespaces are unknown to everyone (the public view refuses them before
    this runs); an unrestricted caller (no authentication configured) and `gateway:admin` may do
    everything; then `authenticated_read`, the namespace's scopes, profile ownership, and a write
    derived from one the caller may make.  Every decision is counted by namespace, operation and
    result for /metrics.
    """

    def __init__(self, namespaces: Namespaces, decisions: CallCounter) -> None:
        self.namespaces = namespaces.public()
        self.decisions = decisions

    def allowed(
        self,
        caller: Caller,
        ns: Namespace,
        operation: Operation,
        record: str | None = None,
        *,
        derived_from: tuple[str, str] | None = None,
    ) -> bool:
        ok = self._decide(caller, ns, operation, record, derived_from)
        self.decisions.record(ns.name, operation, "allowed" if ok else "denied")
        return ok

    def readable(self, caller: Caller, ns: Namespace) -> bool:
        """Whether the caller may read anything of `ns` (what the `namespaces` list shows)."""
        return self._decide(caller, ns, READ, None, None) or bool(
            ns.profile_owned and caller.profile_ids
        )

    def forbidden(self, ns: Namespace, operation: Operation, record: str | None) -> Forbidden:
        grants = [*scopes_for(ns, operation), ADMIN_SCOPE]
        owner = (
            f", or a token whose profile_ids holds {record!r}"
            if ns.profile_owned and record is not None else ""
        )
        verb = "reading" if operation == READ else "writing"
        return Forbidden(
            f"{verb} namespace {ns.name!r} needs the scope {' or '.join(grants)}{owner}"
        )

    def _decide(
        self,
        caller: Caller,
        ns: Namespace,
        operation: Operation,
        record: str | None,
        derived_from: tuple[str, str] | None,
    ) -> bool:
        if caller.admin:
            return True
        if not caller.authenticated:
            return False
        if operation == READ and ns.authenticated_read:
            return True
        if not caller.scopes.isdisjoint(scopes_for(ns, operation)):
            return True
        if ns.profile_owned and record is not None and record in caller.profile_ids:
            return True
        if operation == WRITE and derived_from is not None:
            origin_name, origin_record = derived_from
            if origin_name in ns.derived_from:
                origin = self.namespaces.lookup(origin_name)
                return origin is not None and self._decide(
                    caller, origin, WRITE, origin_record, None
                )
        return False


class Decisions:
    """One request's access decisions: each (namespace, operation, record) is decided, and
    counted for /metrics, once, however often the request checks it (a mutation checks before it
    claims its idempotency key and again as it writes; a write's answer re-checks the write).
    The caller and the policies are fixed for the request, so the first answer stays right."""

    def __init__(self, access: Access, caller: Caller) -> None:
        self.access, self.caller = access, caller
        self._made: dict[tuple[str, Operation, str | None, tuple[str, str] | None], bool] = {}

    def allowed(
        self, ns: Namespace, operation: Operation, record: str | None = None,
        derived_from: tuple[str, str] | None = None,
    ) -> bool:
        key = (ns.name, operation, record, derived_from)
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = self.access.allowed(
                self.caller, ns, operation, record, derived_from=derived_from
            )
        return made

    def require(
        self, namespace: str, kind: type[N], operation: Operation, record: str | None = None,
        derived_from: tuple[str, str] | None = None,
    ) -> N:
        """The namespace, after refusing with `Forbidden` an operation the caller may not make."""
        ns = self.access.namespaces.get(namespace, kind)
        if not self.allowed(ns, operation, record, derived_from):
            raise self.access.forbidden(ns, operation, record)
        return ns

    def split(
        self, namespace: str, kind: type[N], ids: Sequence[str]
    ) -> tuple[list[str], dict[str, Forbidden]]:
        """The ids the caller may read, and a `Forbidden` for each other one."""
        ns = self.access.namespaces.get(namespace, kind)
        allowed: list[str] = []
        refused: dict[str, Forbidden] = {}
        for id in dict.fromkeys(ids):
            if self.allowed(ns, READ, id):
                allowed.append(id)
            else:
                refused[id] = self.access.forbidden(ns, READ, id)
        return allowed, refused


class CallerKV:
    """The Key-Value abstraction as one caller may use it: every call is decided first."""

    def __init__(self, kv: KeyValue, decisions: Decisions) -> None:
        self._kv, self._decide = kv, decisions

    def check_read(self, namespace: str, id: str) -> None:
        """Refuse a read of the record now, before any store call (a field resolving to it)."""
        self._decide.require(namespace, KVNamespace, READ, id)
        self._kv.check_read(namespace, id)

    async def get_items(self, namespace: str, id: str, **query: Any) -> ItemPage:
        self._decide.require(namespace, KVNamespace, READ, id)
        return await self._kv.get_items(namespace, id, **query)

    async def get_items_many(
        self, namespace: str, ids: Sequence[str], **query: Any
    ) -> dict[str, ItemPage | Forbidden]:
        """Pages of the records the caller may read; a `Forbidden` for each other one."""
        allowed, refused = self._decide.split(namespace, KVNamespace, ids)
        pages: dict[str, ItemPage | Forbidden] = dict(refused)
        if allowed:
            pages.update(await self._kv.get_items_many(namespace, allowed, **query))
        return pages

    def check_put(self, namespace: str, id: str, items: Sequence[Item]) -> None:
        self._decide.require(namespace, KVNamespace, WRITE, id)
        self._kv.check_put(namespace, id, items)

    async def put_items(
        self, namespace: str, id: str, items: Sequence[Item], token: IdempotencyToken
    ) -> None:
        self._decide.require(namespace, KVNamespace, WRITE, id)
        await self._kv.put_items(namespace, id, items, token)

    def check_delete(self, namespace: str, id: str, **selection: Any) -> None:
        self._decide.require(namespace, KVNamespace, WRITE, id)
        self._kv.check_delete(namespace, id, **selection)

    async def delete_items(
        self, namespace: str, id: str, token: IdempotencyToken, **selection: Any
    ) -> None:
        self._decide.require(namespace, KVNamespace, WRITE, id)
        await self._kv.delete_items(namespace, id, token, **selection)


class CallerTimeSeries:
    """The TimeSeries abstraction as one caller may use it."""

    def __init__(self, ts: TimeSeries, decisions: Decisions) -> None:
        self._ts, self._decide = ts, decisions

    async def read_events(self, namespace: str, series_id: str, **query: Any) -> EventPage:
        self._decide.require(namespace, TimeSeriesNamespace, READ, series_id)
        return await self._ts.read_events(namespace, series_id, **query)

    async def read_events_many(
        self, namespace: str, series_ids: Sequence[str], **query: Any
    ) -> dict[str, EventPage | Forbidden]:
        """Pages of the series the caller may read; a `Forbidden` for each other one."""
        allowed, refused = self._decide.split(namespace, TimeSeriesNamespace, series_ids)
        pages: dict[str, EventPage | Forbidden] = dict(refused)
        if allowed:
            pages.update(await self._ts.read_events_many(namespace, allowed, **query))
        return pages

    async def search_events(self, namespace: str, *args: Any, **query: Any) -> EventPage:
        self._decide.require(namespace, TimeSeriesNamespace, READ)
        return await self._ts.search_events(namespace, *args, **query)

    async def aggregate_distinct(
        self, namespace: str, *args: Any, **query: Any
    ) -> list[tuple[bytes, int]]:
        self._decide.require(namespace, TimeSeriesNamespace, READ)
        return await self._ts.aggregate_distinct(namespace, *args, **query)

    def check_write(self, namespace: str, series_ids: Sequence[str]) -> None:
        """Refuse now a write to these series the caller may not make (nothing else checked)."""
        for series in dict.fromkeys(series_ids):
            self._decide.require(namespace, TimeSeriesNamespace, WRITE, series)

    def check_events(
        self, namespace: str, events: Sequence[Event], *, replay: bool = False
    ) -> None:
        self.check_write(namespace, [e.series_id for e in events])
        self._ts.check_events(namespace, events, replay=replay)

    async def write_events(self, namespace: str, events: Sequence[Event], **options: Any) -> None:
        self.check_write(namespace, [e.series_id for e in events])
        await self._ts.write_events(namespace, events, **options)

    async def write_events_async(
        self, namespace: str, events: Sequence[Event], **options: Any
    ) -> None:
        self.check_write(namespace, [e.series_id for e in events])
        await self._ts.write_events_async(namespace, events, **options)


class CallerCounters:
    """The Distributed Counter abstraction as one caller may use it.

    `derived_from=(namespace, record)` on a write: the add is part of a write to that record
    (recordPlayback's +1s are part of its viewing-history event), allowed to a caller who may
    make that write when this namespace lists the other in `derived_from`.  A write's answer
    (the count after it) is part of the write, so `get(..., after_write=True)` needs the write's
    grant, not a read's.
    """

    def __init__(self, counters: Counters, decisions: Decisions) -> None:
        self._counters, self._decide = counters, decisions

    async def get(
        self, namespace: str, name: str, *, after_write: tuple[str, str] | bool = False
    ) -> int:
        if after_write:
            origin = after_write if isinstance(after_write, tuple) else None
            self._decide.require(namespace, CounterNamespace, WRITE, name, origin)
        else:
            self._decide.require(namespace, CounterNamespace, READ, name)
        return await self._counters.get(namespace, name)

    async def get_many(self, namespace: str, names: Sequence[str]) -> dict[str, Count | Forbidden]:
        """Counts the caller may read; a `Forbidden` for each other counter."""
        allowed, refused = self._decide.split(namespace, CounterNamespace, names)
        counts: dict[str, Count | Forbidden] = dict(refused)
        if allowed:
            counts.update(await self._counters.get_many(namespace, allowed))
        return counts

    def check_add(
        self, namespace: str, name: str, delta: int, *,
        derived_from: tuple[str, str] | None = None,
    ) -> None:
        self._decide.require(namespace, CounterNamespace, WRITE, name, derived_from)
        self._counters.check_add(namespace, name, delta)

    async def add_and_get(
        self, namespace: str, name: str, delta: int, token: IdempotencyToken | None = None, *,
        replay: bool = False, derived_from: tuple[str, str] | None = None,
    ) -> int:
        self._decide.require(namespace, CounterNamespace, WRITE, name, derived_from)
        return await self._counters.add_and_get(namespace, name, delta, token, replay=replay)

    def check_clear(self, namespace: str, name: str) -> None:
        self._decide.require(namespace, CounterNamespace, WRITE, name)
        self._counters.check_clear(namespace, name)

    async def clear(
        self, namespace: str, name: str, token: IdempotencyToken | None = None, *,
        replay: bool = False,
    ) -> None:
        self._decide.require(namespace, CounterNamespace, WRITE, name)
        await self._counters.clear(namespace, name, token, replay=replay)


class CallerAnalytics:
    """Aggregates as one caller may read them: per series (a profile's stats) as the series'
    own read is decided; across series (a title's stats, `aggregateEvents`) with read access
    to the whole namespace, or as any authenticated caller where the namespace has
    `authenticated_aggregates`."""

    def __init__(self, analytics: Analytics, decisions: Decisions) -> None:
        self._analytics, self._decide = analytics, decisions

    async def aggregate_series(
        self, namespace: str, query: Aggregate, series_ids: Sequence[str]
    ) -> dict[str, list[Group] | Forbidden]:
        """The groups of each series the caller may read; a `Forbidden` for each other one."""
        allowed, refused = self._decide.split(namespace, TimeSeriesNamespace, series_ids)
        found: dict[str, list[Group] | Forbidden] = dict(refused)
        if allowed:
            found.update(await self._analytics.aggregate(
                namespace, query, by="series_id", keys=allowed
            ))
        return found

    async def aggregate(
        self, namespace: str, query: Aggregate, *, by: str | None = None,
        keys: Sequence[str] = (),
    ) -> dict[str, list[Group]]:
        self.require_across(namespace)
        return await self._analytics.aggregate(namespace, query, by=by, keys=keys)

    def require_across(self, namespace: str) -> None:
        decide = self._decide
        ns = decide.access.namespaces.get(namespace, TimeSeriesNamespace)
        caller = decide.caller
        if ns.authenticated_aggregates and (caller.authenticated or caller.admin):
            decide.access.decisions.record(ns.name, "aggregate", "allowed")
            return
        decide.require(namespace, TimeSeriesNamespace, READ)


class CallerRelational:
    """The Relational abstraction as one caller may use it: reads need the namespace's read
    grant, transactions its write grant (decided per namespace: tables have no owner)."""

    def __init__(self, relational: Relational, decisions: Decisions) -> None:
        self._rel, self._decide = relational, decisions

    def check_read(self, namespace: str) -> None:
        self._decide.require(namespace, RelationalNamespace, READ)

    def check_write(self, namespace: str) -> None:
        self._decide.require(namespace, RelationalNamespace, WRITE)

    async def get_rows(
        self, namespace: str, table: str, keys: Sequence[Any], *, for_write: bool = False
    ) -> list[Any]:
        """`for_write`: the rows a write reads to decide what to write (payInvoice's invoice),
        part of the write, so the write's grant is what it needs."""
        (self.check_write if for_write else self.check_read)(namespace)
        return await self._rel.get_rows(namespace, table, keys)

    async def query(self, namespace: str, table: str, *args: Any, **query: Any) -> RowPage:
        self.check_read(namespace)
        return await self._rel.query(namespace, table, *args, **query)

    async def query_many(
        self, namespace: str, table: str, *args: Any, **query: Any
    ) -> list[RowPage]:
        self.check_read(namespace)
        return await self._rel.query_many(namespace, table, *args, **query)

    async def sums(self, namespace: str, table: str, *args: Any, **query: Any) -> dict:
        self.check_read(namespace)
        return await self._rel.sums(namespace, table, *args, **query)

    async def transact(self, namespace: str, *args: Any, **options: Any) -> TransactResult:
        self.check_write(namespace)
        return await self._rel.transact(namespace, *args, **options)

    async def recorded(self, namespace: str, key: str, **options: Any) -> TransactResult | None:
        """A transaction's kept result: part of the write, so it needs the write grant."""
        self.check_write(namespace)
        return await self._rel.recorded(namespace, key, **options)


class CallerGateway:
    """The data gateway as one request's caller sees it: the three abstractions, each call
    decided by `Access` first, and the namespaces it may list.  Built per request
    (`DataGateway.for_caller`); resolvers and dataloaders reach the data only through it."""

    def __init__(
        self, kv: KeyValue, timeseries: TimeSeries, counters: Counters, access: Access,
        caller: Caller, analytics: Analytics | None = None,
        relational: Relational | None = None,
    ) -> None:
        self.caller = caller
        self.access = access
        self.namespaces = access.namespaces
        decisions = Decisions(access, caller)
        self.kv = CallerKV(kv, decisions)
        self.timeseries = CallerTimeSeries(timeseries, decisions)
        self.counters = CallerCounters(counters, decisions)
        self.analytics = CallerAnalytics(analytics, decisions) if analytics is not None else None
        self.relational = CallerRelational(relational, decisions) if relational else None

    def readable_namespaces(self) -> Iterator[Namespace]:
        """The public namespaces the caller may read something of."""
        return (ns for ns in self.namespaces if self.access.readable(self.caller, ns))
