"""memcached as the cache engine, through emcache (an asyncio client with a C parser).

Why emcache: maintained (releases through 2026), every command we need (get_many, gets/cas,
add, incr/decr, touch, flush_all), a timeout per operation and a protocol parser that cannot
spin.  aiomcache was tried first: its reply loop (`readline` until CRLF) spins forever on a
connection the server closed mid-reply, which a killed node does, and no timeout can stop a
loop that never yields.  emcache's own cluster is not used: one client per node, our ring and
our mark-down (below), since a down node's keys must not move to another node.

`memcached://h1:11211,h2:11211` names the nodes; a key goes to the node its route hashes to
on a ring of virtual points (consistent hashing, ketama-style: adding a node moves about 1/N
of the routes).  A node that is down is never replaced by another for its routes: its keys
fall through to the store until it is back.  Remapping would let a node serve what it kept
from an earlier time it owned a route, missing the invalidations made meanwhile elsewhere.

Mark-down (the `CacheEngine` promise): any failure of an operation on a node (refused, reset,
no answer within `timeout`, an error reply) closes that node's connections and marks it down;
operations on it then raise `CacheError` at once.  After `retry_seconds` the next operation
probes it (one probe at a time): a fresh connection, `flush_all`, and the node is up again,
empty.  The flush is what makes a failed invalidation safe: whatever this process could not
invalidate is gone before this process reads the node again.  A connection that timed out is
never reused (its reply could come later and be read as another command's): the node's
client is closed with it.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import hashlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

from backends.base import CacheError, CacheKey

DEFAULT_PORT = 11211
POINTS_PER_NODE = 160
BATCH_KEYS = 64  # a batch takes no more joiners past this many keys
CLOSE_SECONDS = 0.5  # closing a dead node's connections must not hold the request that saw it
T = TypeVar("T")


def parse_nodes(url: str) -> list[tuple[str, int]]:
    """`memcached://h1:11211,h2` -> [("h1", 11211), ("h2", 11211)]."""
    parts = urlsplit(url)
    if parts.scheme != "memcached":
        raise ValueError(f"cache URL must start with memcached://, not {parts.scheme!r}")
    nodes: list[tuple[str, int]] = []
    for item in filter(None, parts.netloc.split(",")):
        host, _, port = item.rpartition(":") if ":" in item else (item, "", "")
        if not host or (port and not port.isdigit()):
            raise ValueError(f"cache URL node {item!r} must be host or host:port")
        nodes.append((host, int(port) if port else DEFAULT_PORT))
    if not nodes:
        raise ValueError("cache URL names no node: memcached://host:11211[,host:port...]")
    if len(set(nodes)) != len(nodes):
        raise ValueError("cache URL names a node twice")
    return nodes


class Ring:
    """Routes to nodes by consistent hashing over `POINTS_PER_NODE` points per node."""

    def __init__(self, nodes: Sequence[str]) -> None:
        points: list[tuple[int, int]] = []
        for index, node in enumerate(nodes):
            for replica in range(POINTS_PER_NODE // 4):
                digest = hashlib.md5(f"{node}-{replica}".encode()).digest()
                for i in range(4):  # four points per digest, as ketama does
                    points.append((int.from_bytes(digest[4 * i:4 * i + 4], "little"), index))
        points.sort()
        self._hashes = [h for h, _ in points]
        self._nodes = [n for _, n in points]

    def node(self, route: str) -> int:
        if len(self._nodes) == POINTS_PER_NODE:  # one node: nothing to choose
            return self._nodes[0]
        h = int.from_bytes(hashlib.md5(route.encode()).digest()[:4], "little")
        at = bisect.bisect(self._hashes, h) % len(self._hashes)
        return self._nodes[at]


@dataclass
class _Node:
    host: str
    port: int
    client: Any = None  # an emcache client while up
    down: bool = False
    retry_at: float = 0.0
    probing: asyncio.Lock = field(default_factory=asyncio.Lock)
    evictions: int = 0

    @property
    def name(self) -> str:
        return f"{self.host}:{self.port}"


class _Batch:
    """Reads that go out together: the first of a loop iteration leads, yields once so the
    others of that iteration add their keys, then sends one `get` per node and hands each
    follower the answer.  Under load a hot record's readers share one round trip; alone, a
    read pays one loop iteration.  A leader cancelled (its request's deadline) fails the batch
    for its followers, who then read the store, as on any cache failure."""

    __slots__ = ("keys", "waiters")

    def __init__(self) -> None:
        self.keys: dict[CacheKey, None] = {}
        self.waiters: list[tuple[Sequence[CacheKey], asyncio.Future[Any]]] = []

    def join(self, keys: Sequence[CacheKey]) -> asyncio.Future[Any]:
        self.keys.update(dict.fromkeys(keys))
        waiter = asyncio.get_running_loop().create_future()
        self.waiters.append((keys, waiter))
        return waiter

    def answer(self, found: dict[CacheKey, bytes], failed: set[str]) -> None:
        for _, waiter in self.waiters:
            if not waiter.done():  # a follower cancelled meanwhile
                waiter.set_result((found, failed))

    def fail(self) -> None:
        for keys, waiter in self.waiters:
            if not waiter.done():
                waiter.set_result(({}, {key.route for key in keys}))


class MemcachedCache:
    """A memcached cluster: consistent hashing, a timeout per operation, mark-down."""

    backend = "memcached"

    def __init__(
        self,
        nodes: Sequence[tuple[str, int]],
        *,
        timeout: float = 0.1,
        retry_seconds: float = 1.0,
        max_connections: int = 8,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._nodes = [_Node(host, port) for host, port in nodes]
        self._ring = Ring([n.name for n in self._nodes])
        self.timeout = timeout
        self.retry_seconds = retry_seconds
        self._max_connections = max_connections
        self._clock = clock
        self._started = False
        self._open: _Batch | None = None  # the reads of this loop iteration, not sent yet

    @classmethod
    def from_url(cls, url: str, **options: float) -> MemcachedCache:
        return cls(parse_nodes(url), **options)  # type: ignore[arg-type]

    @property
    def nodes(self) -> list[str]:
        return [n.name for n in self._nodes]

    def node_of(self, route: str) -> str:
        return self._nodes[self._ring.node(route)].name

    def down_nodes(self) -> list[str]:
        return [n.name for n in self._nodes if n.down]

    # --- the CacheEngine interface --------------------------------------------------------

    async def get_many(self, keys: Sequence[CacheKey]) -> tuple[dict[CacheKey, bytes], set[str]]:
        """Joins the reads of this loop iteration: their keys go out as one `get` per node (see
        `_Batch`).  Every key is asked after the call began, so a read still sees every write
        that returned before it."""
        batch = self._open
        if batch is not None and len(batch.keys) < BATCH_KEYS:
            found, failed = await batch.join(keys)
            return _own(keys, found, failed)
        batch = self._open = _Batch()
        batch.keys.update(dict.fromkeys(keys))
        try:
            try:
                await asyncio.sleep(0)  # the other reads of this iteration join
            finally:
                if self._open is batch:
                    self._open = None
            found, failed = await self._fetch(list(batch.keys))
        except BaseException:
            batch.fail()  # the leader cancelled: those who joined read the store instead
            raise
        if not batch.waiters:
            return found, failed
        batch.answer(found, failed)
        return _own(keys, found, failed)

    async def _fetch(self, keys: list[CacheKey]) -> tuple[dict[CacheKey, bytes], set[str]]:
        """`keys` from their nodes: one `get` per node, the nodes at once."""
        by_node: dict[int, list[CacheKey]] = {}
        for key in keys:
            by_node.setdefault(self._ring.node(key.route), []).append(key)
        if len(by_node) == 1:  # a record's keys (one route): no task for one call
            (index, batch), = by_node.items()
            results = [await self._get_node(index, batch)]
        else:
            results = await asyncio.gather(
                *(self._get_node(index, batch) for index, batch in by_node.items())
            )
        found: dict[CacheKey, bytes] = {}
        failed: set[str] = set()
        for batch, values in zip(by_node.values(), results, strict=True):
            if values is None:
                failed.update(key.route for key in batch)
                continue
            for key in batch:
                item = values.get(key.name.encode())
                if item is not None:
                    found[key] = item.value
        return found, failed

    async def set(self, key: CacheKey, value: bytes, ttl: int) -> None:
        await self._run(key.route, lambda c: c.set(key.name.encode(), value, exptime=ttl))

    async def add(self, key: CacheKey, value: bytes, ttl: int) -> bool:
        async def op(c: Any) -> bool:
            try:
                await c.add(key.name.encode(), value, exptime=ttl)
            except self._errors.NotStoredStorageCommandError:
                return False
            return True

        return await self._run(key.route, op)

    async def gets(self, key: CacheKey) -> tuple[bytes, int] | None:
        item = await self._run(key.route, lambda c: c.gets(key.name.encode()))
        return None if item is None or item.cas is None else (item.value, item.cas)

    async def cas(self, key: CacheKey, value: bytes, token: int, ttl: int) -> bool:
        async def op(c: Any) -> bool:
            try:
                await c.cas(key.name.encode(), value, token, exptime=ttl)
            except self._errors.StorageCommandError:  # EXISTS (changed) or NOT_FOUND (gone)
                return False
            return True

        return await self._run(key.route, op)

    async def incr(self, key: CacheKey, delta: int, initial: int, ttl: int) -> int:
        name = key.name.encode()

        async def step(c: Any) -> int | None:
            try:
                if delta >= 0:
                    return await c.increment(name, delta)
                return await c.decrement(name, -delta)
            except self._errors.NotFoundCommandError:
                return None

        for _ in range(3):
            value = await self._run(key.route, step)
            if value is not None:
                return value
            start = max(0, initial + delta)
            if await self.add(key, str(start).encode(), ttl):
                return start
        raise CacheError("counter kept disappearing")  # evicted between add and incr, thrice

    async def get_counter(self, key: CacheKey) -> int | None:
        item = await self._run(key.route, lambda c: c.get(key.name.encode()))
        return None if item is None else int(item.value)

    async def delete(self, key: CacheKey) -> None:
        async def op(c: Any) -> None:
            with contextlib.suppress(self._errors.NotFoundCommandError):
                await c.delete(key.name.encode())

        await self._run(key.route, op)

    def evictions(self) -> dict[str, int]:
        return {"": sum(n.evictions for n in self._nodes)}

    async def refresh_stats(self) -> None:
        """Read each live node's eviction count (for /metrics): `stats` on a connection of its
        own (emcache has no stats command)."""
        for node in self._nodes:
            if node.down:
                continue
            with contextlib.suppress(Exception):
                async with asyncio.timeout(max(self.timeout, 0.5)):
                    node.evictions = await _stat(node.host, node.port, b"evictions")

    async def close(self) -> None:
        for node in self._nodes:
            await self._drop(node)

    # --- helpers --------------------------------------------------------------------------

    @property
    def _errors(self) -> Any:
        import emcache

        return emcache

    async def _client(self, node: _Node) -> Any:
        try:
            import emcache
        except ImportError as exc:  # pragma: no cover - a dependency of the project
            raise CacheError("the memcached cache needs emcache: pip install emcache") from exc
        return await emcache.create_client(
            [emcache.MemcachedHostAddress(node.host, node.port)],
            timeout=None,  # ours, around each operation (below)
            connection_timeout=self.timeout,
            max_connections=self._max_connections,
            min_connections=1,
            purge_unhealthy_nodes=False,
        )

    async def _get_node(self, index: int, keys: list[CacheKey]) -> dict[bytes, Any] | None:
        names = [key.name.encode() for key in keys]
        try:
            return await self._on(index, lambda c: c.get_many(names))
        except CacheError:
            return None

    async def _run(self, route: str, op: Callable[[Any], Awaitable[T]]) -> T:
        return await self._on(self._ring.node(route), op)

    async def _on(self, index: int, op: Callable[[Any], Awaitable[T]]) -> T:
        node = self._nodes[index]
        if node.down or node.client is None:
            await self._probe(node)
        client = node.client
        if client is None:
            raise CacheError(f"cache node {node.name} is down")
        try:
            async with asyncio.timeout(self.timeout):
                return await op(client)
        except Exception as exc:  # refused, reset, timed out, an error reply: all mark down
            await self._mark_down(node, client)
            raise CacheError(f"cache node {node.name} failed: {type(exc).__name__}") from exc

    async def _mark_down(self, node: _Node, client: Any) -> None:
        if node.client is client:  # not already replaced by a probe that succeeded meanwhile
            node.down = True
            node.retry_at = self._clock() + self.retry_seconds
            await self._drop(node)

    async def _probe(self, node: _Node) -> None:
        """Connect to a node (first use), or bring a down node back flushed; else raise
        `CacheError` at once."""
        if node.probing.locked() and not node.down:  # the first connection: wait for it
            async with node.probing:
                pass
            if node.client is None:
                raise CacheError(f"cache node {node.name} is down")
            return
        if self._clock() < node.retry_at or node.probing.locked():
            raise CacheError(f"cache node {node.name} is down")
        async with node.probing:
            if node.client is not None and not node.down:
                return
            client = None
            try:
                async with asyncio.timeout(max(self.timeout, 0.5)):
                    client = await self._client(node)
                    if node.down:  # what this process may have failed to invalidate: gone
                        import emcache

                        await client.flush_all(emcache.MemcachedHostAddress(node.host, node.port))
            except Exception as exc:
                node.down = True
                node.retry_at = self._clock() + self.retry_seconds
                if client is not None:
                    await _close(client)
                raise CacheError(f"cache node {node.name} is down") from exc
            node.client = client
            node.down = False

    async def _drop(self, node: _Node) -> None:
        client, node.client = node.client, None
        if client is not None:
            await _close(client)


def _own(
    keys: Sequence[CacheKey], found: dict[CacheKey, bytes], failed: set[str]
) -> tuple[dict[CacheKey, bytes], set[str]]:
    """One reader's part of a batch's answer: its keys, its routes that failed."""
    mine = {key: found[key] for key in keys if key in found}
    return mine, {key.route for key in keys if key.route in failed} if failed else failed


async def _stat(host: str, port: int, name: bytes) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(b"stats\r\n")
        await writer.drain()
        while True:
            line = await reader.readline()
            if not line or line.startswith(b"END"):
                return 0
            parts = line.split()
            if len(parts) == 3 and parts[1] == name:
                return int(parts[2])
    finally:
        writer.close()


async def _close(client: object) -> None:
    with contextlib.suppress(Exception):  # a broken connection may fail to close: dropped
        async with asyncio.timeout(CLOSE_SECONDS):
            await client.close()  # type: ignore[attr-defined]
