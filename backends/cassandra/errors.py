"""Driver errors translated into the store's error family, at the one edge where they surface.

    cassandra.Unavailable, NoHostAvailable,
    connection errors, overloaded / bootstrapping  -> StoreUnavailable  (not enough replicas)
      "keyspace/table ... does not exist"          ->   MissingTable    (on every host asked)
    ReadTimeout, WriteTimeout, OperationTimedOut,
    our own deadline                               -> StoreTimeout      (no answer in time)
    anything else the driver raises                -> StoreError

"Does not exist" is one coordinator's view of the schema, not the cluster's: a node that was
down or restarted can lack a keyspace or table for minutes (its schema changes were only in a
commitlog whose replay skipped them), and answers every statement naming it so.  The session
(session.py) sends such a statement again to the other hosts, within the call's deadline; only
when every host asked denies the table does `MissingTable` leave it.  It is a `StoreUnavailable`
because that is what it means to a caller who knows the table exists.

An error never becomes an empty answer.  A reader may read a table as empty only on the store's
own metadata (schema.py), never on an error:

- a KV or counter table reads as empty only when no host's schema has it (`Schema.has`, asked
  before the statement is sent), which means the namespace was never written;
- a time slice reads as empty when `ts_slices` does not list it, or when it is listed, every
  host denies it, and retention may already have dropped it (timeseries.py);
- everything else a read is denied is `MissingTable`, which the abstractions answer UNAVAILABLE.
"""

from __future__ import annotations

from cassandra import (
    DriverException,
    InvalidRequest,
    OperationTimedOut,
    Timeout,
    Unavailable,
)
from cassandra.cluster import NoHostAvailable
from cassandra.connection import ConnectionException
from cassandra.protocol import ErrorMessage, IsBootstrappingErrorMessage, OverloadedErrorMessage

from backends.base import StoreError, StoreTimeout, StoreUnavailable

_UNAVAILABLE = (
    Unavailable,
    NoHostAvailable,
    ConnectionException,
    OverloadedErrorMessage,
    IsBootstrappingErrorMessage,
)
_TIMEOUT = (Timeout, OperationTimedOut, TimeoutError)
_MISSING_TABLE = ("unconfigured table", "does not exist")  # Cassandra 4 / 5 wording


class MissingTable(StoreUnavailable):
    """The coordinator(s) asked know no such keyspace or table: their schema lags, or the
    table was dropped.  `host` is the coordinator that answered (when known)."""

    host: object = None


def translate(exc: BaseException, what: str) -> StoreError:
    """The store error for a driver error raised while doing `what` (most specific first)."""
    if isinstance(exc, StoreError):
        return exc
    detail = f"Cassandra {what}: {type(exc).__name__}: {exc}"
    if isinstance(exc, _TIMEOUT):
        return StoreTimeout(detail)
    if isinstance(exc, _UNAVAILABLE):
        return StoreUnavailable(detail)
    if isinstance(exc, InvalidRequest) and any(m in str(exc) for m in _MISSING_TABLE):
        return MissingTable(detail)
    return StoreError(detail)


def is_driver_error(exc: BaseException) -> bool:
    """Whether `exc` comes from the driver or the wire (and so must be translated)."""
    return isinstance(exc, DriverException | NoHostAvailable | ConnectionException | ErrorMessage)
