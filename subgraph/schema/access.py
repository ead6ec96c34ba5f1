"""Authorization published with the schema: `@authenticated` and `@requiresScopes`.

A router with authorization enabled reads them and refuses, before planning, a field the
token cannot reach; the subgraph decides again itself (abstractions/access.py), with the
record in hand.  The scopes of a generic field come from the namespaces it serves: any one of
their scopes (or `gateway:admin`).  A field some namespace opens wider than scopes can say (to
any authenticated caller, or to a record's owner) is only `@authenticated`: the router cannot
see the record, so it must let the request through to the subgraph's own check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from strawberry.federation.schema_directives import Authenticated, RequiresScopes

from abstractions.access import ADMIN_SCOPE, READ, WRITE, Operation, scopes_for
from abstractions.namespaces import Namespace, Namespaces, TimeSeriesNamespace

Directives = Callable[[str], list[object]]
HISTORY = "viewing_history"


@dataclass(frozen=True, slots=True)
class _Reach:
    """What a root field reaches: namespaces of one abstraction, one operation, and whether a
    call names a record (so an owner could be allowed)."""

    abstraction: str
    operation: Operation
    per_record: bool = True
    search_only: bool = False
    only: str | None = None
    aggregates: bool = False


FIELDS: dict[str, _Reach] = {
    "kv_record": _Reach("kv", READ),
    "time_series": _Reach("timeseries", READ),
    "search_events": _Reach("timeseries", READ, per_record=False, search_only=True),
    "distinct_values": _Reach("timeseries", READ, per_record=False, search_only=True),
    "aggregate_events": _Reach("timeseries", READ, per_record=False, aggregates=True),
    "counter": _Reach("counter", READ),
    "counters": _Reach("counter", READ),
    "put_items": _Reach("kv", WRITE),
    "delete_items": _Reach("kv", WRITE),
    "write_events": _Reach("timeseries", WRITE),
    "add_count": _Reach("counter", WRITE),
    "clear_count": _Reach("counter", WRITE),
    "record_playback": _Reach("timeseries", WRITE, only=HISTORY),
    "rows": _Reach("relational", READ, per_record=False),
    "transact": _Reach("relational", WRITE, per_record=False),
    "pay_invoice": _Reach("relational", WRITE, per_record=False, only="billing"),
}


def required_scopes(reach: _Reach, namespaces: Namespaces) -> list[list[str]] | None:
    """`@requiresScopes`' alternatives for a field, or None when scopes cannot express it."""
    scopes = {ADMIN_SCOPE}
    for ns in namespaces:
        if not _reached(reach, ns):
            continue
        if reach.operation == READ and ns.authenticated_read:
            return None
        if reach.aggregates and ns.authenticated_aggregates:
            return None
        if reach.per_record and ns.profile_owned:
            return None
        scopes.update(scopes_for(ns, reach.operation))
    return [[s] for s in sorted(scopes)]


def _reached(reach: _Reach, ns: Namespace) -> bool:
    if ns.abstraction != reach.abstraction or (reach.only and ns.name != reach.only):
        return False
    if reach.aggregates and not (isinstance(ns, TimeSeriesNamespace) and ns.analytics):
        return False
    return not reach.search_only or (isinstance(ns, TimeSeriesNamespace) and ns.search)


def root_directives(namespaces: Namespaces) -> Directives:
    """The directives of each root field (by Python name) for these namespaces."""
    table: dict[str, list[object]] = {}
    for name, reach in FIELDS.items():
        scopes = required_scopes(reach, namespaces.public())
        table[name] = [Authenticated()] + ([RequiresScopes(scopes=scopes)] if scopes else [])
    return lambda field: table.get(field, [Authenticated()])


AUTHENTICATED = Authenticated()
