"""Idempotency keys for mutations: the first attempt's token is reused by every retry.

A client sends one `idempotencyKey` per logical write.  The key maps (in the KV namespace
`idempotency`) to the token and facts of the first attempt, so a retry writes the very same
events and counter adds (which the abstractions then deduplicate), and a retry of a write that
completed writes nothing at all.

The namespace is internal: no generic field can read, forge or delete an attempt (that would let
a caller suppress or repeat someone else's write); only `DataGateway.system_kv` reaches it.
"""

from __future__ import annotations

import asyncio
import json
import unicodedata
import weakref
from dataclasses import dataclass
from typing import Any

from abstractions.errors import InvalidArgument
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
    """What a mutation with this key did or is doing: its token, its facts, whether it finished."""

    token: IdempotencyToken
    facts: dict[str, Any]
    done: bool


class Idempotency:
    """Looks up and records mutation attempts by `(operation, idempotencyKey)`."""

    def __init__(self, gateway: DataGateway) -> None:
        self._gateway = gateway

    async def begin(self, operation: str, key: str, facts: dict[str, Any]) -> Attempt:
        """The earlier attempt with this key, or a new one recorded with `facts`."""
        _check(key)
        record = f"{operation}:{key}"
        async with _beginning.setdefault(record, asyncio.Lock()):
            page = await self._gateway.system_kv.get_items(NAMESPACE, record, keys=[b"attempt"])
            if page.items:
                stored = json.loads(page.items[0].value)
                token = IdempotencyToken(stored["t"], stored["n"])
                return Attempt(token, stored["f"], stored["d"])
            attempt = Attempt(IdempotencyToken.new(), facts, False)
            await self._save(record, attempt)
            return attempt

    async def finish(self, operation: str, key: str, attempt: Attempt) -> None:
        """Mark the attempt complete: later retries return without writing."""
        await self._save(f"{operation}:{key}", Attempt(attempt.token, attempt.facts, True))

    async def _save(self, record: str, attempt: Attempt) -> None:
        body = json.dumps(
            {"t": attempt.token.generation_time, "n": attempt.token.nonce,
             "f": attempt.facts, "d": attempt.done}
        ).encode()
        await self._gateway.system_kv.put_items(
            NAMESPACE, record, [Item(b"attempt", body)], IdempotencyToken.new()
        )


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


def _check(key: str) -> None:
    """A key is 1 to 128 characters, not all blank, with no control characters: a blank key is
    almost surely a client bug that would make unrelated writes share one attempt, and control
    characters (and lone surrogates) would not survive logs and stores intact."""
    if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY_LENGTH:
        raise InvalidArgument(f"idempotencyKey must be 1 to {MAX_KEY_LENGTH} characters")
    if key.isspace():
        raise InvalidArgument("idempotencyKey must not be blank")
    if any(unicodedata.category(c) in _REFUSED_CATEGORIES for c in key):
        raise InvalidArgument("idempotencyKey must not contain control characters")
