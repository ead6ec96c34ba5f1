"""The control plane: named datasets, their abstraction and settings, loaded from TOML.

Every setting is checked at load; an error names the file, the namespace and the key, so a bad
deployment fails at start-up rather than on the first request that touches it.

A namespace with `internal = true` holds the system's own records (idempotency attempts, keys):
`Namespaces.get` answers it exactly as an unknown name and listing skips it, so no caller can
name it; only a `system()` view, held by the system's own code, reaches it.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, TypeVar

from backends.base import FieldType, TimeSeriesLayout

from .errors import NamespaceError
from .relational_schema import Table, TableConfigError, parse_table

DEFAULT_FILE = Path(__file__).with_name("namespaces.toml")
ENV_VAR = "SUBGRAPH_NAMESPACES"
MiB = 1024 * 1024

# The analytics table's own columns (and `day`, a group key): no item key may take their names.
RESERVED_COLUMNS = frozenset({"series_id", "event_time", "event_id", "slice", "day"})

Abstraction = Literal["kv", "timeseries", "counter", "relational"]
CounterMode = Literal["best_effort", "eventual", "accurate"]


class NamespaceConfigError(ValueError):
    """A namespaces file is malformed; the message names the file, namespace and key."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Settings shared by every namespace."""

    max_clock_skew_seconds: float = 1.0

    @property
    def max_future_micros(self) -> int:
        return int(self.max_clock_skew_seconds * 1_000_000)


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessPolicy:
    """Who may read and write a namespace (abstractions/access.py decides from it).

    `read_scopes` / `write_scopes`: any one of them grants the operation (default
    `<namespace>:read` / `<namespace>:write`); `authenticated_read`: any authenticated caller may
    read; `profile_owned`: a caller whose `profile_ids` claim holds a record's id (KV id, series
    id, counter name) may read and write that record; `derived_from`: namespaces whose writes
    update this one (a caller allowed to write a record there may make the matching update
    here, as recordPlayback adds to the play counters).  `gateway:admin` grants everything.
    """

    read_scopes: tuple[str, ...] | None = None
    write_scopes: tuple[str, ...] | None = None
    authenticated_read: bool = False
    profile_owned: bool = False
    derived_from: tuple[str, ...] = ()
    # Aggregates across every series (counts and sums, never an event) for any authenticated
    # caller (TimeSeries namespaces with analytics: a title's viewing stats).
    authenticated_aggregates: bool = False


@dataclass(frozen=True, slots=True)
class KVNamespace(AccessPolicy):
    """A Key-Value dataset: `id -> sorted map(key -> value)`."""

    name: str
    abstraction: Literal["kv"] = "kv"
    internal: bool = False
    compress_over_bytes: int = 4096
    chunk_threshold_bytes: int = MiB
    chunk_size_bytes: int = 256 * 1024
    max_value_bytes: int = 16 * MiB
    max_request_bytes: int = 32 * MiB
    max_items_per_request: int = 1000
    max_key_bytes: int = 1024
    page_items: int = 100
    max_page_items: int = 1000
    page_bytes: int = 2 * MiB
    default_ttl_seconds: int = 0
    # Deletes and expired items leave tombstones, collected this long after their write; writes
    # older than this are refused, so none can come back once its tombstone is gone.  Cassandra's
    # default gc_grace_seconds, and longer than idempotency keys are kept (a retry reuses the
    # first attempt's token).
    tombstone_gc_seconds: int = 864000
    # Look-aside cache of first pages (abstractions/cache.py): 0 is off.  Rows larger than
    # `cache_max_value_bytes` are not cached (memcached keeps at most 1 MiB per entry).
    cache_ttl_seconds: int = 0
    cache_max_value_bytes: int = 256 * 1024


