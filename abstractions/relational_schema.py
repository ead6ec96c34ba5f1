"""The tables of a relational namespace: declared in the namespaces TOML, checked at load.

::

    [namespaces.billing.tables.invoices]
    primary_key = ["account_id", "invoice_id"]
    indexes = { by_status = ["account_id", "status", "issued_at"] }
    columns.account_id = { type = "text", not_null = true }
    columns.amount_cents = { type = "int64", not_null = true, min = 1 }
    columns.amount = { type = "decimal", scale = 2 }
    columns.status = { type = "text", not_null = true, one_of = ["open", "paid", "void"] }

Types: text, int64, decimal (with `scale`, at most 18 digits in all: both engines keep it
exactly), bool, timestamp (an instant: zone-aware in, UTC out), json.  Checks: `not_null`, and
the simple ones `min`, `max` (numbers), `one_of` (text), enforced by the abstraction before any
write.  Every error names the file, the namespace, the table and the column.

A table's spec is also what `plan_migration` compares with the spec the store kept from the
last start: new tables are created, a new nullable column or a new index is added; anything
else (a column dropped or retyped, a key changed, a column made NOT NULL) is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

ColumnType = Literal["text", "int64", "decimal", "bool", "timestamp", "json"]
TYPES = ("text", "int64", "decimal", "bool", "timestamp", "json")
MAX_DIGITS = 18
_NAME_OK = set("abcdefghijklmnopqrstuvwxyz0123456789_")
VERSION = "_version"  # the hidden row version every table has (optimistic concurrency)


class TableConfigError(ValueError):
    """A table declaration is malformed; the message names where."""


@dataclass(frozen=True, slots=True)
class Column:
    """One column: its type, and the checks the abstraction makes before writing it."""

    name: str
    type: ColumnType
    scale: int = 0
    not_null: bool = False
    min: int | float | None = None
    max: int | float | None = None
    one_of: tuple[str, ...] | None = None

    def stored(self) -> dict[str, Any]:
        """What the store must keep for this column (checks may change freely)."""
        return {"type": self.type, "scale": self.scale, "not_null": self.not_null}


@dataclass(frozen=True, slots=True)
class Table:
    """A declared table: columns in declaration order, primary key, named secondary indexes."""

    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    indexes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Derived once (rows are read by the thousand): column names, and the same plus the version.
    names: tuple[str, ...] = field(init=False, repr=False, compare=False)
    row_names: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _by_name: Mapping[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = tuple(c.name for c in self.columns)
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "row_names", (*names, VERSION))
        object.__setattr__(self, "_by_name", {c.name: c for c in self.columns})

    def column(self, name: str) -> Column | None:
        return self._by_name.get(name)

    def spec(self) -> dict[str, Any]:
        """The table as the store keeps it between starts (JSON)."""
        return {
            "columns": {c.name: c.stored() for c in self.columns},
            "primary_key": list(self.primary_key),
            "indexes": {k: list(v) for k, v in self.indexes.items()},
        }


@dataclass(frozen=True, slots=True)
class Migration:
    """What to do to one table: create it, or add columns and indexes to it."""

    table: Table
    create: bool = False
    add_columns: tuple[Column, ...] = ()
    add_indexes: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.create or self.add_columns or self.add_indexes)


def _name(value: str, what: str, where: str) -> None:
    if not value or not set(value) <= _NAME_OK or len(value) > 48 or value[0].isdigit():
        raise TableConfigError(f"{where}: {what} {value!r} must be 1-48 characters of a-z, "
                               "0-9 and _, not starting with a digit")
    if value.startswith("_"):
        raise TableConfigError(f"{where}: {what} {value!r} must not start with _ (reserved)")


def _column(name: str, spec: Any, where: str) -> Column:
    where = f"{where}: column {name!r}"
    _name(name, "column name", where)
    if not isinstance(spec, dict):
        raise TableConfigError(f"{where}: must be a table like {{ type = \"text\" }}")
    unknown = set(spec) - {"type", "scale", "not_null", "min", "max", "one_of"}
    if unknown:
        raise TableConfigError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    kind = spec.get("type")
    if kind not in TYPES:
        raise TableConfigError(f"{where}: key 'type' must be one of {', '.join(TYPES)}")
    scale = spec.get("scale", 0)
    if "scale" in spec and kind != "decimal":
        raise TableConfigError(f"{where}: key 'scale' is only for decimal columns")
    if isinstance(scale, bool) or not isinstance(scale, int) or not 0 <= scale <= MAX_DIGITS - 1:
        raise TableConfigError(f"{where}: key 'scale' must be an integer from 0 to 17")
    not_null = spec.get("not_null", False)
    if not isinstance(not_null, bool):
        raise TableConfigError(f"{where}: key 'not_null' must be true or false")
    bounds: dict[str, int | float | None] = {}
    for key in ("min", "max"):
        value = spec.get(key)
        if value is not None:
            if kind not in ("int64", "decimal"):
                raise TableConfigError(f"{where}: key {key!r} is only for int64 and decimal")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TableConfigError(f"{where}: key {key!r} must be a number")
        bounds[key] = value
    one_of = spec.get("one_of")
    if one_of is not None:
        if kind != "text":
            raise TableConfigError(f"{where}: key 'one_of' is only for text columns")
        if not isinstance(one_of, list) or not one_of or not all(
            isinstance(v, str) for v in one_of
        ):
            raise TableConfigError(f"{where}: key 'one_of' must be a non-empty array of strings")
        one_of = tuple(one_of)
    return Column(name, kind, scale, not_null, bounds["min"], bounds["max"], one_of)


def parse_table(name: str, spec: Any, where: str) -> Table:
    """One `[namespaces.NS.tables.NAME]` table; `where` names the file and the namespace."""
    where = f"{where}: table {name!r}"
    _name(name, "table name", where)
    if not isinstance(spec, dict):
        raise TableConfigError(f"{where}: must be a table")
    unknown = set(spec) - {"columns", "primary_key", "indexes"}
    if unknown:
        raise TableConfigError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    raw = spec.get("columns")
    if not isinstance(raw, dict) or not raw:
        raise TableConfigError(f"{where}: key 'columns' must name at least one column")
    if len(raw) > 64:
        raise TableConfigError(f"{where}: at most 64 columns")
    columns = tuple(_column(n, s, where) for n, s in raw.items())
    known = {c.name for c in columns}

    def column_list(value: Any, what: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise TableConfigError(f"{where}: {what} must be a non-empty array of column names")
        for v in value:
            if v not in known:
                raise TableConfigError(f"{where}: {what}: column {v!r} is not declared")
        if len(set(value)) != len(value):
            raise TableConfigError(f"{where}: {what} names a column twice")
        return tuple(value)

    pk = column_list(spec.get("primary_key"), "key 'primary_key'")
    for column in columns:
        if column.name in pk and column.type == "json":
            raise TableConfigError(f"{where}: column {column.name!r}: a json column cannot be "
                                   "in the primary key")
    indexes: dict[str, tuple[str, ...]] = {}
    raw_indexes = spec.get("indexes", {})
    if not isinstance(raw_indexes, dict):
        raise TableConfigError(f"{where}: key 'indexes' must be a table of name = [columns]")
    for index, cols in raw_indexes.items():
        _name(index, "index name", where)
        indexes[index] = column_list(cols, f"index {index!r}")
        for col in indexes[index]:
            if next(c for c in columns if c.name == col).type == "json":
                raise TableConfigError(f"{where}: index {index!r}: json column {col!r} "
                                       "cannot be indexed")
    # The key's columns are NOT NULL whatever the file says: a key identifies one row.
    columns = tuple(
        Column(c.name, c.type, c.scale, True, c.min, c.max, c.one_of) if c.name in pk else c
        for c in columns
    )
    return Table(name, columns, pk, indexes)


def plan_migration(table: Table, stored: Mapping[str, Any] | None, where: str) -> Migration:
    """What to change so the store holds `table`, given the spec it kept (None: no table).

    Only additive changes; anything else raises `TableConfigError` naming the column.
    """
    if stored is None:
        return Migration(table, create=True)
    where = f"{where}: table {table.name!r}"
    if list(table.primary_key) != list(stored["primary_key"]):
        raise TableConfigError(
            f"{where}: primary key {list(table.primary_key)} differs from the stored table's "
            f"{stored['primary_key']}: changing a key is refused (make a new table)"
        )
    old_columns = stored["columns"]
    for name in old_columns:
        if table.column(name) is None:
            raise TableConfigError(
                f"{where}: column {name!r} is in the stored table but not declared: dropping a "
                "column is refused (declare it again)"
            )
    added: list[Column] = []
    for column in table.columns:
        old = old_columns.get(column.name)
        if old is None:
            if column.not_null:
                raise TableConfigError(
                    f"{where}: column {column.name!r} is new and NOT NULL: existing rows have "
                    "no value for it; add it nullable"
                )
            added.append(column)
            continue
        if old["type"] != column.type or old["scale"] != column.scale:
            raise TableConfigError(
                f"{where}: column {column.name!r} is stored as {old['type']} (scale "
                f"{old['scale']}), declared {column.type} (scale {column.scale}): changing a "
                "column's type is refused"
            )
        if column.not_null and not old["not_null"]:
            raise TableConfigError(
                f"{where}: column {column.name!r} was nullable: making it NOT NULL is refused"
            )
        if old["not_null"] and not column.not_null:
            raise TableConfigError(
                f"{where}: column {column.name!r} is NOT NULL in the store: relaxing it is "
                "refused (declare not_null = true)"
            )
    old_indexes = stored["indexes"]
    new_indexes: list[str] = []
    for index, cols in table.indexes.items():
        if index not in old_indexes:
            new_indexes.append(index)
        elif list(cols) != list(old_indexes[index]):
            raise TableConfigError(
                f"{where}: index {index!r} has other columns than the stored one: give the "
                "new index another name"
            )
    return Migration(table, add_columns=tuple(added), add_indexes=tuple(new_indexes))
