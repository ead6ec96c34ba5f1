"""The errors the abstractions raise; the GraphQL layer maps each `code` to `extensions.code`.

::

    DataGatewayError
     ├── ClientError                BAD_USER_INPUT: the request is wrong; retrying will not help
     │    ├── NamespaceError         unknown namespace, or one of another abstraction
     │    ├── InvalidArgument        a value out of range, a malformed key, a bad condition
     │    ├── InvalidPageToken       a page token that was modified or belongs to another query
     │    ├── InvalidIdempotencyToken  generated too far in the future or past the accept window
     │    ├── IdempotencyKeyReused     IDEMPOTENCY_KEY_REUSED: a key sent again with other input
     │    └── TooLarge               a value or a request over the namespace's limits
     ├── Forbidden                  FORBIDDEN: the caller may not read or write this data
     ├── NotFound                   NOT_FOUND
     ├── CounterOverflow            COUNTER_OVERFLOW: a counter's true count left 64 bits
     └── Unavailable                UNAVAILABLE: the store failed or a buffer is full; retry later
          └── Overloaded             the fire-and-forget buffer is full
"""

from __future__ import annotations

from types import TracebackType

from backends.base import StoreError, StoreTimeout


class DataGatewayError(Exception):
    """Base of every error the abstractions raise on purpose."""

    code = "INTERNAL_SERVER_ERROR"


class ClientError(DataGatewayError):
    """The request itself is wrong."""

    code = "BAD_USER_INPUT"


class NamespaceError(ClientError):
    """The namespace does not exist, or belongs to another abstraction."""


class InvalidArgument(ClientError):
    """An argument is malformed or out of range."""


class InvalidPageToken(ClientError):
    """A page token failed its signature check or belongs to another query."""


class InvalidIdempotencyToken(ClientError):
    """An idempotency token's generation time is outside what the namespace accepts."""


class IdempotencyKeyReused(ClientError):
    """A mutation's idempotency key came again with a different input.

    Not a retry, so replaying the first result would hide a client bug (a lost write); a
    distinct code lets the client tell it from a plain bad input, as payment APIs do.
    """

    code = "IDEMPOTENCY_KEY_REUSED"


class TooLarge(ClientError):
    """A value or a request exceeds a configured size limit."""


class Forbidden(DataGatewayError):
    """The caller's token does not grant what the request needs; the message names the scope.

    Not a client error to fix by changing the input: a token with more rights is needed.
    """

    code = "FORBIDDEN"


class NotFound(DataGatewayError):
    """The thing asked for does not exist."""

    code = "NOT_FOUND"


class CounterOverflow(DataGatewayError):
    """A counter's true count is outside the signed 64-bit range, so it has no value to return.

    Neither the request (the counter exists) nor the store (retrying will not help) is at fault:
    the counter reads again once a clear, or adds of the other sign, bring it back in range.
    """

    code = "COUNTER_OVERFLOW"

    def __init__(self, namespace: str, name: str) -> None:
        super().__init__(
            f"counter {name!r} of {namespace!r} left the 64-bit range: clear it, or add deltas "
            "that bring it back"
        )
        self.namespace = namespace
        self.name = name


class Unavailable(DataGatewayError):
    """The store cannot serve the request now; the same request may succeed later."""

    code = "UNAVAILABLE"


class Overloaded(Unavailable):
    """A bounded buffer is full; the write was not accepted."""


class _StoreErrors:
    """What `store_errors()` returns: a class, not a `@contextmanager` generator, since it wraps
    every store call (and one shared instance: it keeps no state)."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        if isinstance(exc, StoreTimeout):
            raise Unavailable("the store did not answer in time; retry later") from exc
        if isinstance(exc, StoreError):
            raise Unavailable("the store is unavailable; retry later") from exc
        return False


_STORE_ERRORS = _StoreErrors()


def store_errors() -> _StoreErrors:
    """Translate a backend's `StoreError` into `Unavailable`, keeping the cause for the logs."""
    return _STORE_ERRORS
