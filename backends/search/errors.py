"""Client errors translated into the store's error family, at the one edge where they surface.

    ConnectionTimeout, our own deadline,
    HTTP 408                                   -> StoreTimeout      (no answer in time)
    ConnectionError (refused, reset, TLS),
    HTTP 429, 502, 503, 504                    -> StoreUnavailable  (not reachable, overloaded)
    anything else the client raises            -> StoreError

A refused login (HTTP 401), a missing permission (403) and a certificate that is not trusted say
so first, pointing at the search URL's credentials or its `ca` option.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence

from opensearchpy import exceptions as os_errors

from backends.base import StoreError, StoreTimeout, StoreUnavailable

_UNAVAILABLE_STATUS = frozenset({429, 502, 503, 504})
_MAX_DETAIL = 500


def translate(exc: BaseException, what: str) -> StoreError:
    """The store error for a client error raised while doing `what` (most specific first)."""
    if isinstance(exc, StoreError):
        return exc
    detail = f"OpenSearch {what}: {_hint(exc)}{type(exc).__name__}: {exc}"[:_MAX_DETAIL]
    if isinstance(exc, os_errors.ConnectionTimeout | TimeoutError):
        return StoreTimeout(detail)
    if isinstance(exc, os_errors.ConnectionError):
        return StoreUnavailable(detail)
    if isinstance(exc, os_errors.TransportError):
        if exc.status_code == 408:
            return StoreTimeout(detail)
        if exc.status_code in _UNAVAILABLE_STATUS:
            return StoreUnavailable(detail)
    return StoreError(detail)


def _hint(exc: BaseException) -> str:
    """What a person should check, for the errors that come from the search URL's security."""
    if isinstance(exc, os_errors.AuthenticationException):
        return "login refused (401): check the user and password in the search URL; "
    if isinstance(exc, os_errors.AuthorizationException):
        return "permission denied (403) to the search URL's user; "
    if isinstance(exc, os_errors.SSLError) or (
        # the asyncio client raises a plain ConnectionError with aiohttp's TLS error as info
        isinstance(exc, os_errors.ConnectionError) and isinstance(exc.info, ssl.SSLError)
    ):
        return (
            "TLS failed (is the server's certificate signed by a CA the search URL's ca option"
            " or the system trusts, for the host name used?); "
        )
    return ""


def is_client_error(exc: BaseException) -> bool:
    """Whether `exc` comes from the client or the wire (and so must be translated)."""
    return isinstance(exc, os_errors.OpenSearchException | TimeoutError)


def bulk_error(what: str, failures: Sequence[tuple[int, str]]) -> StoreError:
    """One error for the failed actions of a bulk request; retryable ones make it unavailable."""
    status, reason = failures[0]
    detail = f"OpenSearch {what}: {len(failures)} failed, first ({status}): {reason}"
    detail = detail[:_MAX_DETAIL]
    if any(s in _UNAVAILABLE_STATUS for s, _ in failures):
        return StoreUnavailable(detail)
    return StoreError(detail)
