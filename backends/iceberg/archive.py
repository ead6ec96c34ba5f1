"""The columnar archive: one Apache Iceberg table per analytics namespace (pyiceberg).

A closed slice becomes one partition (`slice`, identity), written as Parquet sorted by series
and time, committed as one append snapshot whose summary carries `data-gateway.slice`.  That
mark is what makes the export idempotent and crash-safe: a slice is exported when a snapshot
of the table's history says so (a rerun skips it), and a process killed between writing its
files and committing them leaves only orphan files, which no snapshot references (the table is
unchanged).  Retention deletes whole partitions in a snapshot marked `data-gateway.retention`.

The catalog is any pyiceberg supports (`catalog_uri`): by default a SQL catalog on a SQLite file
with a warehouse directory beside it, so nothing extra runs; Spark, Trino or DuckDB read the
same table through the same catalog.  Every call blocks (files, the catalog): the abstraction
runs them in a thread.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backends.base import FieldType, StoreError

if TYPE_CHECKING:
    import pyarrow as pa

SLICE_PROPERTY = "data-gateway.slice"
RETENTION_PROPERTY = "data-gateway.retention"
DATABASE = "data_gateway"
IDENTITY = ("slice", "series_id", "event_time", "event_id")
PLAN_SECONDS = 2.0


def _imports() -> Any:
    """pyiceberg and pyarrow, imported when first used (a second to load): an error names
    what to install."""
    try:
        import pyarrow
        import pyiceberg.catalog.sql  # noqa: F401
    except ImportError as exc:  # pragma: no cover - both are dependencies
        raise StoreError(
            f"analytics needs pyiceberg[pyarrow,sql-sqlite] ({exc.name} is missing)"
        ) from exc
    return pyarrow


def arrow_schema(columns: Mapping[str, FieldType]) -> pa.Schema:
    """The table's columns: the event's identity, then one per typed item key."""
    pa = _imports()
    kinds = {
        "keyword": pa.string(),
        "numeric": pa.float64(),
        "date": pa.timestamp("us", tz="UTC"),
    }
    return pa.schema([
        pa.field("slice", pa.int64(), nullable=False),
        pa.field("series_id", pa.string(), nullable=False),
        pa.field("event_time", pa.int64(), nullable=False),
        pa.field("event_id", pa.string(), nullable=False),
        *(pa.field(key, kinds[kind]) for key, kind in columns.items()),
    ])


@dataclass(frozen=True, slots=True)
class _Planned:
    """A namespace's table as last planned: when, its snapshot, and its files by slice."""

    loaded: float
    snapshot_id: int | None
    exported: frozenset[int]
    files: Mapping[int, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Plan:
    """What one aggregate reads from the archive: the slices exported (as of one snapshot) and
    the Parquet files holding the asked interval's part of them."""

    exported: frozenset[int]
    files: tuple[str, ...]


class IcebergArchive:
    """The Iceberg tables of the analytics namespaces, in one catalog."""

    backend = "iceberg"

    def __init__(self, catalog_uri: str, warehouse: str) -> None:
        self.catalog_uri = catalog_uri
        self.warehouse = warehouse
        self._catalog: Any = None
        self._lock = threading.Lock()
        self._plans: dict[str, _Planned] = {}

    @classmethod
    def in_directory(cls, directory: Path) -> IcebergArchive:
        """The default: a SQLite catalog and a warehouse under `directory`."""
        directory = directory.resolve()
        return cls(f"sqlite:///{directory / 'catalog.db'}", (directory / "warehouse").as_uri())

    def _catalog_now(self) -> Any:
        with self._lock:
            if self._catalog is None:
                _imports()
                from pyiceberg.catalog import load_catalog

                if self.catalog_uri.startswith("sqlite:///"):
                    Path(self.catalog_uri[len("sqlite:///"):]).parent.mkdir(
                        parents=True, exist_ok=True
                    )
                if self.warehouse.startswith("file://"):
                    Path(self.warehouse[len("file://"):]).mkdir(parents=True, exist_ok=True)
                kind = "rest" if self.catalog_uri.startswith(("http://", "https://")) else "sql"
                catalog = load_catalog(
                    "data_gateway", type=kind, uri=self.catalog_uri, warehouse=self.warehouse
                )
                catalog.create_namespace_if_not_exists(DATABASE)
                self._catalog = catalog
            return self._catalog

    def table(self, namespace: str, columns: Mapping[str, FieldType]) -> Any:
        """The namespace's table, made on first use (partitioned by slice, sorted by series and
        time); a key added to `search_fields` since is added as a column (older files read it
        as null)."""
        from pyiceberg.exceptions import TableAlreadyExistsError

        catalog = self._catalog_now()
        name = f"{DATABASE}.{namespace}"
        if not catalog.table_exists(name):
            schema, spec, order = _layout(columns)
            try:
                return catalog.create_table(
                    name, schema=schema, partition_spec=spec, sort_order=order
                )
            except TableAlreadyExistsError:  # another process made it first
                pass
        table = catalog.load_table(name)
        have = {f.name for f in table.schema().fields}
        wanted = arrow_schema(columns)
        missing = [f.name for f in wanted if f.name not in have]
        if missing:
            with table.update_schema() as update:
                update.union_by_name(wanted.select(missing))
            table = catalog.load_table(name)
        return table

    def exported(self, table: Any) -> frozenset[int]:
        """The slices a snapshot of `table`'s history committed, less those retention removed."""
        added: set[int] = set()
        cutoff: int | None = None
        for snapshot in table.metadata.snapshots:
            props = snapshot.summary.additional_properties if snapshot.summary else {}
            if SLICE_PROPERTY in props:
                added.add(int(props[SLICE_PROPERTY]))
            if RETENTION_PROPERTY in props:
                mark = int(props[RETENTION_PROPERTY])
                cutoff = mark if cutoff is None else max(cutoff, mark)
        return frozenset(s for s in added if cutoff is None or s >= cutoff)

    def export(
        self,
        namespace: str,
        columns: Mapping[str, FieldType],
        slice_start: int,
        rows: pa.Table,
    ) -> bool:
        """Commit `rows` (one slice's events, `arrow_schema` columns) as the slice's partition,
        unless a snapshot already holds it; True when this call committed it."""
        from pyiceberg.exceptions import CommitFailedException

        for _attempt in range(5):
            table = self.table(namespace, columns)
            if slice_start in self.exported(table):
                return False
            try:
                table.append(
                    _conformed(table, _sorted(rows)),
                    snapshot_properties={SLICE_PROPERTY: str(slice_start)},
                )
                self._forget(namespace)
                return True
            except CommitFailedException:
                continue  # another exporter committed meanwhile: look again
        raise StoreError(f"the analytics table of {namespace!r} kept changing under the export")

    def drop_before(self, namespace: str, columns: Mapping[str, FieldType], cutoff: int) -> None:
        """Delete the partitions of slices starting before `cutoff` (seconds)."""
        from pyiceberg.expressions import LessThan

        table = self.table(namespace, columns)
        if not any(s < cutoff for s in self.exported(table)):
            return
        table.delete(
            LessThan("slice", cutoff), snapshot_properties={RETENTION_PROPERTY: str(cutoff)}
        )
        self._forget(namespace)

    def plan(
        self, namespace: str, columns: Mapping[str, FieldType], first_slice: int, last_slice: int
    ) -> Plan:
        """The exported slices and the data files of slices `first_slice..last_slice`, both
        from one snapshot, so an export committing meanwhile is either wholly in or out.

        The snapshot's files are planned once and kept: the table is looked at again after
        PLAN_SECONDS (or at once after this process exports).  A plan a few seconds old is as
        exact as a new one: the slices it does not hold are read from the primary store, which
        keeps them far longer than that."""
        with self._lock:
            cached = self._plans.get(namespace)
        if cached is None or time.monotonic() - cached.loaded > PLAN_SECONDS:
            table = self.table(namespace, columns)
            snapshot = table.current_snapshot()
            snapshot_id = None if snapshot is None else snapshot.snapshot_id
            if cached is None or cached.snapshot_id != snapshot_id:
                files: dict[int, list[str]] = {}
                if snapshot is not None:
                    for task in table.scan().plan_files():
                        files.setdefault(int(task.file.partition[0]), []).append(
                            _local(task.file.file_path))
                cached = _Planned(time.monotonic(), snapshot_id, self.exported(table),
                                  {k: tuple(v) for k, v in files.items()})
            else:
                cached = dataclasses.replace(cached, loaded=time.monotonic())
            with self._lock:
                self._plans[namespace] = cached
        chosen = tuple(
            f for start, paths in sorted(cached.files.items())
            if first_slice <= start <= last_slice for f in paths
        )
        return Plan(cached.exported, chosen)

    def _forget(self, namespace: str) -> None:
        with self._lock:
            self._plans.pop(namespace, None)

    def size_bytes(self, namespace: str, columns: Mapping[str, FieldType]) -> int:
        """Bytes of the current snapshot's data files (the benchmark's figure)."""
        table = self.table(namespace, columns)
        if table.current_snapshot() is None:
            return 0
        return sum(t.file.file_size_in_bytes for t in table.scan().plan_files())


def _layout(columns: Mapping[str, FieldType]) -> tuple[Any, Any, Any]:
    """A new table's schema, partition spec (identity on `slice`) and sort order."""
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.schema import Schema
    from pyiceberg.table.sorting import SortField, SortOrder
    from pyiceberg.transforms import IdentityTransform
    from pyiceberg.types import DoubleType, LongType, NestedField, StringType, TimestamptzType

    kinds = {"keyword": StringType, "numeric": DoubleType, "date": TimestamptzType}
    fields = [
        NestedField(1, "slice", LongType(), required=True),
        NestedField(2, "series_id", StringType(), required=True),
        NestedField(3, "event_time", LongType(), required=True),
        NestedField(4, "event_id", StringType(), required=True),
        *(NestedField(5 + i, key, kinds[kind](), required=False)
          for i, (key, kind) in enumerate(columns.items())),
    ]
    spec = PartitionSpec(
        PartitionField(source_id=1, field_id=1000, transform=IdentityTransform(), name="slice")
    )
    order = SortOrder(
        SortField(source_id=2, transform=IdentityTransform()),
        SortField(source_id=3, transform=IdentityTransform()),
    )
    return Schema(*fields), spec, order


def _sorted(rows: pa.Table) -> pa.Table:
    return rows.sort_by([("series_id", "ascending"), ("event_time", "ascending"),
                         ("event_id", "ascending")])


def _conformed(table: Any, rows: pa.Table) -> pa.Table:
    """`rows` in the table's columns and types: a column the namespace no longer types is null."""
    import pyarrow as pa
    from pyiceberg.io.pyarrow import schema_to_pyarrow

    declared = schema_to_pyarrow(table.schema(), include_field_ids=False)
    arrays = [
        rows.column(f.name).cast(f.type) if f.name in rows.column_names
        else pa.nulls(rows.num_rows, f.type)
        for f in declared
    ]
    return pa.Table.from_arrays(arrays, schema=declared)


def _local(path: str) -> str:
    """A file URI as DuckDB reads it (a plain path for local files)."""
    return path[len("file://"):] if path.startswith("file://") else path
