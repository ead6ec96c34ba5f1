"""Idempotency keys for mutations: the first attempt is claimed once; every retry replays it.

A client sends one `idempotencyKey` per logical write.  The key maps (in the KV namespace
`idempotency`, record `<operation>:<key>`, or `<operation>@<caller>:<key>` for a caller with a
token subject, so keys are each caller's own) to the token and facts of the first attempt, so a
retry writes the very same events and counter adds, and a retry of a write that completed
writes nothing at all.

Claiming.  A request claims its key with `KeyValue.put_if_absent` of its attempt (item
`attempt`: token, facts, digest of the input): atomic across every replica on the store (a
transaction on SQLite, a lightweight transaction at SERIAL on Cassandra).  The winner runs the
mutation's writes with its token.  Anyone else (a retry, a hedge, the same request racing on
another replica) gets the winner's attempt back and follows it: if it is not done, it runs the
same writes again with the winner's token and facts (event ids from the key, event times and
counter deltas from the facts), which the abstractions deduplicate: KV writes are last-write-
wins by token, time-series rows are keyed by `(event_time, event_id, item_key)`, counter adds by
token.  So however many requests carry one key, at once or days apart, its writes apply once.

Completing.  Once every write is durable, the attempt is marked done: item `done`, holding the
attempt's nonce (a plain overwrite; the claimed `attempt` item itself is never written again).
A retry of a done attempt writes nothing.  A request that fails or goes unanswered after its
claim leaves the attempt not done, and its retry completes it.  A fire-and-forget write is
marked done by the buffer, once its events are flushed (`TimeSeries.write_events_async`'s
`on_durable`); events lost with a process or a dropped batch leave it not done, so the retry
writes them again.

Late retries.  An attempt lives for the namespace's TTL (`RETENTION_SECONDS`, 7 days), and a
retry within it completes exactly once however late.  Its writes are replays (`Attempt.retry`):
a time series takes a replay behind its accept window (up to its retention), and counters take
a replayed add the same way.  KV writes need nothing: an old token is accepted, and loses to a
newer write by someone else, as last-write-wins says it must.  A request refused only because it
is late (`begin`'s `check`) is looked up first: a retry of a recorded attempt is let through as
the replay it is.  After the retention, the key is new again.

The attempt also keeps a digest of the mutation's whole input: a request with the same key and
another input is not a retry, and is refused with `IdempotencyKeyReused` rather than answered
with the first result.  Attempts stored before digests were kept have none and are honoured as
before; so are attempts marked done in place (`"d": true`) before the `done` item was kept.

The namespace is internal: no generic field can read, forge or delete an attempt (that would let
a caller suppress or repeat someone else's write); only `DataGateway.system_kv` reaches it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from abstractions.errors import IdempotencyKeyReused, InvalidArgument
from abstractions.gateway import DataGateway
from abstractions.kv import Item
from abstractions.namespaces import KVNamespace, Namespaces
from abstractions.tokens import IdempotencyToken

NAMESPACE = "idempotency"
RETENTION_SECONDS = 7 * 86400
MAX_KEY_LENGTH = 128
ATTEMPT, DONE = b"attempt", b"done"  # the items of one record
_REFUSED_CATEGORIES = ("Cc", "Cs")  # control characters (C0, DEL, C1) and lone surrogates
DEFAULT_NAMESPACE = KVNamespace(
    name=NAMESPACE, internal=True, default_ttl_seconds=RETENTION_SECONDS
)


@dataclass(frozen=True, slots=True)
class Attempt:
    """What a mutation with this key did or is doing: its token, its facts, whether it finished,
    the digest of its input (None for attempts stored before digests were kept), and whether
    this request follows an attempt recorded before it (a retry, or a request racing the first:
    its writes are replays)."""

    token: IdempotencyToken
    facts: dict[str, Any]
    done: bool
    digest: str | None = None
    retry: bool = False


class Idempotency:
    """Claims, follows and completes mutation attempts by `(operation, idempotencyKey)`."""

    def __init__(self, gateway: DataGateway, subject: str | None = None) -> None:
        self._kv = gateway.system_kv
        self._subject = subject

    def _record(self, operation: str, key: str) -> str:
        return record_id(operation, key, self._subject)

    async def begin(
        self,
        operation: str,
        key: str,
        input: object,
        facts: dict[str, Any],
        *,
        check: Callable[[bool], object] | None = None,
    ) -> Attempt:
        """The attempt this request carries out: a new one with `facts` (claimed now), or the
        one recorded first with this key (`retry`), which it must replay.

        `input` is the mutation's whole client input; an earlier attempt with another input is
        refused (`IdempotencyKeyReused`).  Call this after the input has been checked, so a
        refused request leaves no attempt behind.  `check(replay)` is the check that depends
        on when the request comes (an accept window): it is called with False before anything
        is claimed; when it refuses (`InvalidArgument`), a recorded attempt with this key is
        looked for, and a retry of one is checked again as the replay it is (True).
        """
        check_key(key)
        digest = input_digest(input)
        record = self._record(operation, key)
        if check is not None:
            try:
                check(False)
            except InvalidArgument:
                page = await self._kv.get_items(NAMESPACE, record, keys=[ATTEMPT, DONE])
                found = {item.key: item.value for item in page.items}
                if ATTEMPT not in found:
                    raise
                check(True)
                return _followed(operation, key, digest, found[ATTEMPT], found.get(DONE))
        mine = Attempt(IdempotencyToken.new(), facts, False, digest)
        stored = json.dumps(_stored(mine)).encode()
        winner = await self._kv.put_if_absent(NAMESPACE, record, Item(ATTEMPT, stored),
                                              mine.token)
        if winner is None:
            return mine
        page = await self._kv.get_items(NAMESPACE, record, keys=[DONE])
        done = page.items[0].value if page.items else None
        return _followed(operation, key, digest, winner.value, done)

    async def finish(self, operation: str, key: str, attempt: Attempt) -> None:
        """Mark the attempt complete: later retries return without writing."""
        await self._kv.put_items(
            NAMESPACE, self._record(operation, key), [Item(DONE, attempt.token.nonce.encode())],
            IdempotencyToken.new(),
        )


def _stored(attempt: Attempt) -> dict[str, Any]:
    """An attempt as its `attempt` item holds it (`d` for readers that predate `done`)."""
    stored: dict[str, Any] = {"t": attempt.token.generation_time, "n": attempt.token.nonce,
                              "f": attempt.facts, "d": attempt.done}
    if attempt.digest is not None:
        stored["h"] = attempt.digest
    return stored


def _followed(
    operation: str, key: str, digest: str, raw: bytes, done: bytes | None
) -> Attempt:
    """The recorded attempt a retry follows; refused when its input was another."""
    stored = json.loads(raw)
    if stored.get("h") is not None and stored["h"] != digest:
        raise IdempotencyKeyReused(
            f"idempotencyKey {key!r} was already used with a different {operation} "
            "input; send a new key for a new write"
        )
    token = IdempotencyToken(stored["t"], stored["n"])
    # A `done` of another nonce is left from an attempt that expired before it.
    finished = bool(stored["d"]) or done == token.nonce.encode()
    return Attempt(token, stored["f"], finished, stored.get("h"), retry=True)


def record_id(operation: str, key: str, subject: str | None = None) -> str:
    """The record of an attempt.  Keys are the caller's own (its token's subject), as payment
    APIs scope them to an account: one caller's key never meets another's attempt, nor learns
    that it exists."""
    if subject is None:
        return f"{operation}:{key}"
    scope = hashlib.sha256(subject.encode("utf-8", "surrogatepass")).hexdigest()[:24]
    return f"{operation}@{scope}:{key}"


def input_digest(input: object) -> str:
    """SHA-256 of a canonical JSON of a mutation input: every field, nested items included.

    Only what the client sent counts (an omitted `startedAt` digests the same on every retry,
    whatever "now" was); an instant counts, not how it was written (`Z` or `+00:00`).
    """
    plain: object = input
    if dataclasses.is_dataclass(input) and not isinstance(input, type):
        plain = dataclasses.asdict(input)
    text = json.dumps(plain, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      default=_canonical)
    return hashlib.sha256(text.encode()).hexdigest()


def _canonical(value: object) -> object:
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        try:
            return moment.astimezone(UTC).isoformat()
        except OverflowError:  # past the year 9999 in UTC: refused by every write anyway
            return moment.isoformat()
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"cannot digest a {type(value).__name__}")


def with_idempotency_namespace(namespaces: Namespaces) -> Namespaces:
    """`namespaces` with the idempotency namespace (internal: a caller who could write it could
    forge or delete attempts)."""
    return namespaces.with_internal_kv(DEFAULT_NAMESPACE, "the subgraph's idempotency records")


def check_key(key: str) -> None:
    """A key is 1 to 128 characters, not all blank, with no control characters: a blank key is
    almost surely a client bug that would make unrelated writes share one attempt, and control
    characters (and lone surrogates) would not survive logs and stores intact.

    Mutations call this first, before deriving anything (event ids) from the key.
    """
    if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY_LENGTH:
        raise InvalidArgument(f"idempotencyKey must be 1 to {MAX_KEY_LENGTH} characters")
    if key.isspace():
        raise InvalidArgument("idempotencyKey must not be blank")
    if any(unicodedata.category(c) in _REFUSED_CATEGORIES for c in key):
        raise InvalidArgument("idempotencyKey must not contain control characters")
