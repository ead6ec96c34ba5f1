"""The SQLite schema; bump SCHEMA_VERSION and add a migration when it changes."""

SCHEMA_VERSION = 3
# 2: the item-value index is also by slice (`ts_items_value_slice` replaces `ts_items_value`):
#    a value's events of a few slices are a few ranges, not the value's whole history.
# 3: `ts_events`, each event again as one row (its items packed, `packed.py`), filled from
#    `ts_items` when an older file is opened.

# Statements are split on ";": keep that character out of comments.
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

-- Key-Value: live items and item tombstones (deleted = 1) with their write stamps.
CREATE TABLE IF NOT EXISTS kv_items (
    ns TEXT NOT NULL, id TEXT NOT NULL, key BLOB NOT NULL,
    value BLOB NOT NULL, metadata BLOB NOT NULL,
    ts INTEGER NOT NULL, nonce TEXT NOT NULL,
    expires_at INTEGER, deleted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (ns, id, key)
) WITHOUT ROWID;
-- Record and range deletes: items stamped before `ts` inside [start, end) stay deleted.
CREATE TABLE IF NOT EXISTS kv_tombstones (
    ns TEXT NOT NULL, id TEXT NOT NULL, start BLOB NOT NULL, end_ BLOB,
    ts INTEGER NOT NULL, nonce TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS kv_tombstones_id ON kv_tombstones (ns, id);
CREATE TABLE IF NOT EXISTS kv_chunks (
    ns TEXT NOT NULL, id TEXT NOT NULL, key BLOB NOT NULL, version TEXT NOT NULL,
    seq INTEGER NOT NULL, data BLOB NOT NULL, expires_at INTEGER,
    PRIMARY KEY (ns, id, key, version, seq)
) WITHOUT ROWID;

-- What tombstone collection (kv.py, kv_collect_garbage) looks for, found by age.
CREATE INDEX IF NOT EXISTS kv_items_deleted ON kv_items (ns, ts) WHERE deleted = 1;
CREATE INDEX IF NOT EXISTS kv_items_expiry ON kv_items (ns, expires_at)
    WHERE expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS kv_tombstones_ts ON kv_tombstones (ns, ts);
CREATE INDEX IF NOT EXISTS kv_chunks_expiry ON kv_chunks (ns, expires_at)
    WHERE expires_at IS NOT NULL;

-- TimeSeries: one row per event item, as in Cassandra. `slice` is the retention unit.
CREATE TABLE IF NOT EXISTS ts_items (
    ns TEXT NOT NULL, series TEXT NOT NULL, event_time INTEGER NOT NULL,
    event_id TEXT NOT NULL, item_key TEXT NOT NULL, value BLOB NOT NULL,
    slice INTEGER NOT NULL,
    PRIMARY KEY (ns, series, event_time, event_id, item_key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ts_items_time ON ts_items (ns, event_time);
CREATE INDEX IF NOT EXISTS ts_items_value_slice ON ts_items (ns, item_key, value, slice);
DROP INDEX IF EXISTS ts_items_value;
CREATE INDEX IF NOT EXISTS ts_items_slice ON ts_items (ns, slice);
-- The same events, one row each, their items packed (packed.py): what a page is read from.
-- Written in the same transaction as their item rows.
CREATE TABLE IF NOT EXISTS ts_events (
    ns TEXT NOT NULL, series TEXT NOT NULL, event_time INTEGER NOT NULL,
    event_id TEXT NOT NULL, items BLOB NOT NULL, slice INTEGER NOT NULL,
    PRIMARY KEY (ns, series, event_time, event_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ts_events_slice ON ts_events (ns, slice);
CREATE TABLE IF NOT EXISTS ts_slices (
    ns TEXT NOT NULL, slice INTEGER NOT NULL, PRIMARY KEY (ns, slice)
) WITHOUT ROWID;

-- Distributed Counter: event log, rollups, and best-effort counters.
CREATE TABLE IF NOT EXISTS counter_log (
    ns TEXT NOT NULL, name TEXT NOT NULL, event_time INTEGER NOT NULL, event_id TEXT NOT NULL,
    delta INTEGER NOT NULL, reset INTEGER NOT NULL,
    PRIMARY KEY (ns, name, event_time, event_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counter_rollups (
    ns TEXT NOT NULL, name TEXT NOT NULL, count INTEGER NOT NULL, as_of INTEGER NOT NULL,
    PRIMARY KEY (ns, name)
) WITHOUT ROWID;
-- Per counter: the base (count of every event at or before base_as_of, whose events retention
-- deletes) and the arrival time of the newest event written behind the accept window.
CREATE TABLE IF NOT EXISTS counter_checkpoints (
    ns TEXT NOT NULL, name TEXT NOT NULL, base_count INTEGER, base_as_of INTEGER,
    late INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (ns, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counter_fast (
    ns TEXT NOT NULL, name TEXT NOT NULL, value INTEGER NOT NULL, PRIMARY KEY (ns, name)
) WITHOUT ROWID;
"""