@dataclass(frozen=True, slots=True)
class TimeSeriesNamespace(AccessPolicy):
    """An event-series dataset split into time slices."""

    name: str
    abstraction: Literal["timeseries"] = "timeseries"
    internal: bool = False
    seconds_per_slice: int = 86400
    seconds_per_bucket: int = 3600
    event_buckets: int = 4
    retention_days: float = 30.0
    accept_window_seconds: float = 86400.0
    search: bool = False
    search_fields: Mapping[str, FieldType] = field(default_factory=dict)
    search_refresh_seconds: float = 1.0
    max_events_per_write: int = 1000
    max_items_per_event: int = 64
    max_item_bytes: int = 64 * 1024
    page_events: int = 20
    max_page_events: int = 1000
    buffer_capacity: int = 10_000
    flush_interval_seconds: float = 0.05
    flush_batch_size: int = 500
    # Columnar analytics (abstractions/analytics.py): closed slices are copied into an Iceberg
    # table, kept `analytics_retention_days` (at least the primary's retention), and aggregates
    # read it plus the still-open slices.
    analytics: bool = False
    analytics_retention_days: float = 365.0
    analytics_export_interval_seconds: float = 300.0
    analytics_max_interval_days: float = 400.0
    analytics_max_groups: int = 10_000

    @property
    def layout(self) -> TimeSeriesLayout:
        return TimeSeriesLayout(
            seconds_per_slice=self.seconds_per_slice,
            seconds_per_bucket=self.seconds_per_bucket,
            event_buckets=self.event_buckets,
            retention_seconds=int(self.retention_days * 86400),
        )


@dataclass(frozen=True, slots=True)
class CounterNamespace(AccessPolicy):
    """A distributed-counter dataset in one of three consistency modes."""

    name: str
    abstraction: Literal["counter"] = "counter"
    internal: bool = False
    mode: CounterMode = "eventual"
    accept_window_seconds: float = 5.0
    rollup_interval_seconds: float = 1.0
    max_counters_per_request: int = 1000
    # How long the event log keeps an event (then only its checkpoint does), and how late a
    # retry may still be applied: 7 days, the idempotency keys' retention.
    log_retention_seconds: float = 7 * 86400.0
    # best_effort: keep the counters in the cache engine (memcached incr/decr) with this TTL
    # instead of the store (see abstractions/counter.py for what may be lost); eventual: cache
    # each rollup this long.  0 is off; accurate counters refuse it.
    cache_ttl_seconds: int = 0


@dataclass(frozen=True, slots=True)
class RelationalNamespace(AccessPolicy):
    """Tables with typed columns, keys and indexes, written in transactions
    (abstractions/relational.py); `tables` come from `[namespaces.NAME.tables.TABLE]`."""

    name: str
    abstraction: Literal["relational"] = "relational"
    internal: bool = False
    tables: Mapping[str, Table] = field(default_factory=dict)
    max_operations: int = 100
    max_keys_per_request: int = 1000
    page_rows: int = 20
    max_page_rows: int = 1000
    # How long a transaction's idempotency key is kept (and its result replayed): 7 days.
    idempotency_retention_seconds: float = 7 * 86400.0

    def table(self, name: str) -> Table:
        from .errors import InvalidArgument

        found = self.tables.get(name)
        if found is None:
            raise InvalidArgument(f"namespace {self.name!r} has no table {name!r}")
        return found


Namespace = KVNamespace | TimeSeriesNamespace | CounterNamespace | RelationalNamespace
N = TypeVar("N", KVNamespace, TimeSeriesNamespace, CounterNamespace, RelationalNamespace)
_CLASSES: dict[str, type[Namespace]] = {
    "kv": KVNamespace,
    "timeseries": TimeSeriesNamespace,
    "counter": CounterNamespace,
    "relational": RelationalNamespace,
}
_NAME_OK = set("abcdefghijklmnopqrstuvwxyz0123456789_")

# Checks beyond the type: each returns an error text or None.
Check = Callable[[Any], str | None]


def _positive(v: Any) -> str | None:
    return None if v > 0 else "must be greater than 0"


def _non_negative(v: Any) -> str | None:
    return None if v >= 0 else "must be 0 or more"


