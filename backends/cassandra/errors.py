"""Driver errors translated into the store's error family, at the one edge where they surface.

    cassandra.Unavailable, NoHostAvailable,
    connection errors, overloaded / bootstrapping  -> StoreUnavailable  (not enough replicas)
    ReadTimeout, WriteTimeout, OperationTimedOut,
    our own deadline                               -> StoreTimeout      (no answer in time)
    anything else the driver raises                -> StoreError

A missing table is told apart (`MissingTable`) because a slice table that retention has
just dropped is an empty slice to a reader, not a failure.
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
_MISSING_TABLE = ("unconfigured table", "does not exist")


class MissingTable(StoreError):
    """A statement named a table that is not (or no longer) in the schema."""


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
