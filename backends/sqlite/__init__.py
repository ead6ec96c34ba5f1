"""The embedded default store: one SQLite file that backs all three abstractions."""

from .counter import SQLiteCounter
from .kv import SQLiteKV
from .timeseries import SQLiteTimeSeries


class SQLiteStore(SQLiteKV, SQLiteTimeSeries, SQLiteCounter):
    """KV, TimeSeries (with search) and Counter storage in one WAL-mode SQLite file."""

    backend = "sqlite"  # the `backend` label of store-call metrics and spans


__all__ = ["SQLiteStore"]
