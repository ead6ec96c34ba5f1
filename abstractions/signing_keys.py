"""Page-token signing keys kept in the store, so that every process and every restart shares them.

The keys live in the internal KV namespace `signing_keys`, record `page_tokens`, one item per
key: the item key is the key's id (hex), the value `{"secret", "created", "retires"}` as JSON.
Only `DataGateway.system_kv` reaches the namespace.

**The first key, without put-if-absent.** A process that finds no key in service writes a
candidate of its own, under its own id (so no write replaces another), then reads the record back
and signs with the newest key in service it finds.  Two processes starting at once may both
write: both keys then stay valid, each process verifies the other's tokens (a token that names a
key not loaded makes a process reload the keys once), and both sign with the newest after their
next refresh.  So nothing a process signed is lost to the race.  One item written by everyone
under a fixed write token would not promise that on Cassandra: a tie of write timestamps goes to
the larger value, possibly after the loser has signed with its own.  (On SQLite the tie keeps the
first write, which would be exact.)  Once the KV abstraction has put-if-absent, the first key can
be claimed with it in `_create`, and the race leaves one key.

**Rotation** (`rotate`, or `python -m subgraph rotate-token-key`) adds a new key and retires the
others `grace_seconds` later: `retires` is stored with the key (and a TTL, so the store drops it
afterwards).  Every process signs with the new key after its next refresh (`REFRESH_SECONDS`; a
token signed with it reaches a process that has not refreshed yet as an unknown key, which makes
it reload), and accepts tokens of a retired key until its grace ends, then refuses them as
`InvalidPageToken`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time

from .kv import Item, KeyValue
from .namespaces import KVNamespace, Namespaces
from .tokens import IdempotencyToken, PageTokens, SigningKey

NAMESPACE = "signing_keys"
RECORD = "page_tokens"
DEFAULT_NAMESPACE = KVNamespace(name=NAMESPACE, internal=True)
REFRESH_SECONDS = 60.0
ROTATION_GRACE_SECONDS = 86400.0
_TTL_MARGIN_SECONDS = 3600  # a retired key outlives its grace a little, for clock skew

log = logging.getLogger(__name__)


class SigningKeys:
    """Loads the signing keys from the store into `PageTokens`, creates the first, rotates."""

    def __init__(
        self, kv: KeyValue, tokens: PageTokens, *, refresh_seconds: float = REFRESH_SECONDS
    ) -> None:
        self._kv = kv
        self._tokens = tokens
        self._refresh_seconds = refresh_seconds
        self._task: asyncio.Task[None] | None = None
        self._reloading = asyncio.Lock()
        self._loaded_at = -1.0  # time.monotonic() when the last load began

    async def start(self, *, background: bool = True) -> None:
        """Load (or create) the keys; with `background`, reload them every refresh interval."""
        await self.refresh()
        self._tokens.on_unknown_key(self._reload_on_miss)
        if background and self._task is None:
            self._task = asyncio.create_task(self._refresh_loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def load(self) -> list[SigningKey]:
        """The keys in the store, retired ones included."""
        page = await self._kv.get_items(NAMESPACE, RECORD)
        keys = []
        for item in page.items:
            try:
                keys.append(_parse(item.value))
            except (ValueError, KeyError, TypeError):
                log.warning("ignoring a malformed signing key %r", item.key)
        return keys

    async def refresh(self) -> list[SigningKey]:
        """Load the keys (creating one when none is in service) and sign and verify with them."""
        began = time.monotonic()
        keys = await self.load()
        if not any(key.retires is None for key in keys):
            await self._create()
            keys = await self.load()
        self._tokens.install(keys)
        self._loaded_at = began
        return keys

    async def rotate(self, grace_seconds: float = ROTATION_GRACE_SECONDS) -> SigningKey:
        """Put a new key in service; the others are accepted `grace_seconds` more, then refused."""
        if not grace_seconds > 0:
            raise ValueError("the grace period must be greater than 0 seconds")
        keys = await self.load()
        new = SigningKey.new()
        retires = new.created + int(grace_seconds * 1_000_000)
        ttl = int(grace_seconds) + _TTL_MARGIN_SECONDS
        items = [_item(new)] + [
            _item(SigningKey(key.secret, key.created, retires), ttl)
            for key in keys
            if key.retires is None or key.retires > retires
        ]
        await self._kv.put_items(NAMESPACE, RECORD, items, IdempotencyToken.new())
        await self.refresh()
        return new

    async def _create(self) -> None:
        # The race with other processes starting now is explained in the module docstring.
        await self._kv.put_items(
            NAMESPACE, RECORD, [_item(SigningKey.new())], IdempotencyToken.new()
        )

    async def _reload_on_miss(self) -> None:
        """Reload unless a load that began after this miss has already run: concurrent misses
        (or a flood of forged key ids) share one load at a time."""
        asked = time.monotonic()
        async with self._reloading:
            if self._loaded_at >= asked:
                return
            await self.refresh()

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_seconds)
            try:
                await self.refresh()
            except Exception:
                log.warning("could not reload the page-token signing keys; keeping the loaded "
                            "ones", exc_info=True)


def with_signing_keys_namespace(namespaces: Namespaces) -> Namespaces:
    """`namespaces` with the signing-keys namespace (internal: a caller who could read it
    could sign any page token)."""
    return namespaces.with_internal_kv(DEFAULT_NAMESPACE, "the keys that sign page tokens")


def _item(key: SigningKey, ttl_seconds: int | None = None) -> Item:
    value = {"secret": base64.b64encode(key.secret).decode("ascii"), "created": key.created,
             "retires": key.retires}
    return Item(key.id.hex().encode("ascii"), json.dumps(value).encode(), ttl_seconds)


def _parse(raw: bytes) -> SigningKey:
    value = json.loads(raw)
    retires = value["retires"]
    if retires is not None and not isinstance(retires, int):
        raise TypeError("retires")
    return SigningKey(base64.b64decode(value["secret"], validate=True), int(value["created"]),
                      retires)

