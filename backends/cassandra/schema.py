"""The Cassandra schema: the keyspace, per-namespace tables, and how they are created.

Tables are per namespace (and per time slice for TimeSeries), so they are created before the
first write that needs them rather than at open: the store does not know the namespaces until
it is called.  Reads never change the schema: a table that does not exist yet reads as empty.

"Does not exist" is decided here, from the schema, never from a failed statement (errors.py):
a table exists when this process made or saw it (`_known`), when the driver's metadata lists
it, or when any host's `system_schema` has it; it does not exist only when every host of the
local datacenter answers that its schema has no such table.  A node whose schema lags (one
restarted after a crash may lack the keyspace for minutes) is one host among those asked, so
it cannot make a table that exists elsewhere read as empty.  Time slices have a list of their
own (`ts_slices`, written after the table is made): an unlisted slice is one with no events.
Creation is `IF NOT EXISTS`, one DDL at a time per process (concurrent DDL on one table races in
Cassandra's schema), and waits for schema agreement (`Database.ddl`).

Table names are unquoted CQL identifiers of at most 48 characters: `<prefix>_<namespace>` or
`<prefix>_<namespace>_<suffix>`.  Namespace names are `[a-z0-9_]{1,48}`; when the whole would be
too long the namespace part is shortened and an 8-hex-digit digest of it keeps names distinct.

Prefixes: kv_ (items), kvc_ (chunks), kvk_ (which keys have chunks), ts_ (one table per slice),
tsi_ (which partitions of the slices a series has),
cl_ (counter event log), cb_ (which log buckets a counter has), cr_ (rollups), ck_ (counter
checkpoints), cf_ (best-effort counters).  Bump SCHEMA_VERSION when a table's shape changes and
add the migration.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
from collections.abc import Iterable

from backends.base import StoreError, StoreUnavailable

from .session import Database

SCHEMA_VERSION = 1
MAX_NAME = 48

_KEYSPACE_TABLES = {
    "schema_meta": "CREATE TABLE IF NOT EXISTS {ks}.schema_meta "
    "(key text PRIMARY KEY, value text)",
    # The time slices of each TimeSeries namespace: a slice is listed only once its table exists.
    "ts_slices": "CREATE TABLE IF NOT EXISTS {ks}.ts_slices "
    "(namespace text, slice bigint, table_name text, PRIMARY KEY ((namespace), slice))",
    # Slices whose partitions the bucket index lists, marked before the table is made, and
    # until when that index is kept (bucket_index.py).
    "ts_indexed": "CREATE TABLE IF NOT EXISTS {ks}.ts_indexed (namespace text, slice bigint,"
    " keep_until bigint, PRIMARY KEY ((namespace), slice))",
}

_KV_TABLES = {
    # `item` packs nonce, metadata and value in one cell (see kv.py: ties resolve whole).
    "kv": "CREATE TABLE IF NOT EXISTS {ks}.{t} (id text, key blob, item blob,"
    " PRIMARY KEY ((id), key)) WITH CLUSTERING ORDER BY (key ASC)",
    # Chunks of large values, one partition per item; `version` sorts like the write stamp.
    "kvc": "CREATE TABLE IF NOT EXISTS {ks}.{t} (id text, key blob, version text, seq int,"
    " data blob, PRIMARY KEY ((id, key), version, seq))",
    # Keys of a record that have (or had) chunks, so deletes find them without a scan.
    "kvk": "CREATE TABLE IF NOT EXISTS {ks}.{t} (id text, key blob, PRIMARY KEY ((id), key))",
}

_COUNTER_TABLES = {
    "cl": "CREATE TABLE IF NOT EXISTS {ks}.{t} (name text, time_bucket bigint,"
    " event_time bigint, event_id text, delta bigint, reset boolean,"
    " PRIMARY KEY ((name, time_bucket), event_time, event_id))",
    "cb": "CREATE TABLE IF NOT EXISTS {ks}.{t} (name text, time_bucket bigint,"
    " PRIMARY KEY ((name), time_bucket))",
    "cr": "CREATE TABLE IF NOT EXISTS {ks}.{t} (name text PRIMARY KEY, count bigint, as_of bigint)",
    "cf": "CREATE TABLE IF NOT EXISTS {ks}.{t} (name text PRIMARY KEY, value counter)",
    "ck": "CREATE TABLE IF NOT EXISTS {ks}.{t} (name text PRIMARY KEY, base_count bigint,"
    " base_as_of bigint, late bigint)",
}

_SLICE_TABLE = (
    "CREATE TABLE IF NOT EXISTS {ks}.{t} (time_series_id text, time_bucket bigint,"
    " event_bucket int, event_time bigint, event_id text, item_key text, value blob,"
    " PRIMARY KEY ((time_series_id, time_bucket, event_bucket), event_time, event_id, item_key))"
    " WITH CLUSTERING ORDER BY (event_time DESC, event_id DESC, item_key ASC)"
)


@functools.lru_cache(maxsize=4096)
def table_name(prefix: str, namespace: str, suffix: str = "") -> str:
    """`prefix_namespace[_suffix]`, shortened with a digest to fit in 48 characters."""
    tail = f"_{suffix}" if suffix else ""
    name = f"{prefix}_{namespace}{tail}"
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(namespace.encode()).hexdigest()[:8]
    room = MAX_NAME - len(prefix) - 1 - len(digest) - len(tail)
    return f"{prefix}_{namespace[:room]}{digest}{tail}"


def kv_table(namespace: str, kind: str = "kv") -> str:
    return table_name(kind, namespace)


def counter_table(namespace: str, kind: str) -> str:
    return table_name(kind, namespace)


def slice_table(namespace: str, slice_start: int) -> str:
    return table_name("ts", namespace, str(slice_start))


class Schema:
    """Creates the keyspace and tables that are missing, and remembers what exists."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._known: set[str] = set()
        self._suspect: set[str] = set()  # not to be believed from the driver's (lagging) metadata
        self._listed: set[str] = set()  # slice tables known to exist AND be listed in ts_slices
        # (namespace, kinds) whose KV or counter tables `ensure` made sure of (kinds are of one
        # abstraction: kv/kvc/kvk and cl/cb/cr/cf do not overlap)
        self._ready: set[tuple[str, tuple[str, ...]]] = set()
        self._lock: asyncio.Lock | None = None

    @property
    def keyspace(self) -> str:
        return self._db.config.keyspace

    async def create_keyspace(self) -> None:
        """The keyspace (NetworkTopologyStrategy, local DC), its shared tables, the version."""
        db = self._db
        if self.keyspace not in db.cluster.metadata.keyspaces:
            dc = db.local_dc()
            rf = db.config.replication_factor
            if rf is None:
                nodes = [h for h in db.cluster.metadata.all_hosts() if h.datacenter == dc]
                rf = max(1, min(3, len(nodes)))
            await self._ddl(
                f"CREATE KEYSPACE IF NOT EXISTS {self.keyspace} WITH replication ="
                f" {{'class': 'NetworkTopologyStrategy', '{dc}': {rf}}}"
            )
        await self.ensure({name: ddl for name, ddl in _KEYSPACE_TABLES.items()})
        await self._check_version()

    async def _check_version(self) -> None:
        db = self._db
        async with db.call("schema version"):
            get = await db.prepare(
                f"SELECT value FROM {self.keyspace}.schema_meta WHERE key = ?", write=False
            )
            rows = await db.rows(db.bind(get, ["schema_version"]), "read schema version")
            if not rows:
                put = await db.prepare(
                    f"INSERT INTO {self.keyspace}.schema_meta (key, value) VALUES (?, ?)",
                    write=True,
                )
                await db.run(db.bind(put, ["schema_version", str(SCHEMA_VERSION)]),
                             "record schema version")
            elif int(rows[0][0]) > SCHEMA_VERSION:
                raise StoreError(
                    f"keyspace {self.keyspace} has schema version {rows[0][0]}, newer than "
                    f"this code ({SCHEMA_VERSION})"
                )

    async def ensure_kv(self, namespace: str, *kinds: str) -> None:
        """The namespace's KV tables of `kinds` (kv, kvc, kvk), made before their first write."""
        if (namespace, kinds) not in self._ready:
            await self.ensure({kv_table(namespace, k): _KV_TABLES[k] for k in kinds})
            self._ready.add((namespace, kinds))

    async def ensure_counter(self, namespace: str, *kinds: str) -> None:
        """The namespace's counter tables of `kinds` (cl, cb, cr, ck, cf)."""
        if (namespace, kinds) not in self._ready:
            await self.ensure({counter_table(namespace, k): _COUNTER_TABLES[k] for k in kinds})
            self._ready.add((namespace, kinds))

    async def ensure_slice(self, namespace: str, slice_start: int) -> str:
        """The slice's table, created (then listed in ts_slices) when missing."""
        name = slice_table(namespace, slice_start)
        if name in self._listed:
            return name
        await self.ensure({name: _SLICE_TABLE})
        db = self._db
        async with db.call("list slice"):
            put = await db.prepare(
                f"INSERT INTO {self.keyspace}.ts_slices (namespace, slice, table_name)"
                " VALUES (?, ?, ?)",
                write=True,
            )
            await db.run(db.bind(put, [namespace, slice_start, name]), "list slice")
        self._listed.add(name)
        return name

    def is_listed(self, name: str) -> bool:
        """Whether this process made sure the slice table exists and is in `ts_slices`."""
        return name in self._listed

    async def has(self, name: str) -> bool:
        """Whether a table exists: known here, in the driver's metadata, or on any host.

        Readers ask before reading a per-namespace table, so reading a namespace that was never
        written costs a local system_schema read per host, not a failed statement (and its
        error log).  No is the answer only when every host asked says so: one whose schema
        lags says no for a table the others have.  A host that cannot answer makes this fail.
        """
        if name in self._known:
            return True
        if name in self._db.table_names() - self._suspect:
            self._known.add(name)
            return True
        db = self._db
        select = await db.prepare(
            "SELECT table_name FROM system_schema.tables"
            " WHERE keyspace_name = ? AND table_name = ?",
            write=False,
        )
        hosts = db.schema_hosts()
        if not hosts:
            raise StoreUnavailable(f"Cassandra schema lookup of {name}: no host is up")
        answers = await asyncio.gather(
            *(db.rows(db.bind(select, [self.keyspace, name]), "schema lookup", host=host)
              for host in hosts),
            return_exceptions=True,
        )
        if any(isinstance(a, list) and a for a in answers):
            self._known.add(name)
            self._suspect.discard(name)
            return True
        for answer in answers:
            if isinstance(answer, BaseException):
                raise answer
        return False

    def forget(self, names: Iterable[str]) -> None:
        """Tables found missing after all: the next `ensure` checks (and creates) them again."""
        self._ready.clear()
        for name in names:
            self._known.discard(name)
            self._listed.discard(name)
            self._suspect.add(name)
            self._db.forget(name)

    async def ensure(self, tables: dict[str, str]) -> None:
        """Create each missing table of `name -> CREATE statement` ({ks}, {t} filled in)."""
        missing = [n for n in tables if n not in self._known]
        if not missing:
            return
        present = self._db.table_names() - self._suspect
        for name in missing:
            if name in present:
                self._known.add(name)
        missing = [n for n in missing if n not in self._known]
        if not missing:
            return
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            for name in missing:
                if name not in self._known:
                    await self._ddl(tables[name].format(ks=self.keyspace, t=name))
                    self._known.add(name)
                    self._suspect.discard(name)

    async def drop(self, names: Iterable[str]) -> None:
        """Drop tables (`IF EXISTS`: a retried or concurrent drop is fine)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            for name in names:
                await self._ddl(f"DROP TABLE IF EXISTS {self.keyspace}.{name}")
                self.forget([name])

    async def _ddl(self, cql: str) -> None:
        await self._db.ddl(cql)
