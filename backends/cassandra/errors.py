"""Driver errors translated into the store's error family, at the one edge where they surface.

    NoHostAvailable whose hosts refused our
    credentials or failed the TLS handshake,
    AuthenticationFailed                           -> StoreRefused      (one line: who, why)
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

import re
import ssl

from cassandra import (
    AuthenticationFailed,
    DriverException,
    InvalidRequest,
    OperationTimedOut,
    Timeout,
    Unavailable,
)
from cassandra.cluster import NoHostAvailable
from cassandra.connection import ConnectionException, ConnectionShutdown
from cassandra.protocol import ErrorMessage, IsBootstrappingErrorMessage, OverloadedErrorMessage

from backends.base import StoreError, StoreRefused, StoreTimeout, StoreUnavailable

from .config import ENV, CassandraConfig

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


def translate(exc: BaseException, what: str, config: CassandraConfig | None = None) -> StoreError:
    """The store error for a driver error raised while doing `what` (most specific first).

    Given the store's `config`, a refusal names the user (and says which setting to fix).
    """
    if isinstance(exc, StoreError):
        return exc
    found = refusal(exc, config)
    if found is not None:
        return found
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


_SSL_REASON = re.compile(r"\[SSL(?:: [A-Z_]+)?\] ([^(]+?)\s*(?:\(_ssl\.c:\d+\))?$")
_CLOSED = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, ConnectionShutdown)


def refusal(exc: BaseException, config: CassandraConfig | None = None) -> StoreRefused | None:
    """A `StoreRefused` when hosts answered but refused the connection for its security.

    The driver reports a failed connect as `NoHostAvailable` with one error per host:
    `AuthenticationFailed` for credentials (or none given to a node that wants them), an
    `ssl.SSLError` (or the OSError it wraps one in) for a failed handshake, and a reset
    connection when a plaintext client meets a TLS-only node.  Credentials are named first:
    that is the likelier mistake when several hosts disagree.
    """
    errors = dict(exc.errors) if isinstance(exc, NoHostAvailable) and exc.errors else {}
    if isinstance(exc, AuthenticationFailed):
        errors = {"?": exc}
    user = config.username if config is not None else None
    auth = sorted(str(ep) for ep, e in errors.items() if isinstance(e, AuthenticationFailed))
    if auth:
        where = ", ".join(auth)
        if config is not None and user is None:
            return StoreRefused(
                f"cassandra at {where} requires a user and password (in the store URL, or "
                f"{ENV['username']} and {ENV['password']})"
            )
        who = f" of user {user!r}" if user is not None else ""
        return StoreRefused(f"cassandra at {where} refused the credentials{who}")
    tls = {str(ep): reason for ep, e in errors.items() if (reason := _tls_reason(e))}
    if tls:
        where = ", ".join(sorted(tls))
        reason = next(iter(tls.values()))
        return StoreRefused(f"TLS with cassandra at {where} failed: {reason}{_tls_hint(reason)}")
    if (
        config is not None and not config.tls and errors
        and all(isinstance(e, _CLOSED) for e in errors.values())
    ):
        where = ", ".join(sorted(str(ep) for ep in errors))
        return StoreRefused(
            f"cassandra at {where} closed the connection before the first answer: it may "
            f"require TLS (tls=1 and tls_ca in the store URL, or {ENV['tls']}=1)"
        )
    return None


def _tls_reason(error: BaseException) -> str | None:
    """What the TLS layer said, when `error` is a failed handshake (else None)."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {error.verify_message}".rstrip(".")
    text = str(error)
    if isinstance(error, ssl.SSLError) or (isinstance(error, OSError) and "[SSL" in text):
        found = _SSL_REASON.search(text)
        return found.group(1).strip().rstrip(".") if found else text
    return None


def _tls_hint(reason: str) -> str:
    if "hostname mismatch" in reason or "IP address mismatch" in reason:
        return (
            " (the node's certificate must name the address connected to; "
            "tls_check_hostname=0 checks the chain only)"
        )
    if "certificate verify failed" in reason or "issuer" in reason:
        return " (tls_ca must be the CA that signed the nodes' certificates)"
    if "WRONG_VERSION_NUMBER" in reason or "wrong version number" in reason:
        return " (the node may not have TLS enabled on its client port)"
    return ""
