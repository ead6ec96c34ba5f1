"""Idempotency keys for mutations: the first attempt's token is reused by every retry.

A client sends one `idempotencyKey` per logical write.  The key maps (in the KV namespace
`idempotency`) to the token and facts of the first attempt, so a retry writes the very same
events and counter adds (which the abstractions then deduplicate), and a retry of a write that
completed writes nothing at all.

The attempt also keeps a digest of the mutation's whole input: a request with the same key and
another input is not a retry, and is refused with `IdempotencyKeyReused` rather than answered
with the first result.  Attempts stored before digests were kept have none and are honoured as
before.

The namespace is internal: no generic field can read, forge or delete an attempt (that would let
a caller suppress or repeat someone else's write); only `DataGateway.system_kv` reaches it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import unicodedata
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from abstractions.errors import IdempotencyKeyReused, InvalidArgument
from abstractions.gateway import DataGateway
from abstractions.kv import Item
from abstractions.namespaces import KVNamespace, NamespaceConfigError, Namespaces
from abstractions.tokens import IdempotencyToken

NAMESPACE = "idempotency"
RETENTION_SECONDS = 7 * 86400
MAX_KEY_LENGTH = 128
_REFUSED_CATEGORIES = ("Cc", "Cs")  # control characters (C0, DEL, C1) and lone surrogates
DEFAULT_NAMESPACE = KVNamespace(
    name=NAMESPACE, internal=True, default_ttl_seconds=RETENTION_SECONDS
)

# One lock per key while an attempt is looked up and recorded, so that concurrent attempts in this
# process (hedged or impatient retries) find the first one instead of each recording their own.
_beginning: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()


@dataclass(frozen=True, slots=True)
class Attempt:
    """What a mutation with this key did or is doing: its token, its facts, whether it finished,
    and the digest of its input (None for attempts stored before digests were kept)."""

    token: IdempotencyToken
    facts: dict[str, Any]
    done: bool
    digest: str | None = None


class Idempotency:
    """Looks up and records mutation attempts by `(operation, idempotencyKey)`."""

    def __init__(self, gateway: DataGateway) -> None:
        self._gateway = gateway

    async def begin(
        self, operation: str, key: str, input: object, facts: dict[str, Any]
    ) -> Attempt:
        """The earlier attempt with this key, or a new one recorded with `facts`.

        `input` is the mutation's whole client input; an earlier attempt with another input is
        refused (`IdempotencyKeyReused`).  Call this after the input has been checked, so a
        refused request leaves no attempt behind.
        """
        check_key(key)
        digest = input_digest(input)
        record = f"{operation}:{key}"
        async with _beginning.setdefault(record, asyncio.Lock()):
            page = await self._gateway.system_kv.get_items(NAMESPACE, record, keys=[b"attempt"])
            if page.items:
                stored = json.loads(page.items[0].value)
                if stored.get("h") is not None and stored["h"] != digest:
                    raise IdempotencyKeyReused(
                        f"idempotencyKey {key!r} was already used with a different {operation} "
                        "input; send a new key for a new write"
                    )
                token = IdempotencyToken(stored["t"], stored["n"])
                return Attempt(token, stored["f"], stored["d"], stored.get("h"))
            attempt = Attempt(IdempotencyToken.new(), facts, False, digest)
            await self._save(record, attempt)
            return attempt

    async def finish(self, operation: str, key: str, attempt: Attempt) -> None:
        """Mark the attempt complete: later retries return without writing."""
        await self._save(f"{operation}:{key}", dataclasses.replace(attempt, done=True))

    async def _save(self, record: str, attempt: Attempt) -> None:
        stored: dict[str, Any] = {"t": attempt.token.generation_time, "n": attempt.token.nonce,
                                  "f": attempt.facts, "d": attempt.done}
        if attempt.digest is not None:
            stored["h"] = attempt.digest
        await self._gateway.system_kv.put_items(
            NAMESPACE, record, [Item(b"attempt", json.dumps(stored).encode())],
            IdempotencyToken.new(),
        )


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
        return moment.astimezone(UTC).isoformat()
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"cannot digest a {type(value).__name__}")


def with_idempotency_namespace(namespaces: Namespaces) -> Namespaces:
    """`namespaces` with the idempotency namespace: the shipped one unless the file declares it.

    A declared one must be an internal KV namespace, else start-up fails: silently changing what
    an operator wrote would hide the mistake, and leaving it reachable would let callers forge
    or delete attempts.
    """
    declared = next((ns for ns in namespaces.all() if ns.name == NAMESPACE), None)
    if declared is None:
        return namespaces.with_overrides(DEFAULT_NAMESPACE)
    if not isinstance(declared, KVNamespace) or not declared.internal:
        raise NamespaceConfigError(
            f"{namespaces.source}: namespace {NAMESPACE!r} holds the subgraph's idempotency "
            'records: declare it with abstraction = "kv" and internal = true, or leave it out '
            "to get the shipped one"
        )
    return namespaces


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
