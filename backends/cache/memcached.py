"""memcached as the cache engine, through aiomcache (aio-libs' asyncio client).

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
never reused (its reply could come later and be read as another command's).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import hashlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urlsplit

from backends.base import CacheError, CacheKey

DEFAULT_PORT = 11211
POINTS_PER_NODE = 160
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
        h = int.from_bytes(hashlib.md5(route.encode()).digest()[:4], "little")
        at = bisect.bisect(self._hashes, h) % len(self._hashes)
        return self._nodes[at]


@dataclass
class _Node:
    host: str
    port: int
    client: object | None = None  # aiomcache.Client while up
    down: bool = False
    retry_at: float = 0.0
    probing: asyncio.Lock = field(default_factory=asyncio.Lock)
    evictions: int = 0

    @property
    def name(self) -> str:
        return f"{self.host}:{self.port}"


class MemcachedCache:
    """A memcached cluster: consistent hashing, a timeout per operation, mark-down."""

    backend = "memcached"

    def __init__(
        self,
        nodes: Sequence[tuple[str, int]],
        *,
        timeout: float = 0.1,
        retry_seconds: float = 1.0,
        pool_size: int = 4,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        try:
            import aiomcache
        except ImportError as exc:  # pragma: no cover - a dependency of the project
            raise ValueError("the memcached cache needs aiomcache: pip install aiomcache") from exc
        self._aiomcache = aiomcache
        self._nodes = [_Node(host, port) for host, port in nodes]
        self._ring = Ring([n.name for n in self._nodes])
        self.timeout = timeout
        self.retry_seconds = retry_seconds
        self._pool_size = pool_size
        self._clock = clock
        for node in self._nodes:
            node.client = self._client(node)

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
        by_node: dict[int, list[CacheKey]] = {}
        for key in dict.fromkeys(keys):
            by_node.setdefault(self._ring.node(key.route), []).append(key)
        results = await asyncio.gather(
            *(self._get_node(index, batch) for index, batch in by_node.items())
        )
        found: dict[CacheKey, bytes] = {}
        failed: set[str] = set()
        for batch, values in zip(by_node.values(), results, strict=True):
            if values is None:
                failed.update(key.route for key in batch)
                continue
            for key, value in zip(batch, values, strict=True):
                if value is not None:
                    found[key] = value
        return found, failed

    async def set(self, key: CacheKey, value: bytes, ttl: int) -> None:
        async def op(c: object) -> None:
            if not await c.set(key.name.encode(), value, exptime=ttl):  # type: ignore[attr-defined]
                raise CacheError("set was not stored")  # the node is marked down: see _on

        await self._run(key.route, op)

    async def gets(self, key: CacheKey) -> tuple[bytes, int] | None:
        value, token = await self._run(key.route, lambda c: c.gets(key.name.encode()))
        return None if value is None or token is None else (value, token)

    async def cas(self, key: CacheKey, value: bytes, token: int, ttl: int) -> bool:
        return bool(await self._run(
            key.route, lambda c: c.cas(key.name.encode(), value, token, exptime=ttl)
        ))

    async def add(self, key: CacheKey, value: bytes, ttl: int) -> bool:
        return bool(
            await self._run(key.route, lambda c: c.add(key.name.encode(), value, exptime=ttl))
        )

    async def incr(self, key: CacheKey, delta: int, initial: int, ttl: int) -> int:
        name = key.name.encode()

        async def step(c: object) -> int | None:
            command = b"incr" if delta >= 0 else b"decr"
            return await _incr_decr(c, command, name, abs(delta))

        for _ in range(3):
            value = await self._run(key.route, step)
            if value is not None:
                return value
            start = max(0, initial + delta)
            created = await self._run(
                key.route, lambda c, s=start: c.add(name, str(s).encode(), exptime=ttl)
            )
            if created:
                return start
        raise CacheError("counter kept disappearing")  # evicted between add and incr, thrice

    async def get_counter(self, key: CacheKey) -> int | None:
        value = await self._run(key.route, lambda c: c.get(key.name.encode()))
        return None if value is None else int(value)

    async def delete(self, key: CacheKey) -> None:
        await self._run(key.route, lambda c: c.delete(key.name.encode()))

    def evictions(self) -> dict[str, int]:
        return {"": sum(n.evictions for n in self._nodes)}

    async def refresh_stats(self) -> None:
        """Read each live node's eviction count (for /metrics)."""
        for index, node in enumerate(self._nodes):
            if node.down:
                continue
            try:
                stats = await self._on(index, lambda c: c.stats())
            except CacheError:
                continue
            node.evictions = int(stats.get(b"evictions", 0))

    async def close(self) -> None:
        for node in self._nodes:
            await self._drop(node)

    # --- helpers --------------------------------------------------------------------------

    def _client(self, node: _Node) -> object:
        return self._aiomcache.Client(node.host, node.port, pool_size=self._pool_size)

    async def _get_node(self, index: int, keys: list[CacheKey]) -> tuple[bytes | None, ...] | None:
        names = [key.name.encode() for key in keys]
        try:
            return await self._on(index, lambda c: c.multi_get(*names))
        except CacheError:
            return None

    async def _run(self, route: str, op: Callable[[object], Awaitable[T]]) -> T:
        return await self._on(self._ring.node(route), op)

    async def _on(self, index: int, op: Callable[[object], Awaitable[T]]) -> T:
        node = self._nodes[index]
        if node.down:
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

    async def _mark_down(self, node: _Node, client: object) -> None:
        if node.client is client:  # not already replaced by a probe that succeeded meanwhile
            node.down = True
            node.retry_at = self._clock() + self.retry_seconds
            await self._drop(node)

    async def _probe(self, node: _Node) -> None:
        """Bring a down node back (a fresh client, flushed) or raise `CacheError` at once."""
        if self._clock() < node.retry_at or node.probing.locked():
            raise CacheError(f"cache node {node.name} is down")
        async with node.probing:
            if not node.down:
                return
            client = self._client(node)
            try:
                async with asyncio.timeout(max(self.timeout, 0.5)):
                    await client.flush_all()  # type: ignore[attr-defined]
            except Exception as exc:
                node.retry_at = self._clock() + self.retry_seconds
                await _close(client)
                raise CacheError(f"cache node {node.name} is still down") from exc
            node.client = client
            node.down = False

    async def _drop(self, node: _Node) -> None:
        client, node.client = node.client, None
        if client is not None:
            await _close(client)


async def _incr_decr(client: object, command: bytes, name: bytes, delta: int) -> int | None:
    """`incr`/`decr`, None when the key is missing.  Not aiomcache's `incr`: it answers a
    missing key with an exception that also breaks the pooled connection it used (aiomcache
    0.8, hence the pin below 0.9), and a missing counter is ordinary (evicted, expired)."""
    pool = client._pool  # type: ignore[attr-defined]
    conn = await pool.acquire()
    try:
        resp = await client._execute_simple_command(  # type: ignore[attr-defined]
            conn, b"%s %s %d\r\n" % (command, name, delta)
        )
    except BaseException as exc:
        conn[0].set_exception(exc if isinstance(exc, Exception) else CacheError("cancelled"))
        raise
    finally:
        pool.release(conn)
    if resp == b"NOT_FOUND":
        return None
    if not resp.isdigit():
        raise CacheError(f"{command.decode()} answered {bytes(resp[:40])!r}")
    return int(resp)


async def _close(client: object) -> None:
    with contextlib.suppress(Exception):  # a broken connection may fail to close: dropped
        await client.close()  # type: ignore[attr-defined]
