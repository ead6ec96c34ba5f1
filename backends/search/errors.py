"""Client errors translated into the store's error family, at the one edge where they surface.

Each engine's client raises its own classes (opensearch-py's, elasticsearch-py's and
elastic-transport's); the engine's module says what one amounts to as a `Failure`, and the
failures of both map alike:

    no answer in time (client timeout,
    our deadline), HTTP 408                    -> StoreTimeout      (no answer in time)
    no connection (refused, reset, TLS),
    HTTP 429, 502, 503, 504                    -> StoreUnavailable  (not reachable, overloaded)
    anything else the client raises            -> StoreError

A refused login (HTTP 401), a missing permission (403), a certificate that is not trusted and a
server of the other engine say so first, pointing at the search URL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from backends.base import StoreError, StoreTimeout, StoreUnavailable

_UNAVAILABLE_STATUS = frozenset({429, 502, 503, 504})
_MAX_DETAIL = 500


@dataclass(frozen=True, slots=True)
class Failure:
    """What a client error amounts to, whichever client raised it."""

    status: int | None = None  # the HTTP status of an error answer; None: no answer
    timed_out: bool = False  # no answer in time
    unreachable: bool = False  # no connection: refused, reset, or a TLS handshake that failed
    tls: bool = False  # the TLS handshake failed (so `unreachable` too)
    other_engine: bool = False  # the server answered, but it is not the URL's engine
    body: Any = None  # the JSON of an error answer
    detail: str | None = None  # what went wrong, when the error's own text does not say


def translate(engine: str, what: str, exc: BaseException, failure: Failure) -> StoreError:
    """The store error for a client error raised while doing `what` (most specific first).

    `engine` names the engine in the message ("OpenSearch", "Elasticsearch").
    """
    if isinstance(exc, StoreError):
        return exc
    said = failure.detail or str(exc)
    detail = f"{engine} {what}: {_hint(engine, failure)}{type(exc).__name__}: {said}"
    detail = detail[:_MAX_DETAIL]
    if failure.timed_out or failure.status == 408:
        return StoreTimeout(detail)
    if failure.unreachable or failure.status in _UNAVAILABLE_STATUS:
        return StoreUnavailable(detail)
    return StoreError(detail)


def _hint(engine: str, failure: Failure) -> str:
    """What a person should check, for the errors that come from the search URL itself."""
    if failure.other_engine:
        return (f"the server is not {engine} (the URL's scheme chooses the engine:"
                " opensearch:// or elasticsearch://); ")
    if failure.status == 401:
        return "login refused (401): check the user and password in the search URL; "
    if failure.status == 403:
        return "permission denied (403) to the search URL's user; "
    if failure.tls:
        return (
            "TLS failed (is the server's certificate signed by a CA the search URL's ca option"
            " or the system trusts, for the host name used?); "
        )
    return ""


def shards_starting(failure: Failure | None) -> bool:
    """A search that failed whole because the searched indices' shards are not started yet.

    Both engines answer 503 `search_phase_execution_exception`, "all shards failed", while a
    just-created index allocates its primary.  OpenSearch 2.19 lists no failed shard; an
    Elasticsearch 9.2 answer lists each such shard with `no_shard_available_action_exception`
    (which a shard whose node is gone gives too: that one fails again after the retries).
    """
    if failure is None or failure.status != 503:
        return False
    error = failure.body.get("error") if isinstance(failure.body, dict) else None
    if not isinstance(error, dict) or error.get("type") != "search_phase_execution_exception":
        return False
    failed = error.get("failed_shards") or []
    return all(
        isinstance(shard, dict) and isinstance(shard.get("reason"), dict)
        and shard["reason"].get("type") == "no_shard_available_action_exception"
        for shard in failed
    )


def bulk_error(engine: str, what: str, failures: Sequence[tuple[int, str]]) -> StoreError:
    """One error for the failed actions of a bulk request; retryable ones make it unavailable."""
    status, reason = failures[0]
    detail = f"{engine} {what}: {len(failures)} failed, first ({status}): {reason}"
    detail = detail[:_MAX_DETAIL]
    if any(s in _UNAVAILABLE_STATUS for s, _ in failures):
        return StoreUnavailable(detail)
    return StoreError(detail)
