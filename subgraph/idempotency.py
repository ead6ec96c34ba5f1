"""Idempotency keys for mutations: the first attempt's token is reused by every retry.

A client sends one `idempotencyKey` per logical write.  The key maps (in the KV namespace
`idempotency`) to the token and facts of the first attempt, so a retry writes the very same
events and counter adds (which the abstractions then deduplicate), and a retry of a write that
completed writes nothing at all.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from dataclasses import dataclass
from typing import Any

from abstractions.errors import InvalidArgument
from abstractions.gateway import DataGateway
from abstractions.kv import Item
from abstractions.namespaces import KVNamespace
from abstractions.tokens import IdempotencyToken

NAMESPACE = "idempotency"
RETENTION_SECONDS = 7 * 86400
MAX_KEY_LENGTH = 128
DEFAULT_NAMESPACE = KVNamespace(name=NAMESPACE, default_ttl_seconds=RETENTION_SECONDS)

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
            page = await self._gateway.kv.get_items(NAMESPACE, record, keys=[b"attempt"])
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
        await self._gateway.kv.put_items(
            NAMESPACE, record, [Item(b"attempt", body)], IdempotencyToken.new()
        )


def _check(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidArgument(f"idempotencyKey must be 1 to {MAX_KEY_LENGTH} characters")
