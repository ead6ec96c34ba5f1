"""`ClusterIndex`: the `SearchIndex` on a search cluster, OpenSearch or Elasticsearch.

The request bodies come from `bodies` (the Elasticsearch API, which OpenSearch kept); this
module sends them, applies a deadline to every call and translates what the client raises
(`errors`).  What differs between the engines is only the wiring, in a subclass each:
`opensearch_index.OpenSearchIndex` (opensearch-py) and `elasticsearch_index.ElasticsearchIndex`
(the official `elasticsearch` client) make the client, say what its errors amount to, and turn
its responses into plain JSON.  The index holds no state a restart loses: the template of a
namespace is put again by the first write of each process.

An error is never an empty (or short) answer.  A search names the slice indices of its interval
and skips those that do not exist (`ignore_unavailable`): a slice's index is made by the first
event indexed into it (the namespace's template), so a slice without an index has no event,
and which indices exist is the cluster state the elected master publishes, not one node's view
of it (unlike a Cassandra coordinator's schema).  What the cluster answers 200 with although it
is not the whole answer (hits from only the shards that answered, or a search that timed out)
is an error here: `StoreUnavailable` / `StoreTimeout`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from backends.base import (
    Condition,
    EventQuery,
    FieldType,
    StoredEvent,
    StoreTimeout,
    StoreUnavailable,
    TimeSeriesLayout,
)

from . import bodies
from .config import SearchConfig
from .errors import Failure, bulk_error, shards_starting, translate

DELETE_BATCH = 50  # index names per delete request, to keep its URL short
BULK_BYTES = 8 * 1024 * 1024  # about this much JSON per bulk request (the node takes 100 MiB)
_WILDCARD_OPTIONS = {"ignore_unavailable": True, "allow_no_indices": True}
SHARD_START_ATTEMPTS = 7  # 20 ms doubling: about 1.3 s of waiting at most


class ClusterIndex:
    """Events of TimeSeries namespaces indexed in a search cluster, one index per namespace per
    slice.  A subclass per engine supplies `_connect`, `_failure` and `_plain`."""

    backend = "search"  # the `backend` label of store-call metrics and spans
    engine = "search cluster"  # the engine's name in error messages

    def __init__(self, config: SearchConfig) -> None:
        self.config = config
        self._client: Any = None
        self._templates: set[tuple[object, ...]] = set()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"

    # --- the engine's wiring ----------------------------------------------------------------

    def _connect(self) -> Any:
        """The engine's asyncio client for `self.config` (sends nothing)."""
        raise NotImplementedError

    def _failure(self, exc: BaseException) -> Failure | None:
        """What `exc` amounts to if the client (or the wire) raised it, else None (a
        `TimeoutError` never gets here: it is a timeout whoever raised it)."""
        raise NotImplementedError

    def _plain(self, response: Any) -> Any:
        """A response as plain JSON data (dicts and lists)."""
        return response

    # --- lifecycle --------------------------------------------------------------------------

    async def open(self) -> None:
        """Create the client; nothing is sent, so a cluster that is down fails calls, not this."""
        if self._client is None:
            self._client = self._connect()
        self._templates.clear()

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def ping(self) -> None:
        """Raise `StoreError` when the cluster does not answer."""
        await self._call("cluster health", lambda c: c.cluster.health())

    # --- SearchIndex ------------------------------------------------------------------------

    async def index_events(
        self,
        namespace: str,
        layout: TimeSeriesLayout,
        fields: Mapping[str, FieldType],
        events: Sequence[StoredEvent],
        *,
        refresh_seconds: float = 1.0,
    ) -> None:
        if not events:
            return
        await self._ensure_template(namespace, fields, refresh_seconds)
        for chunk in _chunks(events, BULK_BYTES):
            actions = bodies.bulk_body(self.config.prefix, namespace, layout, fields, chunk)
            response = await self._call("bulk index", lambda c, a=actions: c.bulk(body=a))
            failures = bodies.bulk_failures(response)
            if failures:
                raise bulk_error(self.engine, "bulk index", failures)

    async def search(
        self,
        namespace: str,
        layout: TimeSeriesLayout,
        fields: Mapping[str, FieldType],
        conditions: Sequence[Condition],
        query: EventQuery,
    ) -> list[StoredEvent]:
        target = bodies.search_target(self.config.prefix, namespace, layout, query.start, query.end)
        body = bodies.search_body(fields, conditions, query)
        response = await self._search("search", target, body)
        return [bodies.event_from_hit(hit) for hit in response["hits"]["hits"]]

    async def distinct(
        self,
        namespace: str,
        layout: TimeSeriesLayout,
        fields: Mapping[str, FieldType],
        key: str,
        conditions: Sequence[Condition],
        query: EventQuery,
    ) -> list[tuple[bytes, int]]:
        target = bodies.search_target(self.config.prefix, namespace, layout, query.start, query.end)
        body = bodies.distinct_body(fields, key, conditions, query)
        response = await self._search("distinct", target, body)
        return bodies.distinct_values(response)

    async def drop_slices_before(
        self, namespace: str, layout: TimeSeriesLayout, cutoff_seconds: int
    ) -> list[int]:
        doomed = [
            start for start in await self.slices(namespace)
            if start + layout.seconds_per_slice <= cutoff_seconds
        ]
        await self.delete_slices(namespace, doomed)
        return doomed

    # --- administration (reindex, tests) ----------------------------------------------------

    async def slices(self, namespace: str) -> list[int]:
        """Starts of the slices that have an index, ascending."""
        pattern = bodies.index_pattern(self.config.prefix, namespace)
        rows = await self._call(
            "list slices",
            lambda c: c.cat.indices(index=pattern, format="json", h="index",
                                    expand_wildcards="all"),
        )
        starts = (bodies.slice_of_index(self.config.prefix, namespace, r["index"]) for r in rows)
        return sorted(s for s in starts if s is not None)

    async def delete_slices(self, namespace: str, starts: Sequence[int]) -> None:
        """Delete the indices of these slices (those that exist).

        By name, never by a wildcard: Elasticsearch (since 8.0) refuses a wildcard delete by
        default (`action.destructive_requires_name`); OpenSearch 2.19 still allows one.
        """
        names = [bodies.index_name(self.config.prefix, namespace, s) for s in starts]
        for offset in range(0, len(names), DELETE_BATCH):
            batch = ",".join(names[offset:offset + DELETE_BATCH])
            await self._call(
                "delete slices",
                lambda c, batch=batch: c.indices.delete(index=batch, ignore_unavailable=True),
            )

    async def refresh(self, namespace: str) -> None:
        """Make every write so far searchable now, instead of at the next refresh interval."""
        pattern = bodies.index_pattern(self.config.prefix, namespace)
        await self._call("refresh", lambda c: c.indices.refresh(index=pattern, **_WILDCARD_OPTIONS))

    # --- helpers ----------------------------------------------------------------------------

    async def _ensure_template(
        self, namespace: str, fields: Mapping[str, FieldType], refresh_seconds: float
    ) -> None:
        """Put the namespace's template (once per process and settings) before a first write.

        Keys declared since an index was created are added to it too, so a reindex fills them.
        """
        key = (namespace, tuple(sorted(fields.items())), refresh_seconds)
        if key in self._templates:
            return
        cfg = self.config
        template = bodies.index_template(
            cfg.prefix, namespace, fields, refresh_seconds=refresh_seconds,
            shards=cfg.shards, replicas=cfg.replicas,
        )
        name = bodies.template_name(cfg.prefix, namespace)
        await self._call(
            "put template", lambda c: c.indices.put_index_template(name=name, body=template)
        )
        pattern = bodies.index_pattern(cfg.prefix, namespace)
        added = bodies.added_mappings(fields)
        await self._call(
            "put mapping",
            lambda c: c.indices.put_mapping(index=pattern, body=added, **_WILDCARD_OPTIONS),
        )
        self._templates.add(key)

    async def _search(self, what: str, target: str, body: dict[str, Any]) -> Any:
        """A search; asked again briefly while a just-created slice index starts its shards.

        A search that names an index whose primary is still being allocated (the first write
        of a new slice, racing this read) fails whole with 503 "all shards failed" and no
        failed shard; that clears within milliseconds, so it is not an outage.
        """
        pause = 0.02
        for _ in range(SHARD_START_ATTEMPTS - 1):
            try:
                return self._whole(what, await self._call(
                    what, lambda c: c.search(index=target, body=body, **_WILDCARD_OPTIONS)
                ))
            except StoreUnavailable as exc:
                cause = exc.__cause__
                if cause is None or not shards_starting(self._failure(cause)):
                    raise
            await asyncio.sleep(pause)
            pause *= 2
        return self._whole(what, await self._call(
            what, lambda c: c.search(index=target, body=body, **_WILDCARD_OPTIONS)
        ))

    async def _call(self, what: str, request: Callable[[Any], Awaitable[Any]]) -> Any:
        """`request(client)` within the deadline, as plain JSON, with client errors as
        `StoreError`s."""
        client = self._client
        if client is None:
            raise StoreUnavailable(f"{self.engine} {what}: the search index is not open")
        # The client's own timeout bounds each attempt; this bounds the attempts together.
        deadline = self.config.timeout * len(self.config.hosts) + 1.0
        try:
            async with asyncio.timeout(deadline):
                return self._plain(await request(client))
        except Exception as exc:
            # Our own deadline (or one a client raised as the builtin) is a timeout for both.
            failure = Failure(timed_out=True) if isinstance(exc, TimeoutError) else (
                self._failure(exc)
            )
            if failure is not None:
                raise translate(self.engine, what, exc, failure) from exc
            raise

    def _whole(self, what: str, response: Any) -> Any:
        """The search response if it covers every shard searched, else the error it stands for.

        Both engines answer 200 with the hits of the shards that answered when others failed
        (a red index, a node gone: `_shards.failed`), and with what they had when the search
        timed out (`timed_out`): neither is the answer, so neither is returned as one.
        """
        if not isinstance(response, dict):
            return response
        shards = response.get("_shards") or {}
        failed = shards.get("failed") or 0
        if failed:
            failures = shards.get("failures") or [{}]
            reason = failures[0].get("reason", "") if isinstance(failures[0], dict) else ""
            raise StoreUnavailable(
                f"{self.engine} {what}: {failed} of {shards.get('total', '?')} shards failed: "
                f"{reason}"[:500]
            )
        if response.get("timed_out"):
            raise StoreTimeout(
                f"{self.engine} {what}: the search timed out with partial results"
            )
        return response


def _chunks(events: Sequence[StoredEvent], limit: int) -> list[Sequence[StoredEvent]]:
    """Events in runs whose documents come to about `limit` bytes of JSON each (at least one)."""
    chunks: list[Sequence[StoredEvent]] = []
    start = size = 0
    for i, event in enumerate(events):
        # base64 in `items`, up to 6 JSON bytes a byte in `kw`, and the fixed fields
        cost = 300 + sum(3 * len(k) + 8 * len(v) for k, v in event.items.items())
        if size and size + cost > limit:
            chunks.append(events[start:i])
            start, size = i, 0
        size += cost
    chunks.append(events[start:])
    return chunks