def _one_of(*choices: str) -> Check:
    return lambda v: None if v in choices else f"must be one of {', '.join(choices)}"


def _field_types(v: Any) -> str | None:
    if not isinstance(v, dict):
        return "must be a table of item key = keyword | numeric | date"
    bad = [k for k, t in v.items() if t not in ("keyword", "numeric", "date")]
    return f"field {bad[0]!r} must be keyword, numeric or date" if bad else None


_SCOPE_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:.-/*")


def _scopes(v: Any) -> str | None:
    """OAuth scopes: the `scope` claim is space-separated, so a scope holds no space."""
    if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
        return "must be an array of scope strings"
    bad = [s for s in v if not s or len(s) > 128 or not set(s) <= _SCOPE_OK]
    return (
        f"scope {bad[0]!r} must be 1-128 characters of letters, digits and _ : . - / *"
        if bad else None
    )


def _names(v: Any) -> str | None:
    if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
        return "must be an array of namespace names"
    return None


_CHECKS: dict[str, Check] = {
    "read_scopes": _scopes,
    "write_scopes": _scopes,
    "derived_from": _names,
    "mode": _one_of("best_effort", "eventual", "accurate"),
    "search_fields": _field_types,
    "default_ttl_seconds": _non_negative,
    "compress_over_bytes": _non_negative,
    "cache_ttl_seconds": _non_negative,
    "cache_max_value_bytes": lambda v: None if 0 < v <= 1000 * 1024 else
    "must be between 1 and 1024000 (memcached's largest entry, less room for its key)",
}


def _check_value(cls: type, key: str, value: Any) -> str | None:
    default = next(f for f in fields(cls) if f.name == key)
    sample = default.default if default.default_factory is MISSING else default.default_factory()
    if isinstance(sample, bool):
        if not isinstance(value, bool):
            return "must be true or false"
    elif isinstance(sample, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "must be a number"
        if not math.isfinite(value):
            return "must be a finite number"
    elif isinstance(sample, int):
        if isinstance(value, bool) or not isinstance(value, int):
            return "must be an integer"
    elif isinstance(sample, str) and not isinstance(value, str):
        return "must be a string"
    check = _CHECKS.get(key) or (_positive if isinstance(sample, int | float) else None)
    return check(value) if check and not isinstance(sample, bool) else None



class Namespaces:
    """The loaded namespaces, looked up by name and abstraction on every call.

    A view: the public one (the default) hides internal namespaces from `get`, iteration and
    `len`, so every abstraction built over it refuses them as unknown; `system()` is the view
    that includes them.  `all()` is every namespace, for what the system does with each one
    (tables at start-up, retention) whatever the view.
    """

    def __init__(
        self,
        namespaces: Mapping[str, Namespace],
        settings: Settings,
        source: str,
        *,
        system: bool = False,
    ) -> None:
        self._by_name = dict(namespaces)
        self.settings = settings
        self.source = source
        self._system = system

    def __iter__(self) -> Iterator[Namespace]:
        return (ns for ns in self._by_name.values() if self._system or not ns.internal)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def all(self) -> Iterator[Namespace]:
        """Every namespace, internal ones included."""
        return iter(self._by_name.values())

    def get(self, name: str, kind: type[N]) -> N:
        """The namespace `name`, which must belong to the abstraction of `kind`.

        An internal namespace is unknown to the public view: the same error, and no hint of
        its abstraction.
        """
        ns = self._by_name.get(name)
        if ns is None or (ns.internal and not self._system):
            raise NamespaceError(f"unknown namespace {name!r}")
        if not isinstance(ns, kind):
            raise NamespaceError(
                f"namespace {name!r} is a {ns.abstraction} namespace, "
                f"not {kind.__dataclass_fields__['abstraction'].default}"
            )
        return ns

    def lookup(self, name: str) -> Namespace | None:
        """The namespace `name` of any abstraction, or None (also for an internal one in the
        public view)."""
        ns = self._by_name.get(name)
        return None if ns is None or (ns.internal and not self._system) else ns

    def public(self) -> Namespaces:
        """The view callers reach: internal namespaces are unknown to it."""
        return self if not self._system else self._view(system=False)

    def system(self) -> Namespaces:
        """The view of the system's own code, which also reaches internal namespaces."""
        return self if self._system else self._view(system=True)

    def with_overrides(self, *extra: Namespace) -> Namespaces:
        """A copy with namespaces added or replaced (tests and tools), in the same view."""
        merged = dict(self._by_name)
        merged.update({ns.name: ns for ns in extra})
        return Namespaces(merged, self.settings, self.source, system=self._system)

    def with_internal_kv(self, shipped: KVNamespace, holds: str) -> Namespaces:
        """A copy with the system's own KV namespace `shipped`, unless the file declares it.

        A declared one must be an internal KV namespace, else start-up fails (naming what it
        `holds`): silently changing what an operator wrote would hide the mistake, and leaving
        it reachable would let callers read or forge what the system keeps there.
        """
        declared = next((ns for ns in self.all() if ns.name == shipped.name), None)
        if declared is None:
            return self.with_overrides(shipped)
        if not isinstance(declared, KVNamespace) or not declared.internal:
            raise NamespaceConfigError(
                f"{self.source}: namespace {shipped.name!r} holds {holds}: declare it with "
                'abstraction = "kv" and internal = true, or leave it out to get the shipped one'
            )
        return self

    def _view(self, *, system: bool) -> Namespaces:
        return Namespaces(self._by_name, self.settings, self.source, system=system)


def load_namespaces(path: str | Path | None = None) -> Namespaces:
    """Load and validate `path`, else `$SUBGRAPH_NAMESPACES`, else the shipped default."""
    chosen = Path(path or os.environ.get(ENV_VAR) or DEFAULT_FILE)
    try:
        data = tomllib.loads(chosen.read_text())
    except OSError as exc:
        raise NamespaceConfigError(f"{chosen}: cannot read: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise NamespaceConfigError(f"{chosen}: not valid TOML: {exc}") from exc
    return parse_namespaces(data, str(chosen))


def parse_namespaces(data: Mapping[str, Any], source: str) -> Namespaces:
    """Validate parsed TOML; every error names `source`, the namespace and the key."""
    unknown_top = set(data) - {"settings", "namespaces"}
    if unknown_top:
        raise NamespaceConfigError(f"{source}: unknown table {sorted(unknown_top)[0]!r}")
    settings = _parse_settings(data.get("settings", {}), source)
    tables = data.get("namespaces", {})
    if not isinstance(tables, dict) or not tables:
        raise NamespaceConfigError(f"{source}: no [namespaces.NAME] tables")
    parsed: dict[str, Namespace] = {}
    for name, table in tables.items():
        parsed[name] = _parse_namespace(name, table, source)
    for ns in parsed.values():
        for origin in ns.derived_from:
            found = parsed.get(origin)
            if found is None or found.internal or origin == ns.name:
                raise NamespaceConfigError(
                    f"{source}: namespace {ns.name!r}: key 'derived_from' names {origin!r}, "
                    "which is not another public namespace of this file"
                )
    return Namespaces(parsed, settings, source)


def _parse_settings(table: Any, source: str) -> Settings:
    if not isinstance(table, dict):
        raise NamespaceConfigError(f"{source}: [settings] must be a table")
    for key, value in table.items():
        if key not in Settings.__dataclass_fields__:
            raise NamespaceConfigError(f"{source}: [settings]: unknown key {key!r}")
        error = _check_value(Settings, key, value)
        if error:
            raise NamespaceConfigError(f"{source}: [settings]: key {key!r} {error}")
    return Settings(**table)


def _parse_namespace(name: str, table: Any, source: str) -> Namespace:
    where = f"{source}: namespace {name!r}"
    if not name or not set(name) <= _NAME_OK or len(name) > 48:
        raise NamespaceConfigError(
            f"{where}: name must be 1-48 characters of a-z, 0-9 and _"
        )
    if not isinstance(table, dict):
        raise NamespaceConfigError(f"{where}: must be a table")
    kind = table.get("abstraction")
    if kind not in _CLASSES:
        raise NamespaceConfigError(
            f"{where}: key 'abstraction' must be one of kv, timeseries, counter, relational"
        )
    cls = _CLASSES[kind]
    allowed = {f.name for f in fields(cls)} - {"name"}
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in allowed:
            raise NamespaceConfigError(f"{where}: unknown key {key!r} for a {kind} namespace")
        if key == "tables" and kind == "relational":
            values[key] = _parse_tables(value, where)
        elif key != "abstraction":
            error = _check_value(cls, key, value)
            if error:
                raise NamespaceConfigError(f"{where}: key {key!r} {error}")
            values[key] = tuple(value) if isinstance(value, list) else value
    ns = cls(name=name, **values)
    _check_relations(ns, where)
    return ns


def _parse_tables(value: Any, where: str) -> dict[str, Table]:
    if not isinstance(value, dict) or not value:
        raise NamespaceConfigError(f"{where}: key 'tables' must hold at least one table")
    try:
        return {name: parse_table(name, spec, where) for name, spec in value.items()}
    except TableConfigError as exc:
        raise NamespaceConfigError(str(exc)) from exc


def _check_relations(ns: Namespace, where: str) -> None:
    """Settings that are only valid together."""
    if isinstance(ns, TimeSeriesNamespace):
        if ns.seconds_per_slice % ns.seconds_per_bucket:
            raise NamespaceConfigError(
                f"{where}: key 'seconds_per_bucket' must divide seconds_per_slice"
            )
        if ns.search_fields and not (ns.search or ns.analytics):
            raise NamespaceConfigError(
                f"{where}: key 'search_fields' needs search = true or analytics = true"
            )
        if ns.analytics and ns.analytics_retention_days < ns.retention_days:
            raise NamespaceConfigError(
                f"{where}: key 'analytics_retention_days' must be at least retention_days"
            )
        reserved = sorted(set(ns.search_fields) & RESERVED_COLUMNS) if ns.analytics else []
        if reserved:
            raise NamespaceConfigError(
                f"{where}: key 'search_fields': {reserved[0]!r} is an analytics column of its "
                "own (series_id, event_time, event_id, slice, day); rename the item key"
            )
    if isinstance(ns, KVNamespace):
        if ns.chunk_size_bytes > ns.chunk_threshold_bytes:
            raise NamespaceConfigError(
                f"{where}: key 'chunk_size_bytes' must not exceed chunk_threshold_bytes"
            )
        if ns.page_items > ns.max_page_items:
            raise NamespaceConfigError(f"{where}: key 'page_items' must not exceed max_page_items")
    if isinstance(ns, CounterNamespace) and ns.cache_ttl_seconds and ns.mode == "accurate":
        raise NamespaceConfigError(
            f"{where}: key 'cache_ttl_seconds' is for best_effort and eventual counters (an "
            "accurate count reads the log since its rollup at every read)"
        )
    if isinstance(ns, CounterNamespace) and ns.log_retention_seconds < ns.accept_window_seconds:
        raise NamespaceConfigError(
            f"{where}: key 'log_retention_seconds' must be at least accept_window_seconds"
        )
    if isinstance(ns, RelationalNamespace):
        if not ns.tables:
            raise NamespaceConfigError(f"{where}: key 'tables' must hold at least one table")
        if ns.page_rows > ns.max_page_rows:
            raise NamespaceConfigError(f"{where}: key 'page_rows' must not exceed max_page_rows")
    if isinstance(ns, TimeSeriesNamespace) and ns.page_events > ns.max_page_events:
        raise NamespaceConfigError(f"{where}: key 'page_events' must not exceed max_page_events")
